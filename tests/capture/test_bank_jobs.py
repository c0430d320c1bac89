"""Bank jobs end to end on the emulated rig: real dumps whose bytes the wire cannot carry."""

from __future__ import annotations

from pathlib import Path

from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.spec import JobSpec
from daq.worker import Worker
from db.records import TakeFilter
from db.schema import JobState
from firmware_protocol.parameters import lookup

BANKS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "jx8p-banks"
#: jx8p-3.rom.syx, tone 5 (index 4): BACKWARD, whose DCO1 ENV byte is 0x80.
POISON_BANK, BACKWARD = BANKS / "jx8p-3.rom.syx", 4


def test_a_tone_with_a_0x80_byte_is_captured_and_recorded_as_127(emulated_services):
    catalog, store = emulated_services
    spec = JobSpec.model_validate(
        {
            "source": {"kind": "list", "tones": [{}]},
            "base": {"bank": str(POISON_BANK), "index": BACKWARD},
            "capture": {"hold_s": 0.3, "tail": {"max_s": 0.2}},
        }
    )
    job = submit_job(catalog, spec)
    Worker(catalog, store, EMULATED).run(job_id=job.id)
    finished = catalog.get_job(job.id)
    assert finished.state == JobState.COMPLETED and finished.captured == 1
    (take,) = catalog.query_takes(TakeFilter(job_id=job.id), limit=10).items
    assert take.tone[lookup("DCO1 ENV").apr_index] == 127
