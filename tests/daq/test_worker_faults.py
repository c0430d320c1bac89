"""Rig faults with real devices: the serial port pulled away mid-job and brought back, a rig
that makes no sound, and silent tones (which are not a fault).

The rig's port is a symlink the test controls, as a lab would use a udev name: a restarted
emulator gets a new pty, and re-pointing the link is "plugging the board back in".
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from device_support import FS, PULSE, EmulatorServer

from daq.jobs import submit_job
from daq.rigs import EMULATED, RigDefinition
from daq.spec import JobSpec
from daq.worker import FaultPolicy, Worker
from db.records import TakeFilter
from db.schema import JobState, QcCode, QcVerdict, RigStatus, SampleState

# Real-time device tests share a 2-core machine with everything else: a scheduler stall makes
# PulseAudio/JACK underrun and shifts a take by milliseconds, which is the machine, not a bug.
# Such a test gets two more tries; a real fault fails all three.
# A rerun allowance, not a fix: on a 2-core machine the PulseAudio path still shifts a take by
# 2-50 ms at times, unseen by both stream clocks (see the README, Development).
pytestmark = [pytest.mark.devices, pytest.mark.flaky(reruns=2, reruns_delay=2)]
FAST_RETRY = FaultPolicy(silent_takes=2, backoff_s=0.2, backoff_max_s=1.0)


def short_job(**source) -> JobSpec:
    return JobSpec.model_validate(
        {"source": source, "rigs": ["board"],
         "capture": {"sample_rate": FS, "hold_s": 0.3, "tail": {"max_s": 0.2},
                     "notes": {"key": 69, "velocity": 127}}}
    )  # fmt: skip


def serial_rig(port: str) -> RigDefinition:
    return RigDefinition(name="board", instrument="serial", port=port, audio_device=PULSE,
                         sample_rate=FS)  # fmt: skip


def wait_until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def status(catalog, rig: str) -> RigStatus | None:
    """The rig's status, None until its worker has registered it."""
    return next((r.status for r in catalog.list_rigs() if r.name == rig), None)


def in_thread(worker: Worker, job_id: int) -> threading.Thread:
    thread = threading.Thread(target=worker.run, kwargs={"job_id": job_id}, daemon=True)
    thread.start()
    return thread


def plug(link, target: str) -> None:
    """Point the rig's port at ``target``, atomically."""
    staging = f"{link}.new"
    os.symlink(target, staging)
    os.replace(staging, link)


def test_pulling_the_pty_faults_the_rig_and_plugging_it_back_resumes(sink, services, tmp_path):
    catalog, store = services
    port = tmp_path / "ttyJX"
    server = EmulatorServer(sink=sink)
    plug(port, server.pty)
    job = submit_job(catalog, short_job(kind="sweep", parameter="VCF FREQ", start=70, stop=127,
                                        steps=14))  # fmt: skip
    worker = Worker(catalog, store, serial_rig(str(port)), faults=FAST_RETRY)
    thread = in_thread(worker, job.id)
    try:
        wait_until(lambda: catalog.job_progress(job.id).captured >= 3, "three takes", 90)
        server.stop()  # the board goes away mid-job
        wait_until(lambda: status(catalog, "board") == RigStatus.FAULTED, "FAULTED")
        rig = catalog.get_rig("board")
        assert f"rig board faulted on serial port {port}" in rig.status_reason
        assert f"last good take: job {job.id} sample " in rig.status_reason
        (fault,) = [e for e in catalog.list_events(rig="board") if e.kind == "rig.fault"]
        assert fault.level == "error" and fault.data["device"] == f"serial port {port}"

        # Other rigs go on meanwhile: an emulated rig captures a job of its own.
        other = submit_job(catalog, JobSpec.model_validate(
            {"source": {"kind": "uniform"}, "count": 16, "rigs": ["emulated"]}))  # fmt: skip
        Worker(catalog, store, EMULATED).run(job_id=other.id)
        assert catalog.get_job(other.id).state == JobState.COMPLETED
        assert catalog.get_rig("board").status == RigStatus.FAULTED
        assert not catalog.list_samples(job.id, SampleState.CLAIMED)  # claims went back

        server = EmulatorServer(sink=sink)  # plugged back in, on a new pty
        plug(port, server.pty)
        thread.join(timeout=120)
        assert not thread.is_alive(), "the job did not finish after the board came back"
    finally:
        worker.stop.set()
        thread.join(timeout=30)
        server.stop()
    finished = catalog.get_job(job.id)
    assert finished.state == JobState.COMPLETED and finished.captured == 14
    kinds = [e.kind for e in catalog.list_events(rig="board")]
    assert kinds.index("rig.fault") < kinds.index("rig.recovered")
    takes = catalog.query_takes(TakeFilter(job_id=job.id), limit=100).items
    assert len(takes) == 14 and all(t.qc_verdict != QcVerdict.FAIL for t in takes)
    assert worker.stats.faults >= 1 and worker.stats.released >= 1


def test_a_rig_that_makes_no_sound_is_faulted_and_stores_nothing(sink, services):
    catalog, store = services
    server = EmulatorServer(
        sink=sink, audio_device="none"
    )  # the board runs; its audio goes nowhere
    job = submit_job(catalog, short_job(kind="sweep", parameter="VCF FREQ", values=[100, 110]))
    worker = Worker(catalog, store, serial_rig(server.pty).model_copy(update={"latency_s": 0.1}),
                    faults=FAST_RETRY)  # fmt: skip
    thread = in_thread(worker, job.id)
    try:
        wait_until(lambda: status(catalog, "board") == RigStatus.FAULTED, "FAULTED")
        reason = catalog.get_rig("board").status_reason
        assert "rig board faulted on audio input 'pulse'" in reason
        assert "probe tone was not heard" in reason and "last good take: none yet" in reason
    finally:
        worker.stop.set()
        thread.join(timeout=30)
        server.stop()
    assert not thread.is_alive()
    assert catalog.job_progress(job.id).captured == 0
    assert not catalog.list_samples(job.id, SampleState.CLAIMED)
    assert catalog.get_rig("board").status == RigStatus.OFFLINE


def test_silent_tones_fail_after_their_attempts_without_faulting_the_rig(sink, services):
    catalog, store = services
    server = EmulatorServer(sink=sink)
    silent, loud = {"VCA LEVEL": 0}, {"VCA LEVEL": 127}
    job = submit_job(catalog, short_job(kind="list", tones=[silent, silent, silent, loud, loud]))
    try:
        worker = Worker(catalog, store, serial_rig(server.pty), faults=FAST_RETRY)
        worker.run(job_id=job.id)
    finally:
        server.stop()
    finished = catalog.get_job(job.id)
    assert finished.state == JobState.COMPLETED
    assert (finished.captured, finished.failed) == (2, 3)
    for sample in catalog.list_samples(job.id, SampleState.FAILED):
        # retried up to the job's attempts: a real rig's silence might have been a glitch
        assert sample.index < 3 and sample.attempts == finished.max_attempts
        assert sample.last_error_code == QcCode.SILENT
    assert "rig.fault" not in [e.kind for e in catalog.list_events(rig="board")]
    assert worker.stats.faults == 0
