"""Jobs and the work queue: submitting jobs, claiming samples under leases, recording takes.

Samples are created lazily, one row per claim (see :mod:`db.schema`): a claim first looks for
a sample row that came back (released, retried, or whose lease expired), then hands out the
job's next fresh index by bumping ``jobs.next_index`` atomically. On PostgreSQL the first
step locks the row with ``FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on each
other's candidates; the second is a single ``UPDATE ... WHERE next_index < count
RETURNING``, which PostgreSQL re-checks after any concurrent update of the row, so no index is
handed out twice. On SQLite the whole claim runs under ``BEGIN IMMEDIATE``.

Recording a take checks the claim's fencing token (``attempts``) and owner, marks the sample
captured, inserts the take and bumps the job's counters in one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, case, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from db.records import (
    JOB_FACTS,
    ClaimedSample,
    InvalidTransition,
    JobInfo,
    LeaseLost,
    NewTake,
    SampleInfo,
    job_facts,
)
from db.schema import (
    FINAL_JOB_STATES,
    RUNNABLE_JOB_STATES,
    Job,
    JobRigTakes,
    JobSpecRow,
    JobState,
    QcCode,
    Rig,
    Sample,
    SampleState,
    Take,
    parameter_column_name,
    utcnow,
)
from db.unit import UnitOfWork, insert_event, live_job
from firmware_protocol.parameters import APR_TONE_LENGTH, TONE_PARAMETERS

#: Job state changes an operator (or the engine) may ask for; completion is automatic.
ALLOWED_TRANSITIONS: dict[JobState, tuple[JobState, ...]] = {
    JobState.QUEUED: (JobState.PAUSED, JobState.CANCELLED, JobState.FAILED),
    JobState.RUNNING: (JobState.PAUSED, JobState.CANCELLED, JobState.FAILED),
    JobState.PAUSED: (JobState.QUEUED, JobState.RUNNING, JobState.CANCELLED, JobState.FAILED),
    JobState.COMPLETED: (),
    JobState.FAILED: (),
    JobState.CANCELLED: (),
}
_OPEN_JOB_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.PAUSED)


def _job_info(row: Row[Any]) -> JobInfo:
    return JobInfo(
        id=row.id,
        name=row.name,
        spec=row.spec,
        state=row.state,
        state_reason=row.state_reason,
        priority=row.priority,
        seed=row.seed,
        count=row.count,
        captured=row.captured_count,
        failed=row.failed_count,
        max_attempts=row.max_attempts,
        rigs=row.rigs,
        created_by=row.created_by,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _check_tone(tone: bytes, where: str) -> None:
    if len(tone) != APR_TONE_LENGTH:
        raise ValueError(f"{where}: a tone is {APR_TONE_LENGTH} bytes, got {len(tone)}")


def _build_bump_counters() -> Any:
    """Add to a job's counters and complete it when every sample is captured or failed.

    Built once with bound parameters: recording is the hot path, and building SQLAlchemy
    expressions per call costs more than executing them.
    """
    captured, failed = bindparam("b_captured", type_=Integer), bindparam("b_failed", type_=Integer)
    now = bindparam("b_now", type_=Job.updated_at.type)
    done = (Job.captured_count + captured + Job.failed_count + failed) >= Job.count
    completes = and_(done, Job.state.in_(_OPEN_JOB_STATES))
    return (
        update(Job)
        .where(Job.id == bindparam("b_job_id"))
        .values(
            captured_count=Job.captured_count + captured,
            failed_count=Job.failed_count + failed,
            state=case((completes, literal(JobState.COMPLETED, Job.state.type)), else_=Job.state),
            finished_at=case((completes, now), else_=Job.finished_at),
            updated_at=now,
        )
    )


def _build_capture() -> Any:
    """Mark a sample captured, but only under the claim that leased it (the fencing check)."""
    return (
        update(Sample)
        .where(
            Sample.id == bindparam("b_sample_id"),
            Sample.state == SampleState.CLAIMED,
            Sample.attempts == bindparam("b_attempt"),
            Sample.lease_owner_id == bindparam("b_rig_id"),
        )
        .values(
            state=SampleState.CAPTURED,
            tone=bindparam("b_tone", type_=Sample.tone.type),
            notes=bindparam("b_notes", type_=Sample.notes.type),
            lease_owner_id=None,
            lease_expires_at=None,
            updated_at=bindparam("b_now", type_=Sample.updated_at.type),
        )
    )


_BUMP_COUNTERS = _build_bump_counters()
_CAPTURE = _build_capture()
_INSERT_TAKES = insert(Take).returning(Take.id, sort_by_parameter_order=True)


def _bump_job_counters(
    connection: Connection, job_id: int, now: datetime, captured: int = 0, failed: int = 0
) -> None:
    connection.execute(
        _BUMP_COUNTERS,
        {"b_job_id": job_id, "b_captured": captured, "b_failed": failed, "b_now": now},
    )


def _build_count_rig_takes(dialect: Any) -> Any:
    """Add to a (job, rig) take counter, creating the rig's row with its first take.

    ``INSERT .. ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL say it alike) is atomic where
    an update-then-insert would race between two workers' first takes on PostgreSQL. Built
    once per dialect with bound parameters, as the other hot-path statements are.
    """
    upsert = dialect.insert(JobRigTakes).values(
        job_id=bindparam("b_job_id"), rig_id=bindparam("b_rig_id"), takes=bindparam("b_takes")
    )
    return upsert.on_conflict_do_update(
        index_elements=[JobRigTakes.job_id, JobRigTakes.rig_id],
        set_={"takes": JobRigTakes.takes + upsert.excluded.takes},
    )


_COUNT_RIG_TAKES = {
    name: _build_count_rig_takes(d) for name, d in (("sqlite", sqlite), ("postgresql", postgresql))
}


def _count_rig_takes(connection: Connection, counts: dict[tuple[int, int], int]) -> None:
    rows = [
        {"b_job_id": job_id, "b_rig_id": rig_id, "b_takes": count}
        for (job_id, rig_id), count in sorted(counts.items())
    ]
    connection.execute(_COUNT_RIG_TAKES[connection.dialect.name], rows)


class WorkQueue(UnitOfWork):
    """Jobs, claims, leases and takes (mixed into :class:`db.catalog.Catalog`)."""

    # -- jobs ---------------------------------------------------------------------------
    def create_job(
        self,
        name: str,
        spec: dict[str, Any],
        count: int,
        seed: int,
        *,
        priority: int = 0,
        rigs: Sequence[str] | None = None,
        max_attempts: int = 3,
        created_by: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> JobInfo:
        """Store a validated job spec; its samples come into being as rigs claim them.
        ``spec`` is the spec without the job's own facts (:data:`JOB_FACTS`), which are the
        row's columns only, so a change (of priority) is made once and read alike everywhere.
        ``summary`` (default: the spec) is what the job row, lists and pages show."""
        where = f"job {name!r}"
        stored_twice = sorted(JOB_FACTS & (spec.keys() | (summary or {}).keys()))
        if stored_twice:
            raise ValueError(f"{where}: {', '.join(stored_twice)} belong in the job's columns")
        if count < 0:
            raise ValueError(f"{where}: count must be >= 0, got {count}")
        if max_attempts < 1:
            raise ValueError(f"{where}: max_attempts must be >= 1, got {max_attempts}")
        now = utcnow()
        with self._write() as connection:
            row = connection.execute(
                insert(Job)
                .values(
                    name=name,
                    spec=spec if summary is None else summary,
                    state=JobState.COMPLETED if count == 0 else JobState.QUEUED,
                    priority=priority,
                    seed=seed,
                    count=count,
                    next_index=0,
                    captured_count=0,
                    failed_count=0,
                    max_attempts=max_attempts,
                    rigs=list(rigs) if rigs is not None else None,
                    created_by=created_by,
                    created_at=now,
                    finished_at=now if count == 0 else None,
                    updated_at=now,
                )
                .returning(*Job.__table__.c)
            ).one()
            connection.execute(insert(JobSpecRow).values(job_id=row.id, spec=spec))
            return _job_info(row)

    def get_job_spec(self, job_id: int) -> dict[str, Any]:
        """The job's whole spec: as stored at submit (its row holds only a summary), with the
        job's own facts (:data:`JOB_FACTS`) as its columns hold them now."""
        with self._read() as connection:
            spec = connection.execute(
                select(JobSpecRow.spec).where(JobSpecRow.job_id == job_id)
            ).scalar()
            job = live_job(job_id, connection.execute(select(Job).where(Job.id == job_id)).first())
        return {**spec, **job_facts(_job_info(job))}

    def get_job(self, job_id: int, *, include_deleted: bool = False) -> JobInfo:
        """The job. ``include_deleted``: also one deleted with its takes kept, whose row is
        their provenance (seed, spec summary): for readers of takes, not of jobs."""
        with self._read() as connection:
            row = connection.execute(select(Job).where(Job.id == job_id)).first()
        if include_deleted and row is not None:
            return _job_info(row)
        return _job_info(live_job(job_id, row))

    def list_jobs(
        self, states: Sequence[JobState] | None = None, *, after_id: int = 0, limit: int = 100
    ) -> list[JobInfo]:
        """Jobs in id order (keyset: pass the last id seen as ``after_id``)."""
        query = (
            select(Job)
            .where(Job.id > after_id, Job.deleted_at.is_(None))
            .order_by(Job.id)
            .limit(limit)
        )
        if states:
            query = query.where(Job.state.in_(states))
        with self._read() as connection:
            return [_job_info(row) for row in connection.execute(query)]

    def set_job_state(
        self, job_id: int, state: JobState, reason: str | None = None, *, by: str | None = None
    ) -> JobInfo:
        """Pause, resume (to queued/running), cancel or fail a job; logged as an event that
        says who (``by``: a token's name, a user, a rig) and why."""
        now = utcnow()
        with self._write() as connection:
            current = self._live_job(connection, job_id, Job.state).state
            if state not in ALLOWED_TRANSITIONS[current]:
                allowed = ", ".join(ALLOWED_TRANSITIONS[current]) or "none (the job is over)"
                raise InvalidTransition(
                    f"job {job_id} is {current}; it cannot become {state} (allowed: {allowed})"
                )
            row = connection.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    state=state,
                    state_reason=reason,
                    updated_at=now,
                    finished_at=now if state in FINAL_JOB_STATES else None,
                )
                .returning(*Job.__table__.c)
            ).one()
            insert_event(
                connection,
                now,
                "job.state",
                f"job {job_id}: {current} -> {state}"
                + (f" by {by}" if by else "")
                + (f" ({reason})" if reason else ""),
                level="warning" if state == JobState.FAILED else "info",
                job_id=job_id,
                data={"from": current.value, "to": state.value, "reason": reason, "by": by},
            )
            return _job_info(row)

    def set_job_priority(self, job_id: int, priority: int) -> JobInfo:
        with self._write() as connection:
            row = connection.execute(
                update(Job)
                .where(Job.id == job_id, Job.deleted_at.is_(None))
                .values(priority=priority, updated_at=utcnow())
                .returning(*Job.__table__.c)
            ).first()
            if row is None:
                self._live_job(connection, job_id)  # raises: no such job, or a deleted one
        return _job_info(row)

    # -- claims and leases --------------------------------------------------------------
    def claim_next(
        self,
        rig: str,
        lease_s: float,
        *,
        job_id: int | None = None,
        now: datetime | None = None,
    ) -> ClaimedSample | None:
        """Lease the next sample ``rig`` may capture (highest priority, oldest job first;
        only of job ``job_id`` if given)."""
        now = now or utcnow()
        expires = now + timedelta(seconds=lease_s)
        query = (
            select(Job.id, Job.seed, Job.rigs)
            .where(Job.state.in_(RUNNABLE_JOB_STATES))
            .order_by(Job.priority.desc(), Job.id)
        )
        if job_id is not None:
            query = query.where(Job.id == job_id)
        with self._write() as connection:
            rig_id = self._rig_id(connection, rig)
            jobs = connection.execute(query).all()
            for job in jobs:
                if job.rigs is not None and rig not in job.rigs:
                    continue
                claimed = self._claim_returned(connection, job.id, rig_id, now, expires)
                if claimed is None:
                    claimed = self._claim_fresh(connection, job.id, rig_id, now, expires)
                if claimed is not None:
                    sample_id, index, attempt = claimed
                    return ClaimedSample(
                        sample_id, job.id, index, job.seed, attempt, rig, rig_id, expires
                    )
        return None

    @staticmethod
    def _claim_returned(
        connection: Connection, job_id: int, rig_id: int, now: datetime, expires: datetime
    ) -> tuple[int, int, int] | None:
        """A sample row given back (released, to retry, or its lease expired)."""
        candidate = connection.execute(
            select(Sample.id, Sample.index, Sample.attempts)
            .where(
                Sample.job_id == job_id,
                or_(
                    Sample.state == SampleState.PENDING,
                    and_(Sample.state == SampleState.CLAIMED, Sample.lease_expires_at < now),
                ),
            )
            .order_by(Sample.index)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if candidate is None:
            return None
        connection.execute(
            update(Sample)
            .where(Sample.id == candidate.id)
            .values(
                state=SampleState.CLAIMED,
                lease_owner_id=rig_id,
                lease_expires_at=expires,
                attempts=candidate.attempts + 1,
                updated_at=now,
            )
        )
        return candidate.id, candidate.index, candidate.attempts + 1

    @staticmethod
    def _claim_fresh(
        connection: Connection, job_id: int, rig_id: int, now: datetime, expires: datetime
    ) -> tuple[int, int, int] | None:
        """The job's next never-claimed index, or None when all have been handed out."""
        next_index = connection.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.next_index < Job.count,
                Job.state.in_(RUNNABLE_JOB_STATES),
            )
            .values(
                next_index=Job.next_index + 1,
                state=JobState.RUNNING,
                started_at=func.coalesce(Job.started_at, literal(now, Job.started_at.type)),
                updated_at=now,
            )
            .returning(Job.next_index)
        ).scalar()
        if next_index is None:
            return None
        index = next_index - 1
        sample_id = connection.execute(
            insert(Sample)
            .values(
                job_id=job_id,
                index=index,
                state=SampleState.CLAIMED,
                lease_owner_id=rig_id,
                lease_expires_at=expires,
                attempts=1,
                updated_at=now,
            )
            .returning(Sample.id)
        ).scalar_one()
        return sample_id, index, 1

    @staticmethod
    def _holds(claim: ClaimedSample) -> Any:
        """SQL condition: the sample is still leased under this very claim."""
        return and_(
            Sample.id == claim.sample_id,
            Sample.state == SampleState.CLAIMED,
            Sample.attempts == claim.attempt,
            Sample.lease_owner_id == claim.rig_id,
        )

    def extend_lease(
        self, claim: ClaimedSample, lease_s: float, *, now: datetime | None = None
    ) -> ClaimedSample:
        """Push the lease forward; raises :class:`LeaseLost` if another claim took over."""
        expires = (now or utcnow()) + timedelta(seconds=lease_s)
        with self._write() as connection:
            result = connection.execute(
                update(Sample)
                .where(self._holds(claim))
                .values(lease_expires_at=expires, updated_at=now or utcnow())
            )
            if result.rowcount != 1:
                raise LeaseLost(f"sample {claim.job_id}/{claim.index}: lease of {claim.rig} lost")
        return ClaimedSample(
            claim.sample_id,
            claim.job_id,
            claim.index,
            claim.seed,
            claim.attempt,
            claim.rig,
            claim.rig_id,
            expires,
        )

    def release(self, claim: ClaimedSample) -> bool:
        """Give a claimed sample back untouched (e.g. the worker is stopping before capture)."""
        with self._write() as connection:
            result = connection.execute(
                update(Sample)
                .where(self._holds(claim))
                .values(
                    state=SampleState.PENDING,
                    lease_owner_id=None,
                    lease_expires_at=None,
                    updated_at=utcnow(),
                )
            )
            return result.rowcount == 1

    def release_claims(self, job_id: int, reason: str) -> int:
        """Take back every lease on a job's samples (e.g. it was cancelled); returns how many.

        The samples go back to pending; their holders' next ``extend_lease`` or record raises
        :class:`LeaseLost`, which is how a worker learns to stop at its next take boundary.
        """
        now = utcnow()
        with self._write() as connection:
            return connection.execute(
                update(Sample)
                .where(Sample.job_id == job_id, Sample.state == SampleState.CLAIMED)
                .values(
                    state=SampleState.PENDING,
                    lease_owner_id=None,
                    lease_expires_at=None,
                    last_error=reason,
                    last_error_code=None,
                    updated_at=now,
                )
            ).rowcount

    def fail_sample(
        self,
        claim: ClaimedSample,
        reason: str,
        *,
        tone: bytes | None = None,
        retry: bool = True,
        code: QcCode | None = None,
    ) -> SampleState:
        """Record a failed attempt (why, and its kind: ``code``): back to pending while
        attempts remain, else failed."""
        if tone is not None:
            _check_tone(tone, f"sample {claim.job_id}/{claim.index}")
        now = utcnow()
        with self._write() as connection:
            max_attempts = connection.execute(
                select(Job.max_attempts).where(Job.id == claim.job_id)
            ).scalar_one()
            final = not retry or claim.attempt >= max_attempts
            state = SampleState.FAILED if final else SampleState.PENDING
            result = connection.execute(
                update(Sample)
                .where(self._holds(claim))
                .values(
                    state=state,
                    lease_owner_id=None,
                    lease_expires_at=None,
                    last_error=reason,
                    last_error_code=code,
                    tone=tone if tone is not None else Sample.tone,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:
                raise LeaseLost(f"sample {claim.job_id}/{claim.index}: lease of {claim.rig} lost")
            if final:
                _bump_job_counters(connection, claim.job_id, now, failed=1)
            return state

    def requeue_expired(self, *, now: datetime | None = None) -> int:
        """Return every sample whose lease ran out (its worker vanished) to the queue."""
        now = now or utcnow()
        with self._write() as connection:
            result = connection.execute(
                update(Sample)
                .where(Sample.state == SampleState.CLAIMED, Sample.lease_expires_at < now)
                .values(
                    state=SampleState.PENDING,
                    lease_owner_id=None,
                    lease_expires_at=None,
                    last_error="lease expired",
                    last_error_code=None,
                    updated_at=now,
                )
            )
            return result.rowcount

    def list_samples(
        self,
        job_id: int,
        state: SampleState | None = None,
        *,
        after_index: int = -1,
        limit: int = 100,
    ) -> list[SampleInfo]:
        """Sample rows of a job in index order (e.g. the failed ones with their reasons)."""
        query = (
            select(Sample, Rig.name.label("owner"))
            .outerjoin(Rig, Rig.id == Sample.lease_owner_id)
            .where(Sample.job_id == job_id, Sample.index > after_index)
            .order_by(Sample.index)
            .limit(limit)
        )
        if state is not None:
            query = query.where(Sample.state == state)
        with self._read() as connection:
            return [
                SampleInfo(
                    r.id,
                    r.job_id,
                    r.index,
                    r.state,
                    r.attempts,
                    r.owner,
                    r.lease_expires_at,
                    r.last_error,
                    r.tone,
                    r.last_error_code,
                )
                for r in connection.execute(query)
            ]

    def takes_by_rig(self, job_id: int) -> dict[str, int]:
        """Intact takes of a job per rig name (rigs with none are left out)."""
        with self._read() as connection:
            rows = connection.execute(
                select(Rig.name, JobRigTakes.takes)
                .join(Rig, Rig.id == JobRigTakes.rig_id)
                .where(JobRigTakes.job_id == job_id, JobRigTakes.takes > 0)
            ).all()
        return {name: count for name, count in rows}

    # -- takes --------------------------------------------------------------------------
    def record_take(self, take: NewTake, *, now: datetime | None = None) -> int:
        """Insert a take and mark its sample captured, atomically; returns the take id.

        Raises :class:`LeaseLost` (and records nothing) if the claim is no longer current.
        """
        (take_id,) = self.record_takes([take], now=now)
        if take_id is None:
            claim = take.claim
            raise LeaseLost(f"sample {claim.job_id}/{claim.index}: lease of {claim.rig} lost")
        return take_id

    def record_takes(
        self, takes: Sequence[NewTake], *, now: datetime | None = None
    ) -> list[int | None]:
        """Record several takes in one transaction (a writer thread's backlog).

        Returns each take's id, or None where its lease was lost (that take is not recorded;
        its audio file becomes an orphan for ``verify --repair``).
        """
        now = now or utcnow()
        for take in takes:
            _check_tone(take.tone, f"take of sample {take.claim.job_id}/{take.claim.index}")
        with self._write() as connection:
            accepted: list[NewTake] = []
            for take in takes:
                claim = take.claim
                result = connection.execute(
                    _CAPTURE,
                    {
                        "b_sample_id": claim.sample_id,
                        "b_attempt": claim.attempt,
                        "b_rig_id": claim.rig_id,
                        "b_tone": take.tone,
                        "b_notes": take.notes,
                        "b_now": now,
                    },
                )
                if result.rowcount == 1:
                    accepted.append(take)
            ids: dict[int, int] = {}
            if accepted:
                rows = connection.execute(
                    _INSERT_TAKES,
                    [_take_row(take, now) for take in accepted],
                ).all()
                ids = {
                    take.claim.sample_id: row.id for take, row in zip(accepted, rows, strict=True)
                }
                per_job: dict[int, int] = defaultdict(int)
                per_rig: dict[tuple[int, int], int] = defaultdict(int)
                for take in accepted:
                    per_job[take.claim.job_id] += 1
                    per_rig[take.claim.job_id, take.claim.rig_id] += 1
                for job_id, count in sorted(per_job.items()):
                    _bump_job_counters(connection, job_id, now, captured=count)
                _count_rig_takes(connection, per_rig)
        return [ids.get(take.claim.sample_id) for take in takes]


def _take_row(take: NewTake, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sample_id": take.claim.sample_id,
        "job_id": take.claim.job_id,
        "rig_id": take.claim.rig_id,
        "audio_key": take.audio.key,
        "sha256": take.audio.sha256,
        "sample_rate": take.audio.sample_rate,
        "channels": take.audio.channels,
        "frames": take.audio.frames,
        "lane": take.lane,
        "onset_latency_s": take.onset_latency_s,
        "peak": take.peak,
        "rms": take.rms,
        "qc_verdict": take.qc_verdict,
        "qc_reasons": list(take.qc_reasons),
        "software_version": take.software_version,
        "firmware_version": take.firmware_version,
        "captured_at": take.captured_at,
        "recorded_at": now,
        "broken_at": None,
        "broken_reason": None,
    }
    for parameter in TONE_PARAMETERS:
        row[parameter_column_name(parameter.key)] = take.tone[parameter.apr_index]
    return row
