"""What the alerter reads and keeps (mixed into :class:`db.catalog.Catalog`): its open
conditions, and each running job's takes over a recent window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from db.records import AlertConditionInfo
from db.schema import AlertCondition, Take, utcnow
from db.unit import UnitOfWork


class Alerting(UnitOfWork):
    def raise_condition(
        self, key: str, kind: str, message: str, *, rig: str | None, job_id: int | None
    ) -> bool:
        """Open condition ``key``; False when it is open already (another alerter, or this
        one before a restart, has sent it): only the caller that gets True sends."""
        try:
            with self._write() as connection:
                connection.execute(
                    AlertCondition.__table__.insert().values(
                        key=key,
                        kind=kind,
                        rig=rig,
                        job_id=job_id,
                        message=message,
                        raised_at=utcnow(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def clear_condition(self, key: str) -> bool:
        """Close condition ``key``; False when it was not open (someone else cleared it)."""
        with self._write() as connection:
            result = connection.execute(delete(AlertCondition).where(AlertCondition.key == key))
        return result.rowcount == 1

    def open_conditions(self) -> list[AlertConditionInfo]:
        with self._read() as connection:
            rows = connection.execute(select(AlertCondition).order_by(AlertCondition.raised_at))
            return [
                AlertConditionInfo(r.key, r.kind, r.rig, r.job_id, r.message, r.raised_at)
                for r in rows
            ]

    def takes_since(self, since: datetime) -> dict[int, int]:
        """Takes recorded after ``since``, by job id (the capture rate the alerter checks)."""
        with self._read() as connection:
            rows = connection.execute(
                select(Take.job_id, func.count())
                .where(Take.recorded_at > since)
                .group_by(Take.job_id)
            )
            return {job_id: count for job_id, count in rows}
