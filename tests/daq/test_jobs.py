"""Job control, history and reports (daq.jobs) on SQLite and PostgreSQL.

Workers are played by direct catalog calls (claim, record, fail), so each test sets up the
exact moment it is about: a take in hand when a job pauses, a lease held when it is cancelled.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from catalog_support import catalog_url  # noqa: F401  (fixture)
from pydantic import ValidationError

from daq.jobs import (
    cancel_job,
    job_history,
    job_report,
    pause_job,
    resume_job,
    set_priority,
)
from daq.spec import MAX_PRIORITY, JobSpec
from db.catalog import Catalog
from db.engine import make_engine
from db.migrate import upgrade
from db.records import AudioRef, ClaimedSample, InvalidTransition, LeaseLost, NewTake, NotFound
from db.schema import JobState, QcVerdict, SampleState, utcnow
from db.store import key_for
from firmware_protocol.tone import INIT_TONE


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:  # noqa: F811  (the fixture)
    engine = make_engine(catalog_url)
    upgrade(engine)
    catalog = Catalog(engine)
    for rig in ("rig-a", "rig-b"):
        catalog.upsert_rig(rig, "emulator")
    yield catalog
    catalog.close()


def take(claim: ClaimedSample) -> NewTake:
    sha = hashlib.sha256(f"{claim.job_id}/{claim.index}/{claim.attempt}".encode()).hexdigest()
    return NewTake(
        claim=claim,
        tone=INIT_TONE.data,
        audio=AudioRef(key_for(sha), sha, 44100, 1, 44100),
        qc_verdict=QcVerdict.PASS,
        captured_at=utcnow(),
        software_version="test",
    )


def new_job(catalog: Catalog, count: int = 10, priority: int = 0, name: str = "job") -> int:
    return catalog.create_job(name, {}, count, seed=1, priority=priority).id


# -- pause / resume ---------------------------------------------------------------------
def test_a_paused_job_hands_out_nothing_but_takes_in_hand_are_kept(catalog):
    job = new_job(catalog)
    in_hand = catalog.claim_next("rig-a", 60)
    paused = pause_job(catalog, job, "operator asked")
    assert paused.state == JobState.PAUSED and paused.state_reason == "operator asked"
    assert catalog.claim_next("rig-a", 60) is None  # deferred: no new work ...
    catalog.record_take(take(in_hand))  # ... but the take in hand is finished and kept
    job_now = catalog.get_job(job)
    assert job_now.state == JobState.PAUSED and job_now.captured == 1


def test_other_jobs_go_on_while_one_is_paused(catalog):
    first = new_job(catalog, priority=5, name="first")
    second = new_job(catalog, name="second")
    pause_job(catalog, first)
    assert catalog.claim_next("rig-a", 60).job_id == second


def test_resume_puts_a_started_job_back_to_running_and_a_fresh_one_to_queued(catalog):
    started, fresh = new_job(catalog), new_job(catalog)
    catalog.claim_next("rig-a", 60)
    pause_job(catalog, started)
    pause_job(catalog, fresh)
    assert resume_job(catalog, started, "fixed").state == JobState.RUNNING
    assert resume_job(catalog, fresh).state == JobState.QUEUED
    claim = catalog.claim_next("rig-a", 60)
    assert claim is not None and claim.job_id == started


def test_the_last_take_of_a_paused_job_completes_it(catalog):
    job = new_job(catalog, count=1)
    claim = catalog.claim_next("rig-a", 60)
    pause_job(catalog, job)
    catalog.record_take(take(claim))
    assert catalog.get_job(job).state == JobState.COMPLETED
    with pytest.raises(InvalidTransition, match=f"job {job} is completed: cannot resume"):
        resume_job(catalog, job)


# -- cancel -----------------------------------------------------------------------------
def test_cancel_takes_back_the_leases_so_rigs_stop_at_the_next_take(catalog):
    job = new_job(catalog)
    done = catalog.claim_next("rig-a", 60)
    catalog.record_take(take(done))
    held_a, held_b = catalog.claim_next("rig-a", 60), catalog.claim_next("rig-b", 60)
    cancelled = cancel_job(catalog, job, "wrong spec")
    assert cancelled.state == JobState.CANCELLED and cancelled.finished_at is not None
    for held in (held_a, held_b):
        with pytest.raises(LeaseLost):
            catalog.extend_lease(held, 60)
        with pytest.raises(LeaseLost):
            catalog.record_take(take(held))
    assert catalog.claim_next("rig-a", 60) is None
    samples = {s.index: s for s in catalog.list_samples(job)}
    assert samples[held_a.index].state == SampleState.PENDING
    assert samples[held_a.index].last_error == "job cancelled: wrong spec"
    assert samples[done.index].state == SampleState.CAPTURED  # takes so far are kept
    assert catalog.get_job(job).captured == 1
    report = job_report(catalog, job)
    assert report.progress.claimed == 0 and report.progress.eta_s is None


def test_a_paused_job_can_be_cancelled_but_not_a_cancelled_one_paused(catalog):
    job = new_job(catalog)
    pause_job(catalog, job)
    assert cancel_job(catalog, job).state == JobState.CANCELLED
    with pytest.raises(InvalidTransition) as error:
        pause_job(catalog, job)
    assert str(error.value) == f"job {job} is cancelled: cannot pause it (to paused); it is over"


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ([], resume_job, "is queued: cannot resume it (to queued); only a paused job"),
        (["claim"], resume_job, "is running: cannot resume it (to running); only a paused job"),
        (["pause"], pause_job, "is paused: cannot pause it (to paused); it is paused already"),
        (["cancel"], cancel_job, "is cancelled: cannot cancel it (to cancelled); it is over"),
        (["cancel"], resume_job, "is cancelled: cannot resume it (to queued); it is over"),
    ],
)
def test_illegal_transitions_name_the_job_its_state_and_the_requested_one(
    catalog, setup, action, message
):
    job = new_job(catalog)
    steps = {
        "claim": lambda: catalog.claim_next("rig-a", 60),
        "pause": lambda: pause_job(catalog, job),
        "cancel": lambda: cancel_job(catalog, job),
    }
    for step in setup:
        steps[step]()
    before = catalog.get_job(job)
    with pytest.raises(InvalidTransition, match="^" + re.escape(f"job {job} {message}")):
        action(catalog, job)
    assert catalog.get_job(job) == before  # nothing changed


def test_an_unknown_job_is_not_found(catalog):
    for action in (pause_job, resume_job, cancel_job):
        with pytest.raises(NotFound, match="job 999 does not exist"):
            action(catalog, 999)
    with pytest.raises(NotFound, match="job 999"):
        set_priority(catalog, 999, 3)


# -- priority ---------------------------------------------------------------------------
def test_raising_a_priority_changes_which_job_is_claimed_next(catalog):
    low, high = new_job(catalog, name="low"), new_job(catalog, priority=1, name="high")
    assert catalog.claim_next("rig-a", 60).job_id == high
    assert set_priority(catalog, low, 5).priority == 5
    assert catalog.claim_next("rig-a", 60).job_id == low
    events = [e for e in catalog.list_events(job_id=low) if e.kind == "job.priority"]
    assert [e.data for e in events] == [{"from": 0, "to": 5, "by": None}]


def test_a_job_that_is_over_keeps_its_priority(catalog):
    job = new_job(catalog)
    cancel_job(catalog, job)
    with pytest.raises(InvalidTransition, match=f"job {job} is cancelled: cannot change"):
        set_priority(catalog, job, 9)
    assert catalog.get_job(job).priority == 0


def test_a_priority_out_of_range_is_refused_as_at_submit(catalog):
    """One range for a job's priority: the spec's, the API's and a local change's."""
    job = new_job(catalog)
    with pytest.raises(ValueError, match=r"priority 101: allowed -100\.\.100"):
        set_priority(catalog, job, MAX_PRIORITY + 1)
    with pytest.raises(ValidationError, match="priority"):
        JobSpec.model_validate({"source": {"kind": "uniform"}, "count": 1, "priority": 101})
    assert set_priority(catalog, job, MAX_PRIORITY).priority == 100


# -- history ----------------------------------------------------------------------------
def test_history_lists_state_changes_in_order_and_failures_with_reasons(catalog):
    job = catalog.create_job("h", {}, 5, seed=1, max_attempts=2).id
    first = catalog.claim_next("rig-a", 60)
    catalog.fail_sample(first, "silent: peak -90 dBFS", retry=False)
    pause_job(catalog, job, "drift 4.2 dB")
    resume_job(catalog, job, "recalibrated")
    set_priority(catalog, job, 2)
    history = job_history(catalog, job)
    assert [(e.kind, e.data.get("to")) for e in history.events] == [
        ("job.state", "paused"),
        ("job.state", "running"),
        ("job.priority", 2),
    ]
    assert "drift 4.2 dB" in history.events[0].message
    assert history.next_event_id is None
    assert [(f.index, f.last_error) for f in history.failures] == [
        (first.index, "silent: peak -90 dBFS")
    ]
    assert history.job.failed == 1


def test_history_pages_through_events(catalog):
    job = new_job(catalog)
    for _ in range(3):
        pause_job(catalog, job)
        resume_job(catalog, job)
    seen, after = [], 0
    while True:
        page = job_history(catalog, job, after_event_id=after, limit=4)
        seen += page.events
        if page.next_event_id is None:
            break
        after = page.next_event_id
    assert len(seen) == 6 and len({e.id for e in seen}) == 6
    assert [e.id for e in seen] == sorted(e.id for e in seen)


# -- report -----------------------------------------------------------------------------
def test_report_breaks_progress_down_by_rig(catalog):
    job = new_job(catalog, count=20)
    start = utcnow() - timedelta(seconds=10)
    for i in range(6):  # rig-a records 4 takes, rig-b 2, one per second
        rig = "rig-a" if i % 3 else "rig-b"
        catalog.record_take(take(catalog.claim_next(rig, 60)), now=start + timedelta(seconds=i))
    catalog.claim_next("rig-b", 60)  # rig-b holds one now
    now = start + timedelta(seconds=6)
    report = job_report(catalog, job, now=now)
    assert report.at == now
    assert report.progress.captured == 6 and report.progress.claimed == 1
    assert report.progress.rate_per_s == pytest.approx(1.0)
    assert report.progress.eta_s == pytest.approx(14.0)  # 13 pending + 1 claimed at 1/s
    assert report.fraction_done == pytest.approx(6 / 20)
    shares = {share.rig: share for share in report.rigs}
    assert (shares["rig-a"].takes, shares["rig-a"].claimed) == (4, 0)
    assert (shares["rig-b"].takes, shares["rig-b"].claimed) == (2, 1)
    assert shares["rig-a"].rate_per_s == pytest.approx(4 / 6)
    assert shares["rig-b"].rate_per_s == pytest.approx(2 / 6)


def test_report_of_a_job_nobody_worked_on(catalog):
    job = new_job(catalog)
    report = job_report(catalog, job)
    assert report.rigs == [] and report.progress.rate_per_s == 0.0
    assert report.progress.eta_s is None and report.fraction_done == 0.0
