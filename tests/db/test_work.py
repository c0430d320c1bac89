"""Jobs and the work queue: claims, leases, fencing, failures, completion, state changes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.records import InvalidTransition, LeaseLost, NotFound
from db.schema import JobState, SampleState, utcnow


@pytest.fixture
def rigs(catalog):
    for name in ("rig-a", "rig-b"):
        catalog.upsert_rig(name, "emulated")
    return ("rig-a", "rig-b")


def test_every_index_is_handed_out_once_and_the_job_completes(catalog, rigs, make_take):
    job = catalog.create_job("sweep", {"source": "uniform"}, 5, seed=7)
    assert job.state == JobState.QUEUED
    claims = [catalog.claim_next(rigs[i % 2], 60) for i in range(5)]
    assert sorted(c.index for c in claims) == [0, 1, 2, 3, 4]
    assert all(c.seed == 7 and c.attempt == 1 for c in claims)
    assert catalog.claim_next("rig-a", 60) is None
    assert catalog.get_job(job.id).state == JobState.RUNNING
    for claim in claims:
        catalog.record_take(make_take(claim))
    finished = catalog.get_job(job.id)
    assert (finished.state, finished.captured, finished.failed) == (JobState.COMPLETED, 5, 0)
    assert finished.finished_at is not None


def test_unknown_rig_is_named_in_the_error(catalog):
    catalog.create_job("j", {}, 1, seed=0)
    with pytest.raises(NotFound, match="rig 'ghost'"):
        catalog.claim_next("ghost", 60)


def test_expired_lease_goes_to_another_rig_and_fences_out_the_first(catalog, rigs, make_take):
    job = catalog.create_job("j", {}, 1, seed=0)
    t0 = utcnow()
    first = catalog.claim_next("rig-a", 10, now=t0)
    assert catalog.claim_next("rig-b", 10, now=t0 + timedelta(seconds=5)) is None
    second = catalog.claim_next("rig-b", 10, now=t0 + timedelta(seconds=11))
    assert (second.sample_id, second.index, second.attempt) == (first.sample_id, 0, 2)
    with pytest.raises(LeaseLost):
        catalog.record_take(make_take(first))
    with pytest.raises(LeaseLost):
        catalog.extend_lease(first, 10)
    catalog.record_take(make_take(second))
    assert catalog.get_job(job.id).captured == 1


def test_vanished_worker_samples_return_to_the_queue(catalog, rigs):
    job = catalog.create_job("j", {}, 3, seed=0)
    t0 = utcnow()
    held = [catalog.claim_next("rig-a", 30, now=t0) for _ in range(3)]
    assert catalog.job_progress(job.id, now=t0).claimed == 3
    assert catalog.requeue_expired(now=t0 + timedelta(seconds=29)) == 0
    assert catalog.requeue_expired(now=t0 + timedelta(seconds=31)) == 3
    progress = catalog.job_progress(job.id)
    assert (progress.pending, progress.claimed) == (3, 0)
    again = [catalog.claim_next("rig-b", 30) for _ in range(3)]
    assert sorted(c.index for c in again) == sorted(c.index for c in held)
    assert all(c.attempt == 2 for c in again)


def test_extended_lease_is_not_taken_over(catalog, rigs):
    catalog.create_job("j", {}, 1, seed=0)
    t0 = utcnow()
    claim = catalog.claim_next("rig-a", 10, now=t0)
    extended = catalog.extend_lease(claim, 60, now=t0 + timedelta(seconds=8))
    assert extended.lease_expires_at > claim.lease_expires_at
    assert catalog.claim_next("rig-b", 10, now=t0 + timedelta(seconds=30)) is None


def test_release_gives_the_sample_back(catalog, rigs):
    catalog.create_job("j", {}, 1, seed=0)
    claim = catalog.claim_next("rig-a", 60)
    assert catalog.release(claim)
    assert not catalog.release(claim)
    assert catalog.claim_next("rig-b", 60).index == claim.index


def test_failures_retry_until_max_attempts_then_fail_the_sample(catalog, rigs):
    job = catalog.create_job("j", {}, 1, seed=0, max_attempts=2)
    first = catalog.claim_next("rig-a", 60)
    assert catalog.fail_sample(first, "silent take") == SampleState.PENDING
    second = catalog.claim_next("rig-a", 60)
    assert catalog.fail_sample(second, "silent again") == SampleState.FAILED
    assert catalog.claim_next("rig-a", 60) is None
    finished = catalog.get_job(job.id)
    assert (finished.state, finished.failed, finished.captured) == (JobState.COMPLETED, 1, 0)
    [failed] = catalog.list_samples(job.id, SampleState.FAILED)
    assert (failed.last_error, failed.attempts) == ("silent again", 2)


def test_batch_records_skip_lost_leases_only(catalog, rigs, make_take):
    catalog.create_job("j", {}, 2, seed=0)
    t0 = utcnow()
    a = catalog.claim_next("rig-a", 10, now=t0)
    b = catalog.claim_next("rig-a", 100, now=t0)
    a_again = catalog.claim_next("rig-b", 10, now=t0 + timedelta(seconds=20))
    assert a_again.sample_id == a.sample_id
    ids = catalog.record_takes([make_take(a), make_take(b)])
    assert ids[0] is None and isinstance(ids[1], int)
    assert catalog.get_take(ids[1]).sample_index == b.index


def test_priority_rig_selection_and_pause(catalog, rigs):
    low = catalog.create_job("low", {}, 1, seed=0)
    high = catalog.create_job("high", {}, 1, seed=0, priority=5)
    only_b = catalog.create_job("only-b", {}, 1, seed=0, priority=9, rigs=["rig-b"])
    assert catalog.claim_next("rig-a", 60).job_id == high.id
    catalog.set_job_state(low.id, JobState.PAUSED, "operator")
    assert catalog.claim_next("rig-a", 60) is None
    assert catalog.claim_next("rig-b", 60).job_id == only_b.id
    catalog.set_job_state(low.id, JobState.QUEUED)
    assert catalog.claim_next("rig-a", 60).job_id == low.id
    kinds = [e.kind for e in catalog.list_events(job_id=low.id)]
    assert kinds == ["job.state", "job.state"]


def test_invalid_transitions_are_refused_with_the_allowed_ones(catalog):
    job = catalog.create_job("j", {}, 1, seed=0)
    catalog.set_job_state(job.id, JobState.CANCELLED, "not needed")
    with pytest.raises(InvalidTransition, match="cancelled; it cannot become running"):
        catalog.set_job_state(job.id, JobState.RUNNING)
    with pytest.raises(NotFound):
        catalog.set_job_state(9999, JobState.PAUSED)


def test_bad_job_and_tone_input_is_rejected(catalog, rigs, make_take):
    with pytest.raises(ValueError, match="count must be >= 0"):
        catalog.create_job("j", {}, -1, seed=0)
    with pytest.raises(ValueError, match="'j': priority, seed belong in the job's columns"):
        catalog.create_job("j", {"seed": 1, "priority": 2}, 1, seed=1)  # stored once
    catalog.create_job("j", {}, 1, seed=0)
    claim = catalog.claim_next("rig-a", 60)
    take = make_take(claim)
    with pytest.raises(ValueError, match="59 bytes"):
        catalog.record_take(type(take)(**{**_fields(take), "tone": b"short"}))
    assert catalog.list_samples(claim.job_id)[0].state == SampleState.CLAIMED


def _fields(take):
    return {name: getattr(take, name) for name in take.__slots__}


def test_progress_counts_rate_and_eta(catalog, rigs, make_take):
    job = catalog.create_job("j", {}, 10, seed=0)
    t0 = utcnow()
    claims = [catalog.claim_next("rig-a" if i < 3 else "rig-b", 60, now=t0) for i in range(5)]
    for i, claim in enumerate(claims[:4]):
        catalog.record_takes([make_take(claim)], now=t0 + timedelta(seconds=i))
    progress = catalog.job_progress(job.id, now=t0 + timedelta(seconds=4))
    assert (progress.pending, progress.claimed, progress.captured, progress.failed) == (5, 1, 4, 0)
    # 4 takes over the 4 s since the oldest of them: 1 take/s, 6 left
    assert progress.rate_per_s == pytest.approx(1.0)
    assert progress.eta_s == pytest.approx(6.0)
    assert progress.rate_by_rig == pytest.approx({"rig-a": 0.75, "rig-b": 0.25})


def test_a_finished_jobs_rate_is_its_rate_up_to_the_finish(catalog, rigs, make_take):
    job = catalog.create_job("j", {}, 4, seed=0)
    t0 = utcnow() - timedelta(hours=1)
    claims = [catalog.claim_next("rig-a", 60, now=t0) for _ in range(4)]
    for i, claim in enumerate(claims):
        catalog.record_takes([make_take(claim)], now=t0 + timedelta(seconds=i + 1))
    progress = catalog.job_progress(job.id)  # an hour later
    assert progress.state == JobState.COMPLETED
    assert progress.rate_per_s == pytest.approx(4 / 3)  # 4 takes in the 3 s the job took


def test_broken_take_requeues_its_sample_and_reopens_the_job(catalog, rigs, make_take):
    job = catalog.create_job("j", {}, 1, seed=0)
    claim = catalog.claim_next("rig-a", 60)
    take_id = catalog.record_take(make_take(claim))
    assert catalog.get_job(job.id).state == JobState.COMPLETED
    assert catalog.mark_take_broken(take_id, "audio file missing")
    assert not catalog.mark_take_broken(take_id, "again")
    reopened = catalog.get_job(job.id)
    assert (reopened.state, reopened.captured) == (JobState.RUNNING, 0)
    again = catalog.claim_next("rig-b", 60)
    assert (again.index, again.attempt) == (0, 2)
    catalog.record_take(make_take(again))
    assert catalog.get_job(job.id).state == JobState.COMPLETED


def test_takes_by_rig_follows_recorded_and_broken_takes(catalog, rigs, make_take):
    """The per-rig counters agree with the takes themselves, per job, through one batch
    that mixes jobs and rigs and through a take retired as broken."""
    first = catalog.create_job("first", {}, 3, seed=0)
    second = catalog.create_job("second", {}, 2, seed=0)
    claims = [catalog.claim_next(rig, 60) for rig in ("rig-a", "rig-b", "rig-a", "rig-b")]
    assert [c.job_id for c in claims] == [first.id] * 3 + [second.id]
    take_ids = catalog.record_takes([make_take(c) for c in claims])
    assert catalog.takes_by_rig(first.id) == {"rig-a": 2, "rig-b": 1}
    assert catalog.takes_by_rig(second.id) == {"rig-b": 1}

    assert catalog.mark_take_broken(take_ids[0], "audio file missing")
    assert catalog.takes_by_rig(first.id) == {"rig-a": 1, "rig-b": 1}
    again = catalog.claim_next("rig-b", 60)
    assert (again.job_id, again.index) == (first.id, 0)
    catalog.record_take(make_take(again))
    assert catalog.takes_by_rig(first.id) == {"rig-a": 1, "rig-b": 2}
    assert catalog.takes_by_rig(second.id) == {"rig-b": 1}
