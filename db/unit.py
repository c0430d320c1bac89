"""Units of work: one short transaction per catalog call, reads and writes told apart.

Every public catalog method is one transaction: it commits on return and rolls back on any
exception, so nothing is ever half-written. Writes go through :func:`db.engine.writer` so
that on SQLite they hold the write lock from their first statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.engine import Connection, Row

from db.engine import writer
from db.records import JobDeleted, NotFound
from db.schema import Event, Job, Rig


class UnitOfWork:
    """Shared by the catalog's parts: the engine and the transaction helpers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection

    @staticmethod
    def _rig_id(connection: Connection, rig: str) -> int:
        rig_id = connection.execute(select(Rig.id).where(Rig.name == rig)).scalar()
        if rig_id is None:
            raise NotFound(f"rig {rig!r} is not registered; register it with upsert_rig first")
        return rig_id

    @staticmethod
    def _live_job(connection: Connection, job_id: int, *columns: Any) -> Row[Any]:
        """The job's ``columns``, when it is a job (see :func:`live_job`)."""
        return live_job(
            job_id,
            connection.execute(
                select(Job.deleted_at, Job.deleted_by, *columns).where(Job.id == job_id)
            ).first(),
        )


def live_job(job_id: int, row: Row[Any] | None) -> Row[Any]:
    """The job's row; NotFound when there is none, JobDeleted when an admin deleted the job
    and kept its takes (the row is only their provenance then)."""
    if row is None:
        raise NotFound(f"job {job_id} does not exist")
    if row.deleted_at is not None:
        raise JobDeleted.of(job_id, row.deleted_at, row.deleted_by)
    return row


def insert_event(
    connection: Connection,
    now: datetime,
    kind: str,
    message: str,
    level: str = "info",
    job_id: int | None = None,
    rig_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    """Append to the events log inside the caller's transaction."""
    return connection.execute(
        insert(Event)
        .values(
            at=now,
            level=level,
            kind=kind,
            job_id=job_id,
            rig_id=rig_id,
            message=message,
            data=data,
        )
        .returning(Event.id)
    ).scalar_one()
