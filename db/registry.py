"""Rigs, their calibrations, and the events log (mixed into :class:`db.catalog.Catalog`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row

from db.records import CalibrationInfo, EventInfo, NotFound, RigInfo
from db.schema import Calibration, Event, Rig, RigStatus, utcnow
from db.unit import UnitOfWork, insert_event

#: Calibration kind whose value (seconds) becomes the rig's latency compensation.
LATENCY = "latency"


def _rig_info(row: Row[Any]) -> RigInfo:
    return RigInfo(
        id=row.id,
        name=row.name,
        transport=row.transport,
        audio_device=row.audio_device,
        latency_s=row.latency_s,
        status=row.status,
        status_reason=row.status_reason,
        last_heartbeat=row.last_heartbeat,
        config=row.config,
    )


class Registry(UnitOfWork):
    # -- rigs ---------------------------------------------------------------------------
    def upsert_rig(
        self,
        name: str,
        transport: str,
        *,
        audio_device: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> RigInfo:
        """Register a rig or update its definition; status and latency are kept."""
        now = utcnow()
        insert_ = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert_(Rig).values(
            name=name,
            transport=transport,
            audio_device=audio_device,
            config=config or {},
            status=RigStatus.IDLE,
            created_at=now,
            updated_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[Rig.name],
            set_={
                "transport": statement.excluded.transport,
                "audio_device": statement.excluded.audio_device,
                "config": statement.excluded.config,
                "updated_at": now,
            },
        ).returning(*Rig.__table__.c)
        with self._write() as connection:
            return _rig_info(connection.execute(statement).one())

    def get_rig(self, name: str) -> RigInfo:
        with self._read() as connection:
            row = connection.execute(select(Rig).where(Rig.name == name)).first()
        if row is None:
            raise NotFound(f"rig {name!r} is not registered")
        return _rig_info(row)

    def list_rigs(self) -> list[RigInfo]:
        with self._read() as connection:
            return [_rig_info(r) for r in connection.execute(select(Rig).order_by(Rig.name))]

    def heartbeat(
        self,
        rig: str,
        status: RigStatus | None = None,
        reason: str | None = None,
        *,
        now: datetime | None = None,
    ) -> None:
        """A worker is alive; optionally its status changed (a fault is logged as an event)."""
        self._update_rig(rig, status, reason, alive=True, now=now or utcnow())

    def set_rig_status(self, rig: str, status: RigStatus, reason: str | None = None) -> None:
        """Someone other than the rig's worker (an operator clearing a fault) sets its status;
        ``last_heartbeat`` stays the worker's, so a dead worker's rig still looks dead."""
        self._update_rig(rig, status, reason, alive=False, now=utcnow())

    def _update_rig(
        self,
        rig: str,
        status: RigStatus | None,
        reason: str | None,
        *,
        alive: bool,
        now: datetime,
    ) -> None:
        values: dict[str, Any] = {"updated_at": now}
        if alive:
            values["last_heartbeat"] = now
        if status is not None:
            values.update(status=status, status_reason=reason)
        with self._write() as connection:
            rig_id = self._rig_id(connection, rig)
            previous = connection.execute(select(Rig.status).where(Rig.id == rig_id)).scalar_one()
            connection.execute(update(Rig).where(Rig.id == rig_id).values(**values))
            if status is not None and status != previous:
                insert_event(
                    connection,
                    now,
                    "rig.status",
                    f"rig {rig}: {previous} -> {status}" + (f" ({reason})" if reason else ""),
                    level="error" if status == RigStatus.FAULTED else "info",
                    rig_id=rig_id,
                    data={"from": previous.value, "to": status.value, "reason": reason},
                )

    # -- calibrations -------------------------------------------------------------------
    def record_calibration(
        self, rig: str, kind: str, result: dict[str, Any], value: float | None = None
    ) -> CalibrationInfo:
        """Store a measurement; a ``latency`` value also becomes the rig's compensation."""
        now = utcnow()
        with self._write() as connection:
            rig_id = self._rig_id(connection, rig)
            calibration_id = connection.execute(
                insert(Calibration)
                .values(rig_id=rig_id, kind=kind, value=value, result=result, created_at=now)
                .returning(Calibration.id)
            ).scalar_one()
            if kind == LATENCY and value is not None:
                connection.execute(
                    update(Rig).where(Rig.id == rig_id).values(latency_s=value, updated_at=now)
                )
        return CalibrationInfo(calibration_id, rig, kind, value, result, now)

    def list_calibrations(
        self, rig: str, kind: str | None = None, *, limit: int = 100
    ) -> list[CalibrationInfo]:
        """A rig's calibrations, newest first."""
        with self._read() as connection:
            query = (
                select(Calibration)
                .where(Calibration.rig_id == self._rig_id(connection, rig))
                .order_by(Calibration.created_at.desc(), Calibration.id.desc())
                .limit(limit)
            )
            if kind is not None:
                query = query.where(Calibration.kind == kind)
            return [
                CalibrationInfo(r.id, rig, r.kind, r.value, r.result, r.created_at)
                for r in connection.execute(query)
            ]

    # -- events -------------------------------------------------------------------------
    def log_event(
        self,
        kind: str,
        message: str,
        *,
        level: str = "info",
        job_id: int | None = None,
        rig: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> int:
        with self._write() as connection:
            rig_id = self._rig_id(connection, rig) if rig is not None else None
            return insert_event(connection, utcnow(), kind, message, level, job_id, rig_id, data)

    def list_events(
        self,
        *,
        job_id: int | None = None,
        rig: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[EventInfo]:
        """Events in order (keyset: pass the last id seen as ``after_id`` to tail the log)."""
        query = (
            select(Event, Rig.name.label("rig"))
            .outerjoin(Rig, Rig.id == Event.rig_id)
            .where(Event.id > after_id)
            .order_by(Event.id)
            .limit(limit)
        )
        if job_id is not None:
            query = query.where(Event.job_id == job_id)
        if rig is not None:
            query = query.where(Rig.name == rig)
        with self._read() as connection:
            return [
                EventInfo(r.id, r.at, r.level, r.kind, r.job_id, r.rig, r.message, r.data)
                for r in connection.execute(query)
            ]
