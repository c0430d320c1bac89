"""The worker's claims and the lease keeper on the accelerated emulated rig, SQLite and
PostgreSQL: a finished take is no longer the keeper's (extending its lease would look like
a loss), and a claim whose lease was lost is neither captured nor stored afterwards.

The keeper's rounds are driven by hand (:meth:`LeaseKeeper.renew`) from ``on_take``, so the
interleavings are fixed instead of left to the keeper thread's timing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.rigs.rendered import RenderedRig
from daq.spec import JobSpec
from daq.worker import Worker
from db.records import TakeFilter
from db.schema import JobState, SampleState


def job_of(catalog, count: int) -> int:
    """The filter swept over ``count`` takes of the INIT tone: every take passes QC."""
    spec = {"source": {"kind": "sweep", "parameter": "VCF FREQ", "start": 60, "stop": 127,
                       "steps": count},
            "capture": {"hold_s": 0.3, "tail": {"max_s": 0.2}}}  # fmt: skip
    return submit_job(catalog, JobSpec.model_validate(spec)).id


def wait_for_captured(catalog, job_id: int, count: int) -> None:
    """Until the writer thread has recorded ``count`` takes of the job."""
    deadline = time.monotonic() + 60
    while catalog.job_progress(job_id).captured < count:
        if time.monotonic() > deadline:
            pytest.fail(f"the writer did not record {count} takes within 60 s")
        time.sleep(0.01)


class SpyRig(RenderedRig):
    """The rendered emulator, noting each work item it takes in (as pyserial's spy://)."""

    def __init__(self, catalog, chunk: int) -> None:
        super().__init__(EMULATED, catalog)
        self.batch = chunk
        self.taken_in: list[tuple[int, int]] = []  # (index, attempt)

    def capture(self, batches, stop):
        def spied(batch):
            for item in batch:
                self.taken_in.append((item.claim.index, item.claim.attempt))
                yield item

        return super().capture((spied(batch) for batch in batches), stop)


def lost_leases(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.getMessage() == "lease.lost"]


def test_a_recorded_take_is_no_longer_kept(emulated_services, caplog):
    """``on_take`` runs once the keeper forgot the claim; it waits for the writer to record
    the take, then runs a keeper round: no lease may be reported lost (before the fix the
    keeper still held the captured sample and took the failed extension for a loss)."""
    catalog, store = emulated_services
    job_id = job_of(catalog, 12)
    caplog.set_level(logging.WARNING, logger="jxdaq.worker")
    rounds: list[int] = []
    worker: Worker

    def on_take(submitted: int) -> None:
        wait_for_captured(catalog, job_id, submitted)
        worker.keeper.renew()
        rounds.append(submitted)

    worker = Worker(catalog, store, EMULATED, batch=4, on_take=on_take)
    worker.run(job_id=job_id)
    assert catalog.get_job(job_id).state == JobState.COMPLETED
    assert rounds == list(range(1, 13))
    assert lost_leases(caplog.records) == []


def test_a_claim_whose_lease_was_lost_is_neither_captured_nor_stored(emulated_services, caplog):
    """After the first take of a batch of 8 the job's other leases are taken back (as
    ``release_claims`` does for a cancelled job, or another worker after an expiry) and the
    keeper learns it. The rest of the batch is skipped: not rendered (the rig takes its
    work two at a time) and not stored; the samples come back with a new claim."""
    catalog, store = emulated_services
    job_id = job_of(catalog, 8)
    caplog.set_level(logging.WARNING, logger="jxdaq.worker")
    spy = SpyRig(catalog, chunk=2)
    taken_back: list[tuple[int, int]] = []
    worker: Worker

    def on_take(submitted: int) -> None:
        if taken_back:
            return
        wait_for_captured(catalog, job_id, 1)
        claimed = catalog.list_samples(job_id, SampleState.CLAIMED)
        taken_back.extend((s.index, s.attempts) for s in claimed)
        assert catalog.release_claims(job_id, "taken back by the test") == 7
        worker.keeper.renew()

    worker = Worker(catalog, store, EMULATED, batch=8, device=spy, on_take=on_take)
    worker.run(job_id=job_id)

    assert sorted(taken_back) == [(i, 1) for i in range(1, 8)]
    assert len(lost_leases(caplog.records)) == 7
    # Sample 1 was rendered with sample 0 before the leases went; 2..7 never were.
    first_claims = [t for t in spy.taken_in if t[1] == 1]
    assert first_claims == [(0, 1), (1, 1)]
    assert sorted(t for t in spy.taken_in if t[1] == 2) == taken_back_again(taken_back)
    job = catalog.get_job(job_id)
    assert job.state == JobState.COMPLETED and job.captured == 8
    takes = catalog.query_takes(TakeFilter(job_id=job_id), limit=100).items
    assert Counter(t.sample_index for t in takes) == {i: 1 for i in range(8)}
    assert worker.stats.submitted == 8  # sample 1's first take was dropped, not submitted
    assert sum(1 for _ in Path(store.root).rglob("*.flac")) == 8  # and no orphan audio


def taken_back_again(taken_back: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return sorted((index, attempt + 1) for index, attempt in taken_back)


def test_a_stop_during_a_stream_of_batches_gives_back_what_was_not_captured(emulated_services):
    """Batches follow each other inside one capture (the worker claims the next as the
    backend asks for it); a stop still ends it at a take boundary with nothing left claimed."""
    catalog, store = emulated_services
    job_id = job_of(catalog, 10_000)
    worker = Worker(catalog, store, EMULATED, batch=4)
    thread = threading.Thread(target=worker.run, kwargs={"job_id": job_id}, daemon=True)
    thread.start()
    try:
        wait_for_captured(catalog, job_id, 20)
    finally:
        worker.stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert catalog.list_samples(job_id, SampleState.CLAIMED) == []
    assert catalog.job_progress(job_id).captured == worker.stats.submitted
