"""Bank jobs end to end on the emulated rig: real dumps whose bytes the wire cannot carry."""

from __future__ import annotations

from pathlib import Path

import pytest
from device_support import WorkerProcess
from paths import SHARED_DATA

from daq.banks import LocalFiles
from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.spec import load_spec, validate_spec
from daq.worker import Worker
from db.engine import open_catalog
from db.records import TakeFilter
from db.schema import JobState
from firmware_protocol.parameters import lookup
from firmware_protocol.sysex import jx8p_bank
from firmware_protocol.tone import INIT_TONE

BANKS = SHARED_DATA / "jx8p-banks"
#: jx8p-3.rom.syx, tone 5 (index 4): BACKWARD, whose DCO1 ENV byte is 0x80.
POISON_BANK, BACKWARD = BANKS / "jx8p-3.rom.syx", 4


def test_a_tone_with_a_0x80_byte_is_captured_and_recorded_as_127(emulated_services):
    catalog, store = emulated_services
    spec = validate_spec(
        {
            "source": {"kind": "list", "tones": [{}]},
            "base": {"bank": str(POISON_BANK), "index": BACKWARD},
            "capture": {"hold_s": 0.3, "tail": {"max_s": 0.2}},
        },
        LocalFiles(),
    )
    job = submit_job(catalog, spec)
    Worker(catalog, store, EMULATED).run(job_id=job.id)
    finished = catalog.get_job(job.id)
    assert finished.state == JobState.COMPLETED and finished.captured == 1
    (take,) = catalog.query_takes(TakeFilter(job_id=job.id), limit=10).items
    assert take.tone[lookup("DCO1 ENV").apr_index] == 127


def _bank_job(tmp_path: Path) -> Path:
    """A spec file naming a bank beside it by a relative path, as operators write them."""
    (tmp_path / "banks").mkdir()
    (tmp_path / "banks" / "mine.syx").write_bytes(jx8p_bank(ORIGINAL))
    spec = tmp_path / "job.toml"
    spec.write_text(
        '[source]\nkind = "bank"\nbanks = ["banks/mine.syx"]\n'
        "[capture]\nhold_s = 0.3\n[capture.tail]\nmax_s = 0.2\n"
    )
    return spec


ORIGINAL = [INIT_TONE.replace(vcf_freq=90), INIT_TONE.replace(vcf_freq=60)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("then", ["replaced", "deleted"])
def test_a_bank_job_captures_the_tones_of_submit_time_whatever_becomes_of_the_file(
    catalog_url, tmp_path, then
):
    """The worker is a process of its own, as on another host or days later: it reads the
    job, never the file (a relative path means nothing to it anyway)."""
    catalog = open_catalog(catalog_url)
    try:
        job = submit_job(catalog, load_spec(_bank_job(tmp_path)))
        bank = tmp_path / "banks" / "mine.syx"
        if then == "replaced":
            bank.write_bytes(jx8p_bank([INIT_TONE.replace(vcf_freq=5), INIT_TONE]))
        else:
            bank.unlink()
        worker = WorkerProcess(EMULATED.name, catalog_url, tmp_path / "var", "--job", str(job.id))
        assert worker.process.wait(timeout=240) == 0, "\n".join(worker.drain()[-40:])
        finished = catalog.get_job(job.id)
        assert finished.state == JobState.COMPLETED and finished.captured == 2
        takes = catalog.query_takes(TakeFilter(job_id=job.id), limit=10).items
        assert sorted(t.tone for t in takes) == sorted(tone.data for tone in ORIGINAL)
    finally:
        catalog.close()
