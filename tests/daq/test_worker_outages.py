"""Fault injection: ``jxdaq worker`` processes through outages of what they depend on
(issue 11, item 6), with real parts: a PostgreSQL cluster of the suite's own restarted with
``pg_ctl``, a small tmpfs as the audio store (full, or read-only), a read-only SQLite catalog.

For each: the job completes (or the worker says plainly why it cannot go on), nothing is lost
or recorded twice, ``jxdaq catalog verify`` is clean, and where the fault was transient the
worker process is still running afterwards. Every wait is on a condition, never a sleep.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from catalog_support import all_takes
from device_support import WorkerProcess, prior, wait_until, worker_env

from daq.jobs import submit_job
from db.engine import open_catalog
from db.private_cluster import private_cluster
from db.schema import JobState, QcCode, RigStatus, SampleState

FAST_RETRY = ("--backoff-max-s", "1")
MB = 1024 * 1024


def assert_whole(catalog, job_id: int, url: str, var_dir: Path) -> None:
    """The job completed (a silent tone may fail QC); one take per captured sample; catalog
    and store agree."""
    finished = catalog.get_job(job_id)
    assert finished.state == JobState.COMPLETED, finished
    assert finished.captured + finished.failed == finished.count
    takes = all_takes(catalog, job_id)
    assert len(takes) == finished.captured  # nothing lost
    assert len({t.sample_index for t in takes}) == len(takes)  # nothing twice
    samples = catalog.list_samples(job_id, limit=1000)
    assert {s.state for s in samples} <= {SampleState.CAPTURED, SampleState.FAILED}
    failed = [s for s in samples if s.state == SampleState.FAILED]
    assert all(s.last_error_code == QcCode.SILENT for s in failed), failed
    checked = subprocess.run(
        [sys.executable, "-m", "jxdaq", "catalog", "verify"],
        env={**os.environ, **worker_env(url, var_dir)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0 and "clean" in checked.stdout, checked.stdout + checked.stderr


def no_traceback(worker: WorkerProcess) -> None:
    output = "\n".join(worker.drain())
    assert "Traceback" not in output, output[-4000:]


def remount(mountpoint: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mountpoint)], check=True)


def test_a_postgres_restart_is_ridden_out(tmp_path):
    with private_cluster() as cluster:
        catalog = open_catalog(cluster.url)
        job = submit_job(catalog, prior(120))
        worker = WorkerProcess("emulated", cluster.url, tmp_path, "--job", str(job.id),
                               "--batch", "2")  # fmt: skip
        try:
            worker.wait_for_event("take", timeout=120)
            cluster.stop()
            worker.wait_for_event("catalog.outage", timeout=60)
            cluster.start()
            worker.wait_for_event("catalog.back", timeout=60)
            assert worker.process.poll() is None, "the worker exited in the outage"
            assert worker.process.wait(timeout=300) == 0
        finally:
            worker.stop()
        no_traceback(worker)
        catalog.engine.dispose()  # its connections died with the server
        assert_whole(catalog, job.id, cluster.url, tmp_path)
        outages = [e for e in catalog.list_events(rig="emulated") if e.kind == "rig.catalog_outage"]
        assert outages and outages[0].data["seconds"] > 0
        catalog.close()


def test_a_full_store_faults_the_rig_and_capture_resumes_when_space_returns(
    tmp_path, tmpfs, monkeypatch
):
    monkeypatch.setenv("JXDAQ_STORE_MIN_FREE_MB", "0")  # no floor: the disk fills up
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = open_catalog(url)
    job = submit_job(catalog, prior(300))  # about 3.5 MB of FLAC: more than the store holds
    worker = WorkerProcess("emulated", url, tmp_path, "--job", str(job.id), *FAST_RETRY)
    try:
        wait_until(lambda: rig_status(catalog) == RigStatus.FAULTED, "the rig FAULTED")
        reason = catalog.get_rig("emulated").status_reason
        assert f"faulted on audio store {tmpfs}" in reason and "No space left" in reason
        (fault,) = [e for e in catalog.list_events(rig="emulated") if e.kind == "rig.fault"]
        assert fault.level == "error" and "No space left" in fault.message
        assert worker.process.poll() is None
        remount(tmpfs, "size=64m")  # space returns
        assert worker.process.wait(timeout=300) == 0
    finally:
        worker.stop()
    no_traceback(worker)
    assert "rig.recovered" in [e.kind for e in catalog.list_events(rig="emulated")]
    assert_whole(catalog, job.id, url, tmp_path)
    catalog.close()


def test_below_the_free_space_floor_a_worker_claims_nothing_until_space_returns(
    tmp_path, tmpfs, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = open_catalog(url)
    job = submit_job(catalog, prior(20))
    ballast = tmpfs / "ballast"
    ballast.write_bytes(b"\0" * (3 * MB // 2))  # leaves less than the floor of 1 MB
    monkeypatch.setenv("JXDAQ_STORE_MIN_FREE_MB", "1")
    worker = WorkerProcess("emulated", url, tmp_path, "--job", str(job.id), *FAST_RETRY)
    try:
        wait_until(lambda: rig_status(catalog) == RigStatus.FAULTED, "the rig FAULTED")
        reason = catalog.get_rig("emulated").status_reason
        assert "below the floor of 1 MB" in reason and "store_min_free_mb" in reason
        assert catalog.list_samples(job.id) == []  # it never claimed
        ballast.unlink()
        assert worker.process.wait(timeout=300) == 0
    finally:
        worker.stop()
    no_traceback(worker)
    assert_whole(catalog, job.id, url, tmp_path)
    catalog.close()


def test_a_read_only_store_faults_the_rig_until_it_is_writable_again(tmp_path, tmpfs, monkeypatch):
    monkeypatch.setenv("JXDAQ_STORE_MIN_FREE_MB", "0")
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = open_catalog(url)
    job = submit_job(catalog, prior(40))
    remount(tmpfs, "ro")
    worker = WorkerProcess("emulated", url, tmp_path, "--job", str(job.id), *FAST_RETRY)
    try:
        wait_until(lambda: rig_status(catalog) == RigStatus.FAULTED, "the rig FAULTED")
        assert "Read-only file system" in catalog.get_rig("emulated").status_reason
        assert worker.process.poll() is None
        remount(tmpfs, "rw")
        assert worker.process.wait(timeout=300) == 0
    finally:
        worker.stop()
    no_traceback(worker)
    assert_whole(catalog, job.id, url, tmp_path)
    catalog.close()


def test_a_read_only_catalog_is_named_and_the_worker_waits_for_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = open_catalog(url)
    job = submit_job(catalog, prior(4))
    read_only = f"sqlite:///file:{tmp_path / 'catalog.db'}?mode=ro&uri=true"
    worker = WorkerProcess("emulated", read_only, tmp_path, "--job", str(job.id), *FAST_RETRY)
    try:
        line = worker.wait_for_event("rig.fault", timeout=120)
        assert "readonly database" in line and 'device="catalog sqlite:///' in line
        worker.wait_for_event("rig.retry", timeout=60)
        assert worker.process.poll() is None  # waiting for the catalog, not dead
        assert worker.terminate_and_wait() == 0
    finally:
        worker.stop()
    no_traceback(worker)
    assert catalog.get_job(job.id).state == JobState.QUEUED and not catalog.list_samples(job.id)
    catalog.close()


def rig_status(catalog) -> RigStatus | None:
    return next((r.status for r in catalog.list_rigs() if r.name == "emulated"), None)
