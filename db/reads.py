"""Reading the catalog fast: job progress, keyset-paginated take queries, take repair.

Both hot reads are bounded work whatever the catalog's size:

* progress reads the job row (counters kept in step by :mod:`db.work`), counts only the
  claimed/returned sample rows (a handful: one per busy rig), and measures the rate over the
  job's last :data:`RATE_WINDOW` takes through the ``(job_id, id)`` index;
* a page of takes walks ``id`` upwards from the cursor with every filter in the same WHERE
  clause; the planner either scans the primary key and stops after ``limit`` matches or, for
  a narrow filter, uses that column's index (see :mod:`db.schema` for why parameters are
  plain indexed columns).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, select, tuple_, update
from sqlalchemy.engine import Row

from db.records import (
    AudioRef,
    NotFound,
    Page,
    Progress,
    TakeFilter,
    TakeInfo,
    decode_cursor,
    encode_cursor,
)
from db.schema import (
    Job,
    JobRigTakes,
    JobState,
    Rig,
    Sample,
    SampleState,
    Take,
    parameter_column_name,
    utcnow,
)
from db.unit import UnitOfWork
from firmware_protocol.parameters import MAX_VALUE, TONE_PARAMETERS

#: Number of most recent takes the rate and ETA are measured over.
RATE_WINDOW = 200
MAX_PAGE = 1000
#: The filter that selects every intact take.
ALL_TAKES = TakeFilter()

_TAKE_COLUMNS = (
    Take.id,
    Take.sample_id,
    Take.job_id,
    Take.audio_key,
    Take.sha256,
    Take.sample_rate,
    Take.channels,
    Take.frames,
    Take.qc_verdict,
    Take.qc_reasons,
    Take.onset_latency_s,
    Take.peak,
    Take.rms,
    Take.software_version,
    Take.firmware_version,
    Take.captured_at,
    Take.recorded_at,
    Take.broken_reason,
    Take.lane,
    Sample.index.label("sample_index"),
    Sample.tone,
    Rig.name.label("rig"),
)


def _take_info(row: Row[Any]) -> TakeInfo:
    return TakeInfo(
        id=row.id,
        sample_id=row.sample_id,
        job_id=row.job_id,
        sample_index=row.sample_index,
        rig=row.rig,
        audio=AudioRef(row.audio_key, row.sha256, row.sample_rate, row.channels, row.frames),
        tone=row.tone,
        qc_verdict=row.qc_verdict,
        qc_reasons=row.qc_reasons,
        onset_latency_s=row.onset_latency_s,
        peak=row.peak,
        rms=row.rms,
        software_version=row.software_version,
        firmware_version=row.firmware_version,
        captured_at=row.captured_at,
        recorded_at=row.recorded_at,
        broken_reason=row.broken_reason,
        lane=row.lane,
    )


def _select_takes() -> Select[Any]:
    return (
        select(*_TAKE_COLUMNS)
        .join(Sample, Sample.id == Take.sample_id)
        .join(Rig, Rig.id == Take.rig_id)
    )


class Reads(UnitOfWork):
    """Progress, take queries and take repair (mixed into :class:`db.catalog.Catalog`)."""

    def job_progress(self, job_id: int, *, now: datetime | None = None) -> Progress:
        now = now or utcnow()
        with self._read() as connection:
            job = self._live_job(
                connection,
                job_id,
                Job.state,
                Job.count,
                Job.next_index,
                Job.captured_count,
                Job.failed_count,
                Job.finished_at,
            )
            open_rows = dict(
                connection.execute(
                    select(Sample.state, func.count())
                    .where(
                        Sample.job_id == job_id,
                        Sample.state.in_((SampleState.PENDING, SampleState.CLAIMED)),
                    )
                    .group_by(Sample.state)
                ).all()
            )
            recent = connection.execute(
                select(Take.recorded_at, Rig.name)
                .join(Rig, Rig.id == Take.rig_id)
                .where(Take.job_id == job_id)
                .order_by(Take.id.desc())
                .limit(RATE_WINDOW)
            ).all()
        pending = job.count - job.next_index + open_rows.get(SampleState.PENDING, 0)
        claimed = open_rows.get(SampleState.CLAIMED, 0)
        rate, by_rig = 0.0, {}
        if len(recent) >= 2:
            end = job.finished_at or now  # a finished job's rate is its rate up to the finish
            span = max((end - recent[-1].recorded_at).total_seconds(), 1e-3)
            rate = len(recent) / span
            by_rig = {rig: n / span for rig, n in Counter(r.name for r in recent).items()}
        remaining = pending + claimed
        moving = job.state in (JobState.QUEUED, JobState.RUNNING) and rate > 0
        return Progress(
            job_id=job_id,
            state=job.state,
            count=job.count,
            pending=pending,
            claimed=claimed,
            captured=job.captured_count,
            failed=job.failed_count,
            rate_per_s=rate,
            eta_s=remaining / rate if moving else (0.0 if remaining == 0 else None),
            rate_by_rig=by_rig,
        )

    def query_takes(
        self, filters: TakeFilter = ALL_TAKES, *, after: str | None = None, limit: int = 100
    ) -> Page:
        """One page of takes in id order; ``after`` is the previous page's ``next_cursor``."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be within 1..{MAX_PAGE}, got {limit}")
        query = _select_takes().order_by(Take.id).limit(limit + 1)
        if after is not None:
            query = query.where(Take.id > decode_cursor(after))
        with self._read() as connection:
            conditions = list(self._conditions(connection, filters))
            rows = connection.execute(query.where(*conditions)).all()
        items = [_take_info(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor(items[-1].id) if more else None)

    def _conditions(self, connection: Any, filters: TakeFilter) -> Iterator[Any]:
        if filters.job_id is not None:
            yield Take.job_id == filters.job_id
        if filters.rig is not None:
            yield Take.rig_id == self._rig_id(connection, filters.rig)
        if filters.qc_verdicts:
            yield Take.qc_verdict.in_(filters.qc_verdicts)
        if filters.recorded_after is not None:
            yield Take.recorded_at >= filters.recorded_after
        if filters.recorded_before is not None:
            yield Take.recorded_at < filters.recorded_before
        if filters.max_take_id is not None:
            yield Take.id <= filters.max_take_id
        if not filters.include_broken:
            yield Take.broken_at.is_(None)
        for parameter in filters.parameters:
            column = Take.__table__.c[parameter_column_name(parameter.parameter)]
            yield column.between(parameter.low, parameter.high)

    def count_takes(self, filters: TakeFilter = ALL_TAKES) -> int:
        with self._read() as connection:
            conditions = list(self._conditions(connection, filters))
            return connection.execute(
                select(func.count()).select_from(Take).where(*conditions)
            ).scalar_one()

    def parameter_histograms(self, filters: TakeFilter = ALL_TAKES) -> dict[str, list[int]]:
        """How many matching takes hold each raw value (0..127) of each tone parameter: what
        part of the parameter space a selection covers: on PostgreSQL one scan with a
        grouping set per parameter, elsewhere one grouped count per parameter."""
        histograms = {p.key: [0] * (MAX_VALUE + 1) for p in TONE_PARAMETERS}
        columns = [Take.__table__.c[parameter_column_name(key)] for key in histograms]
        with self._read() as connection:
            conditions = list(self._conditions(connection, filters))
            if connection.dialect.name == "postgresql":  # one scan: a grouping set per column
                sets = func.grouping_sets(*(tuple_(column) for column in columns))
                query = select(*columns, func.count()).where(*conditions).group_by(sets)
                for *values, count in connection.execute(query):
                    # the row's one non-NULL column is its set's (the columns are NOT NULL)
                    index, value = next((i, v) for i, v in enumerate(values) if v is not None)
                    histograms[TONE_PARAMETERS[index].key][value] = count
                return histograms
            for key, column in zip(histograms, columns, strict=True):
                query = select(column, func.count()).where(*conditions).group_by(column)
                for value, count in connection.execute(query):
                    histograms[key][value] = count
        return histograms

    def get_take(self, take_id: int) -> TakeInfo:
        with self._read() as connection:
            row = connection.execute(_select_takes().where(Take.id == take_id)).first()
        if row is None:
            raise NotFound(f"take {take_id} does not exist")
        return _take_info(row)

    def takes_by_sha_range(self, low: str, high: str) -> list[tuple[int, str, str]]:
        """(take id, audio key, sha256) of intact takes whose sha256 is in [low, high)."""
        with self._read() as connection:
            return [
                (r.id, r.audio_key, r.sha256)
                for r in connection.execute(
                    select(Take.id, Take.audio_key, Take.sha256).where(
                        Take.sha256 >= low, Take.sha256 < high, Take.broken_at.is_(None)
                    )
                )
            ]

    def mark_take_broken(self, take_id: int, reason: str) -> bool:
        """Retire a take whose audio is missing or corrupt and put its sample back in the queue.

        The job's captured count goes down and a completed job reopens, so the sample is
        captured again (not a job deleted with its takes kept: it never runs again). Returns
        False if the take was already broken.
        """
        now = utcnow()
        with self._write() as connection:
            take = connection.execute(
                update(Take)
                .where(Take.id == take_id, Take.broken_at.is_(None))
                .values(broken_at=now, broken_reason=reason)
                .returning(Take.sample_id, Take.job_id, Take.rig_id)
            ).first()
            if take is None:
                return False
            connection.execute(
                update(JobRigTakes)
                .where(JobRigTakes.job_id == take.job_id, JobRigTakes.rig_id == take.rig_id)
                .values(takes=JobRigTakes.takes - 1)
            )
            requeued = connection.execute(
                update(Sample)
                .where(Sample.id == take.sample_id, Sample.state == SampleState.CAPTURED)
                .values(
                    state=SampleState.PENDING,
                    last_error=reason,
                    last_error_code=None,
                    updated_at=now,
                )
            ).rowcount
            if not requeued:
                return True
            reopen = and_(Job.state == JobState.COMPLETED, Job.deleted_at.is_(None))
            connection.execute(
                update(Job)
                .where(Job.id == take.job_id)
                .values(
                    captured_count=Job.captured_count - 1,
                    state=case(
                        (reopen, literal(JobState.RUNNING, Job.state.type)), else_=Job.state
                    ),
                    finished_at=case((reopen, None), else_=Job.finished_at),
                    updated_at=now,
                )
            )
            return True
