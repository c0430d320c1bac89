"""Units of work: a job that is not there is NotFound, one an admin deleted with its takes
kept is JobDeleted naming when and by whom; an unknown rig names how to register it; a
failed write leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from db.records import JobDeleted, NotFound
from db.schema import Job
from db.unit import UnitOfWork, live_job

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_a_live_job_is_its_row():
    row = SimpleNamespace(deleted_at=None, deleted_by=None, name="night")
    assert live_job(4, row) is row


def test_a_missing_job_and_a_deleted_one_are_told_apart():
    with pytest.raises(NotFound, match="job 4 does not exist") as missing:
        live_job(4, None)
    assert not isinstance(missing.value, JobDeleted)
    with pytest.raises(JobDeleted, match=r"job 4 .*by the-admin"):
        live_job(4, SimpleNamespace(deleted_at=AT, deleted_by="the-admin"))


def test_an_unknown_rig_says_how_to_register_it(engine):
    unit = UnitOfWork(engine)
    with unit._read() as connection, pytest.raises(NotFound, match="upsert_rig"):
        unit._rig_id(connection, "nowhere")


def test_a_write_that_fails_leaves_nothing(catalog, engine):
    unit = UnitOfWork(engine)
    catalog.create_job("first", {}, 1, seed=0)
    with pytest.raises(RuntimeError), unit._write() as connection:
        connection.execute(Job.__table__.delete())
        raise RuntimeError("half way")
    with unit._read() as connection:
        assert connection.execute(select(func.count()).select_from(Job)).scalar_one() == 1
