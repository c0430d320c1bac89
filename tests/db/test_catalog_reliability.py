"""Reliability: many claiming processes, writers killed mid-take, vanished workers."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from paths import ROOT
from sqlalchemy import func, select

from db.schema import JobState, Sample, SampleState, Take, utcnow
from db.verify import verify

WORKER = ROOT / "tests" / "support" / "catalog_worker.py"


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_eight_processes_capture_each_of_2000_samples_exactly_once(catalog_url, catalog, engine):
    job = catalog.create_job("crowd", {}, 2000, seed=1)
    workers = [_spawn("claim", catalog_url, f"rig-{i}") for i in range(8)]
    outputs = [w.communicate(timeout=240) for w in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    recorded = [int(out.split()[-1]) for out, _ in outputs]
    assert sum(recorded) == 2000
    assert sum(1 for n in recorded if n > 0) >= 2  # the work really was shared
    with engine.connect() as connection:
        per_sample = connection.execute(
            select(Sample.index, func.count(Take.id))
            .join(Take, Take.sample_id == Sample.id)
            .group_by(Sample.index)
        ).all()
        states = connection.execute(select(Sample.state, func.count()).group_by(Sample.state)).all()
    assert sorted(i for i, _ in per_sample) == list(range(2000))
    assert all(n == 1 for _, n in per_sample)
    assert states == [(SampleState.CAPTURED, 2000)]
    finished = catalog.get_job(job.id)
    assert (finished.state, finished.captured) == (JobState.COMPLETED, 2000)


def test_writer_killed_at_random_points_leaves_only_orphans(catalog_url, catalog, store, engine):
    rng = random.Random(os.getpid())
    job = catalog.create_job("killed", {}, 100_000, seed=2)
    # Six kills at least, and on until some take has been committed: on a loaded machine a
    # writer may be killed before its first commit every time, which proves nothing.
    round_ = 0
    while round_ < 6 or catalog.get_job(job.id).captured == 0:
        assert round_ < 40, "no writer committed a take in 40 rounds"
        writer = _spawn("write", catalog_url, store.root, "rig-k")
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
        time.sleep(rng.uniform(0.05, 0.6))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert writer.returncode == -signal.SIGKILL, f"round {round_}: writer ended on its own"
        round_ += 1

    report = verify(catalog, store, grace_s=0)
    assert report.catalog_ok, (report.missing, report.corrupt)
    with engine.connect() as connection:
        takes = connection.execute(select(func.count()).select_from(Take)).scalar_one()
    assert report.takes_checked == takes == catalog.get_job(job.id).captured

    repaired = verify(catalog, store, repair=True, grace_s=0)
    assert repaired.broken_takes == []
    assert len(repaired.quarantined) == len(report.orphans) + len(report.debris)
    assert verify(catalog, store, grace_s=0).clean


def test_samples_of_a_killed_worker_come_back_after_their_lease(catalog_url, catalog):
    job = catalog.create_job("vanished", {}, 10, seed=3)
    holder = _spawn("hold", catalog_url, "rig-gone")
    assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
    held_index = int(holder.stdout.readline().split()[-1])
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    [held] = catalog.list_samples(job.id, SampleState.CLAIMED)
    assert held.index == held_index and held.lease_owner == "rig-gone"
    catalog.upsert_rig("rig-new", "emulated")
    assert catalog.requeue_expired() == 0  # the lease still runs
    assert catalog.claim_next("rig-new", 60).index != held_index
    time.sleep(max(0.0, (held.lease_expires_at - utcnow()).total_seconds()) + 0.05)
    assert catalog.requeue_expired() == 1
    again = catalog.claim_next("rig-new", 60)
    assert (again.index, again.attempt) == (held_index, 2)
