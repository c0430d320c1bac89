"""Jobs: submission, control, history and progress; the logic the CLI and the REST API wrap.

Control follows Bluesky's queue server: a pause is deferred to a safe point, here a take
boundary. A paused job hands out no more samples (``claim_next`` only serves queued and
running jobs), while rigs finish and record the takes they hold. Cancelling is for good: the
job's leases are taken back at once, so a rig's next lease extension or record for it fails
and the rig moves on at its next take boundary; takes recorded so far are kept.
Every state change is logged as a ``job.state`` event by the catalog, with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daq.banks import BankFiles
from daq.spec import MAX_PRIORITY, MIN_PRIORITY, JobSpec, summary, validate_spec
from db.catalog import Catalog
from db.records import EventInfo, InvalidTransition, JobInfo, Progress, SampleInfo
from db.schema import FINAL_JOB_STATES, JobState, SampleState, utcnow

#: Claimed samples looked at for the per-rig breakdown (one per busy rig in practice).
MAX_CLAIMS_SHOWN = 1000
#: Failed samples a job report lists with their reasons (``job.failed`` counts them all).
FAILURES_SHOWN = 10


def submit_job(
    catalog: Catalog,
    spec: JobSpec | Mapping[str, Any],
    created_by: str | None = None,
    *,
    banks: BankFiles | None = None,
) -> JobInfo:
    """Validate and store a job (its banks' bytes included, so it never reads a file again);
    its samples are generated as rigs claim them. The one way in for the API, the CLI and
    programs alike: a :class:`JobSpec` is validated again, as the API validates a body, so
    one changed past its validation (``model_copy(update=...)``) is refused the same way.
    ``banks``: where bank names in ``spec`` are read. Raises pydantic's ``ValidationError``."""
    data = spec.model_dump(mode="json") if isinstance(spec, JobSpec) else spec
    spec = validate_spec(data, banks)
    rigs = None if spec.rigs == "any" else list(spec.rigs)
    assert spec.count is not None  # a validated spec always says it
    return catalog.create_job(
        spec.name,
        spec.body(),
        spec.count,
        spec.seed,
        priority=spec.priority,
        rigs=rigs,
        created_by=created_by,
        summary=summary(spec),
    )


# -- control ----------------------------------------------------------------------------
def _change(
    catalog: Catalog,
    job_id: int,
    action: str,
    target: JobState,
    reason: str | None,
    by: str | None,
) -> JobInfo:
    """Apply a transition the catalog checks atomically; refuse it in the user's terms."""
    try:
        return catalog.set_job_state(job_id, target, reason, by=by)
    except InvalidTransition:
        current = catalog.get_job(job_id).state
        raise InvalidTransition(_refusal(job_id, current, action, target)) from None


def _refusal(job_id: int, current: JobState, action: str, target: JobState) -> str:
    if current in FINAL_JOB_STATES:
        why = "it is over"
    elif action == "resume":
        why = "only a paused job can be resumed"
    else:
        why = f"it is {current} already" if current == target else "not from this state"
    return f"job {job_id} is {current}: cannot {action} it (to {target}); {why}"


def pause_job(
    catalog: Catalog, job_id: int, reason: str | None = None, *, by: str | None = None
) -> JobInfo:
    """Stop handing out the job's samples; takes already in hand are finished and kept.
    ``by`` (here and below) names who asked, for the job's history."""
    return _change(catalog, job_id, "pause", JobState.PAUSED, reason, by)


def resume_job(
    catalog: Catalog, job_id: int, reason: str | None = None, *, by: str | None = None
) -> JobInfo:
    """Put a paused job back in the queue (running again if it had started)."""
    job = catalog.get_job(job_id)
    target = JobState.QUEUED if job.started_at is None else JobState.RUNNING
    if job.state != JobState.PAUSED:  # the catalog would allow nothing else either
        raise InvalidTransition(_refusal(job_id, job.state, "resume", target))
    return _change(catalog, job_id, "resume", target, reason, by)


def cancel_job(
    catalog: Catalog, job_id: int, reason: str | None = None, *, by: str | None = None
) -> JobInfo:
    """End the job for good: its leases are taken back, so rigs stop at the next take."""
    job = _change(catalog, job_id, "cancel", JobState.CANCELLED, reason, by)
    catalog.release_claims(job_id, "job cancelled" + (f": {reason}" if reason else ""))
    return job


def set_priority(catalog: Catalog, job_id: int, priority: int, *, by: str | None = None) -> JobInfo:
    """Higher first; applies from the rigs' next claim. A job that is over keeps its own."""
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority {priority}: allowed {MIN_PRIORITY}..{MAX_PRIORITY}")
    job = catalog.get_job(job_id)
    if job.state in FINAL_JOB_STATES:
        raise InvalidTransition(
            f"job {job_id} is {job.state}: cannot change its priority; it is over"
        )
    if priority == job.priority:
        return job
    changed = catalog.set_job_priority(job_id, priority)
    catalog.log_event(
        "job.priority",
        f"job {job_id}: priority {job.priority} -> {priority}" + (f" by {by}" if by else ""),
        job_id=job_id,
        data={"from": job.priority, "to": priority, "by": by},
    )
    return changed


# -- reading ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class JobHistory:
    """A page of a job's events (state changes, priority, faults, drift) in order, and its
    failed samples with the reason of their last attempt."""

    job: JobInfo
    events: list[EventInfo]
    #: Pass back as ``after_event_id`` for the next page; None on the last page.
    next_event_id: int | None
    failures: list[SampleInfo]


def job_history(
    catalog: Catalog,
    job_id: int,
    *,
    after_event_id: int = 0,
    limit: int = 100,
    failures_limit: int = 100,
) -> JobHistory:
    """What happened to a job: events after ``after_event_id`` and the first failed samples
    (``job.failed`` says how many there are in all)."""
    job = catalog.get_job(job_id)
    events = catalog.list_events(job_id=job_id, after_id=after_event_id, limit=limit + 1)
    failures = catalog.list_samples(job_id, SampleState.FAILED, limit=failures_limit)
    more = len(events) > limit
    return JobHistory(job, events[:limit], events[limit - 1].id if more else None, failures)


@dataclass(frozen=True, slots=True)
class RigShare:
    """One rig's part in a job: takes recorded, samples it holds now, its recent rate."""

    rig: str
    takes: int
    claimed: int
    rate_per_s: float


@dataclass(frozen=True, slots=True)
class JobReport:
    """Everything an operator asks of a running job, read at ``at``."""

    job: JobInfo
    progress: Progress
    rigs: list[RigShare]
    at: datetime
    #: The first failed samples, each with the reason its last attempt failed.
    failures: list[SampleInfo]

    @property
    def fraction_done(self) -> float:
        total = self.progress.count
        return 1.0 if total == 0 else self.progress.done / total


def job_report(catalog: Catalog, job_id: int, *, now: datetime | None = None) -> JobReport:
    """Progress, rate and ETA (from the catalog's recent takes), the per-rig breakdown and
    the first failed samples with their reasons."""
    now = now or utcnow()
    job = catalog.get_job(job_id)
    progress = catalog.job_progress(job_id, now=now)
    takes = catalog.takes_by_rig(job_id)
    claimed: dict[str, int] = {}
    for sample in catalog.list_samples(job_id, SampleState.CLAIMED, limit=MAX_CLAIMS_SHOWN):
        if sample.lease_owner is not None:
            claimed[sample.lease_owner] = claimed.get(sample.lease_owner, 0) + 1
    names = sorted(set(takes) | set(claimed) | set(progress.rate_by_rig))
    rigs = [
        RigShare(
            name, takes.get(name, 0), claimed.get(name, 0), progress.rate_by_rig.get(name, 0.0)
        )
        for name in names
    ]
    failures = catalog.list_samples(job_id, SampleState.FAILED, limit=FAILURES_SHOWN)
    return JobReport(job, progress, rigs, now, failures)


def describe(progress: Progress) -> str:
    """One line a person reads: ``120/200 captured, 2 failed, 48.1 takes/s, ETA 2s``."""
    eta = "" if progress.eta_s is None else f", ETA {progress.eta_s:.0f} s"
    return (
        f"{progress.captured}/{progress.count} captured, {progress.failed} failed, "
        f"{progress.rate_per_s:.1f} takes/s{eta} [{progress.state}]"
    )
