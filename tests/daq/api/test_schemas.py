"""What the API answers with: a tone as its 59 bytes and its parameters by key, a job with the
same words as the catalog's, and bodies that refuse what they do not know."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from daq.api.schemas import JobOut, JobSummaryOut, PriorityIn, ReasonIn, ToneOut
from db.records import JobInfo
from db.schema import JobState
from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.tone import INIT_TONE

VALUES = st.fixed_dictionaries({p.key: st.integers(0, 127) for p in TONE_PARAMETERS})


@given(values=VALUES)
def test_a_tone_is_its_bytes_and_its_parameters_by_key(values):
    tone = INIT_TONE.replace(**values)
    shown = ToneOut.from_bytes(tone.data)
    assert bytes.fromhex(shown.apr_hex) == tone.data
    assert shown.parameters == {p.key: tone.data[p.apr_index] for p in TONE_PARAMETERS}
    assert shown.name == tone.name


def test_a_job_is_shown_with_every_fact_of_its_catalog_row():
    job = JobInfo(
        id=3, name="night", spec={"source": {"kind": "prior"}}, state=JobState.RUNNING,
        state_reason=None, priority=5, seed=11, count=400, captured=120, failed=2,
        max_attempts=3, rigs=["board-a"], created_by="ops",
        created_at=datetime(2026, 12, 1, tzinfo=UTC), started_at=None, finished_at=None,
    )  # fmt: skip
    summary = JobSummaryOut.from_info(job).model_dump()
    facts = dataclasses.asdict(job)
    assert summary == {field: facts[field] for field in JobSummaryOut.model_fields}
    assert JobOut.from_info(job).spec == job.spec and "spec" not in summary


def test_bodies_refuse_unknown_fields_and_control_characters():
    assert PriorityIn.model_validate({"priority": 10}).priority == 10
    with pytest.raises(ValidationError, match="priorty"):
        PriorityIn.model_validate({"priorty": 10})
    assert ReasonIn.model_validate({}).reason is None
    with pytest.raises(ValidationError, match="reason"):
        ReasonIn.model_validate({"reason": "re-cabling\x1b[2J"})
