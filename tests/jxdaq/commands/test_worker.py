"""`jxdaq worker`: with --job it captures that job on its rig and exits 0 once the job is over;
an unknown rig or job is one line naming it."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from device_support import prior
from typer.testing import CliRunner

from daq.jobs import submit_job
from daq.settings import get_settings
from db.engine import open_catalog
from db.schema import JobState
from jxdaq.commands.worker import app


@pytest.fixture
def var_dir(tmp_path, monkeypatch) -> Iterator:
    """The worker's var directory; the signal handlers it installs are put back afterwards."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for name in ("JXDAQ_CONFIG", "JXDAQ_CATALOG_URL", "JXDAQ_STORE_URL", "JXDAQ_RIGS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JXDAQ_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("JXDAQ_STORE_MIN_FREE_MB", "0")
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_a_worker_for_one_job_captures_it_and_exits(var_dir):
    var_dir.mkdir()
    catalog = open_catalog(f"sqlite:///{var_dir / 'catalog.db'}")
    try:
        job = submit_job(catalog, prior(3))
        result = CliRunner().invoke(app, ["--rig", "emulated", "--job", str(job.id)])
        assert result.exit_code == 0, result.output
        done = catalog.get_job(job.id)
        assert done.state == JobState.COMPLETED and done.captured + done.failed == 3
    finally:
        catalog.close()


def test_an_unknown_rig_or_job_is_one_line(var_dir, tmp_path):
    rig = CliRunner().invoke(app, ["--rig", "board-z"])
    assert rig.exit_code == 1 and rig.output.startswith("error: ") and "board-z" in rig.output
    job = CliRunner().invoke(app, ["--rig", "emulated", "--job", "99"])
    assert job.exit_code == 1 and job.output == "error: job 99 does not exist\n"
