"""``jxdaq worker`` as a process: SIGKILL at random moments loses and duplicates nothing;
SIGTERM finishes the take in hand, gives back the rest and exits 0.

The accelerated emulated rig stands in for a real one here: what is under test is the
worker's bookkeeping (leases, the writer thread, the store), the same for every rig.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

import pytest
from catalog_support import (
    all_takes,
    catalog_url,  # noqa: F401  (fixture)
)
from device_support import WorkerProcess, worker_env

from daq.jobs import submit_job
from daq.spec import JobSpec
from db.engine import open_catalog
from db.schema import JobState, SampleState

SPEC = {
    "source": {"kind": "prior"},
    "seed": 11,
    "capture": {"hold_s": 1.0, "tail": {"max_s": 0.5}},
}


def verify(url: str, tmp_path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jxdaq", "catalog", "verify"],
        env={**os.environ, **worker_env(url, tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )


#: A rig of two lanes (the emulated board twice), from a rigs file.
TWO_LANES = (
    '[rigs.emulated-2]\ninstrument = "emulated"\nchannels = 2\nlanes = [{input = 1}, {input = 2}]\n'
)


@pytest.mark.parametrize("lanes", [1, 2])
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(catalog_url, tmp_path, lanes):  # noqa: F811
    catalog = open_catalog(catalog_url)
    job = submit_job(catalog, JobSpec.model_validate({**SPEC, "count": 160}))
    args: tuple[str, ...] = ("--job", str(job.id), "--lease-s", "2", "--batch", "4")
    rig = "emulated"
    if lanes == 2:
        rig = "emulated-2"
        (tmp_path / "rigs.toml").write_text(TWO_LANES)
        args += ("--rigs-file", str(tmp_path / "rigs.toml"))
    moments = random.Random(job.id * 7919 + len(catalog_url))
    for _ in range(4):
        worker = WorkerProcess(rig, catalog_url, tmp_path, *args)
        worker.wait_for_event("take", timeout=120)  # killed inside the work, not at start-up
        time.sleep(moments.uniform(0.0, 1.5))
        worker.kill()
        if catalog.get_job(job.id).state == JobState.COMPLETED:
            break
    captured_before = catalog.get_job(job.id).captured
    assert captured_before < 160, "the kills came too late to interrupt anything"

    last = WorkerProcess(rig, catalog_url, tmp_path, *args)
    assert last.process.wait(timeout=300) == 0, "\n".join(last.drain())

    finished = catalog.get_job(job.id)
    assert finished.state == JobState.COMPLETED
    assert finished.captured + finished.failed == 160
    takes = all_takes(catalog, job.id)
    assert len(takes) == finished.captured  # nothing lost
    assert len({t.sample_index for t in takes}) == len(takes)  # nothing twice
    assert {t.lane for t in takes} == set(range(1, lanes + 1))
    samples = catalog.list_samples(job.id, limit=1000)
    assert {s.state for s in samples} <= {SampleState.CAPTURED, SampleState.FAILED}
    assert sum(s.state == SampleState.CAPTURED for s in samples) == len(takes)
    checked = verify(catalog_url, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "missing" not in checked.stdout and "corrupt" not in checked.stdout
    assert f"{len(takes)} takes checked" in checked.stdout
    catalog.close()


def test_sigterm_finishes_the_take_in_hand_gives_back_the_rest_and_exits_0(
    catalog_url,  # noqa: F811
    tmp_path,
):
    catalog = open_catalog(catalog_url)
    job = submit_job(catalog, JobSpec.model_validate({**SPEC, "count": 400}))
    worker = WorkerProcess("emulated", catalog_url, tmp_path, "--batch", "8")
    worker.wait_for_event("take", timeout=120)
    assert worker.terminate_and_wait(timeout=30) == 0, "\n".join(worker.output)
    log = "\n".join(worker.output)
    assert "event=worker.stopping" in log and "signal=SIGTERM" in log
    assert "event=worker.stop " in log

    progress = catalog.job_progress(job.id)
    assert 0 < progress.captured < 400
    # Every take handed to the writer was stored and recorded before the exit ...
    assert len(all_takes(catalog, job.id)) == progress.captured
    # ... and nothing stays claimed: what was not captured went back to the queue.
    samples = catalog.list_samples(job.id, limit=1000)
    assert not [s for s in samples if s.state == SampleState.CLAIMED]
    assert catalog.get_rig("emulated").status == "offline"
    catalog.close()
