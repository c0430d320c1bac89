"""Drift checks in the worker: the reference tone re-captured between batches, its distance to
the rig's baseline recorded; over the threshold the job pauses and says why.

The accelerated emulated rig renders the reference tone identically every time, so it never
drifts by itself: a drifted rig is made by giving it a baseline from another tone.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from daq.calibration import REFERENCE_TONE, DriftMonitor, reference_capture_spec
from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.rigs.calibration import DRIFT, DRIFT_BASELINE, DriftPolicy
from daq.rigs.rendered import RenderedRig
from daq.spec import JobSpec
from daq.worker import Worker
from db.schema import JobState
from firmware_protocol.tone import INIT_TONE

EVERY = DriftPolicy(every_takes=16, every_s=3600.0, threshold_db=3.0)


def job_of(catalog, count: int) -> int:
    spec = {"source": {"kind": "uniform"}, "count": count, "seed": 2,
            "capture": {"hold_s": 0.5, "tail": {"max_s": 0.3}}}  # fmt: skip
    return submit_job(catalog, JobSpec.model_validate(spec)).id


def test_the_first_check_sets_the_baseline_and_a_steady_rig_finishes_its_job(emulated_services):
    catalog, store = emulated_services
    job_id = job_of(catalog, 48)
    Worker(catalog, store, EMULATED, drift=EVERY).run(job_id=job_id)
    assert catalog.get_job(job_id).state == JobState.COMPLETED
    (baseline,) = catalog.list_calibrations(EMULATED.name, DRIFT_BASELINE)
    assert len(baseline.result["spectrum_db"]) > 1000
    checks = catalog.list_calibrations(EMULATED.name, DRIFT)
    assert len(checks) >= 3 and all(c.value == pytest.approx(0.0, abs=1e-6) for c in checks)

    # A later worker measures against the stored baseline instead of making a new one.
    Worker(catalog, store, EMULATED, drift=EVERY).run(job_id=job_of(catalog, 32))
    assert len(catalog.list_calibrations(EMULATED.name, DRIFT_BASELINE)) == 1
    assert len(catalog.list_calibrations(EMULATED.name, DRIFT)) > len(checks)


def test_a_drifted_rig_pauses_its_job_and_says_why(emulated_services):
    catalog, store = emulated_services
    # The rig's baseline was made with another tone: to the check, the rig has drifted.
    other = RenderedRig(EMULATED).capture_one(INIT_TONE, reference_capture_spec())
    monitor = DriftMonitor(1, 1.0, 1.0)
    monitor.check(other)
    spectrum = [float(v) for v in monitor.baseline]
    catalog.record_calibration(EMULATED.name, DRIFT_BASELINE, {"spectrum_db": spectrum})
    job_id = job_of(catalog, 200)
    worker = Worker(catalog, store, EMULATED, drift=EVERY)
    thread = threading.Thread(target=worker.run, kwargs={"job_id": job_id}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while catalog.get_job(job_id).state != JobState.PAUSED and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop.set()
        thread.join(timeout=60)
    job = catalog.get_job(job_id)
    assert job.state == JobState.PAUSED
    assert "rig emulated: the reference tone drifted" in job.state_reason
    assert "threshold 3 dB" in job.state_reason
    assert 16 <= job.captured < 200  # paused at a take boundary, after the first check
    (check,) = catalog.list_calibrations(EMULATED.name, DRIFT)
    assert check.value > 3.0 and check.result["exceeded"] is True
    (event,) = [e for e in catalog.list_events(rig=EMULATED.name) if e.kind == "rig.drift"]
    assert event.level == "warning" and event.job_id == job_id
    (paused,) = [e for e in catalog.list_events(job_id=job_id) if e.kind == "job.state"]
    assert paused.data["by"] == "rig emulated"


@contextmanager
def capturing(catalog, store, job_id: int, takes: int = 8) -> Iterator[float]:
    """A worker on the emulated rig busy with ``job_id`` in a thread, once it has recorded
    ``takes``; stopped on leaving. Yields the monotonic deadline the test waits within."""
    worker = Worker(catalog, store, EMULATED)  # no drift policy: requests alone
    thread = threading.Thread(target=worker.run, kwargs={"job_id": job_id}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while catalog.job_progress(job_id).captured < takes and time.monotonic() < deadline:
            time.sleep(0.05)
        yield deadline
    finally:
        worker.stop.set()
        thread.join(timeout=60)


def test_a_calibration_request_is_served_between_batches(emulated_services):
    """``POST /rigs/{rig}/calibrate`` logs a ``rig.calibrate`` event; the worker measures
    what it asks for at its next batch boundary, even without a drift policy of its own."""
    catalog, store = emulated_services
    job_id = job_of(catalog, 100_000)  # far more than it gets to: the worker is stopped
    with capturing(catalog, store, job_id) as deadline:
        catalog.log_event("rig.calibrate", "requested", rig=EMULATED.name,
                          data={"kinds": ["latency", "drift"], "requested_by": "test"})  # fmt: skip
        while not catalog.list_calibrations(EMULATED.name, DRIFT) and time.monotonic() < deadline:
            time.sleep(0.05)
    (check,) = catalog.list_calibrations(EMULATED.name, DRIFT)
    assert check.value == 0.0 and check.result["job_id"] == job_id  # the first sets the baseline
    (done,) = [e for e in catalog.list_events(rig=EMULATED.name) if e.kind == "rig.calibrated"]
    assert done.data["kinds"] == ["drift"]  # the rendered emulator has no latency to measure


def baseline_of(tone) -> list[float]:
    """The drift baseline the rendered emulator makes of ``tone`` played as the reference."""
    spec = reference_capture_spec(EMULATED.sample_rate, EMULATED.channels)
    monitor = DriftMonitor(1, 1.0, 1.0)
    monitor.check(RenderedRig(EMULATED).capture_one(tone, spec))
    return [float(v) for v in monitor.baseline]


def rebaseline(url: str, tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JXDAQ_CATALOG_URL": url, "JXDAQ_VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "jxdaq", "rig", "rebaseline", *args],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_rebaseline_makes_the_running_worker_capture_a_new_baseline(
    emulated_services,
    catalog_url,
    tmp_path,
):
    """The rig was re-tuned, so its old baseline (here: another tone's) is wrong. ``jxdaq rig
    rebaseline`` asks the worker, which captures the reference tone as the new baseline at
    its next batch boundary; later checks measure against it."""
    catalog, store = emulated_services
    catalog.record_calibration(
        EMULATED.name, DRIFT_BASELINE, {"spectrum_db": baseline_of(INIT_TONE)}
    )
    job_id = job_of(catalog, 100_000)  # far more than it gets to: the worker is stopped
    with capturing(catalog, store, job_id) as deadline:
        result = rebaseline(catalog_url, tmp_path, EMULATED.name, "--reason", "VCF re-tuned")
        assert result.returncode == 0, result.stderr
        while len(catalog.list_calibrations(EMULATED.name, DRIFT_BASELINE)) < 3:
            assert time.monotonic() < deadline, "no new baseline within 120 s"
            time.sleep(0.05)
    assert "drift baseline cleared (VCF re-tuned)" in result.stdout
    (request,) = [e for e in catalog.list_events(rig=EMULATED.name) if e.kind == "rig.calibrate"]
    assert f"drift baseline cleared by {getpass.getuser()}: VCF re-tuned" in request.message
    new, cleared, old = catalog.list_calibrations(EMULATED.name, DRIFT_BASELINE)
    assert cleared.result["spectrum_db"] is None and cleared.result["reason"] == "VCF re-tuned"
    assert np.allclose(new.result["spectrum_db"], baseline_of(REFERENCE_TONE), atol=1e-3)
    assert not np.allclose(old.result["spectrum_db"], new.result["spectrum_db"], atol=1.0)
    (check,) = catalog.list_calibrations(EMULATED.name, DRIFT)
    assert check.value == 0.0 and check.result["job_id"] == job_id
    (done,) = [e for e in catalog.list_events(rig=EMULATED.name) if e.kind == "rig.calibrated"]
    assert done.data["kinds"] == ["baseline"]
    assert catalog.get_job(job_id).state != JobState.PAUSED


def test_a_rebaseline_while_no_worker_runs_is_made_by_the_next_worker(
    emulated_services,
    catalog_url,
    tmp_path,
):
    """Without the rebaseline this job would pause at its first check (the stored baseline
    is another tone's); with it, the first check makes the new baseline and the job runs."""
    catalog, store = emulated_services
    catalog.record_calibration(
        EMULATED.name, DRIFT_BASELINE, {"spectrum_db": baseline_of(INIT_TONE)}
    )
    result = rebaseline(catalog_url, tmp_path, EMULATED.name)
    assert result.returncode == 0, result.stderr
    job_id = job_of(catalog, 40)
    Worker(catalog, store, EMULATED, drift=EVERY).run(job_id=job_id)
    assert catalog.get_job(job_id).state == JobState.COMPLETED
    new, _cleared, _old = catalog.list_calibrations(EMULATED.name, DRIFT_BASELINE)
    assert np.allclose(new.result["spectrum_db"], baseline_of(REFERENCE_TONE), atol=1e-3)
    checks = catalog.list_calibrations(EMULATED.name, DRIFT)
    assert checks and all(c.value == pytest.approx(0.0, abs=1e-6) for c in checks)


def test_rebaseline_of_an_unknown_rig_is_a_one_line_error(emulated_services, catalog_url, tmp_path):
    result = rebaseline(catalog_url, tmp_path, "nope")
    assert (result.returncode, result.stderr) == (1, "error: rig 'nope' is not registered\n")
