"""The catalog's tables: times are aware UTC in and out on every backend (a naive time is
refused), enums are stored as their values and checked, and every parameter is a column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from db.schema import Job, JobState, Take, utcnow
from firmware_protocol.parameters import TONE_PARAMETERS


def _job(**values):
    now = utcnow()
    return {"name": "j", "spec": {}, "state": JobState.QUEUED, "priority": 0, "seed": 0,
            "count": 1, "next_index": 0, "captured_count": 0, "failed_count": 0,
            "max_attempts": 3, "created_at": now, "updated_at": now, **values}  # fmt: skip


def test_times_come_back_aware_utc_whatever_zone_they_went_in(engine):
    tokyo = datetime(2026, 12, 1, 18, 0, tzinfo=timezone(timedelta(hours=9)))
    with engine.begin() as connection:
        connection.execute(insert(Job).values(_job(created_at=tokyo)))
        back = connection.execute(select(Job.created_at)).scalar_one()
    assert back == tokyo and back.tzinfo == UTC and back.hour == 9


def test_a_naive_time_is_refused(engine):
    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as connection:
        connection.execute(insert(Job).values(_job(created_at=datetime(2026, 12, 1))))


def test_enums_are_stored_as_their_values_and_checked(engine):
    with engine.begin() as connection:
        connection.execute(insert(Job).values(_job(state=JobState.PAUSED)))
        assert connection.execute(text("SELECT state FROM jobs")).scalar_one() == "paused"
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("UPDATE jobs SET state = 'sleeping'"))


def test_a_count_below_its_handed_out_indexes_is_refused(engine):
    with pytest.raises(IntegrityError, match="next_index"), engine.begin() as connection:
        connection.execute(insert(Job).values(_job(count=2, next_index=3)))


def test_every_tone_parameter_is_a_column_of_takes():
    columns = {c.name for c in Take.__table__.columns if c.name.startswith("p_")}
    assert columns == {f"p_{p.key}" for p in TONE_PARAMETERS}
