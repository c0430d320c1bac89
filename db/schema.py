"""The catalog's tables as SQLAlchemy 2.0 typed models.

Design choices worth knowing before changing anything here:

* **A job is one row until it runs.** Sample ``i`` of a job is a pure function of
  (spec, seed, i), so ``samples`` rows are created lazily, one per claim: ``jobs.next_index``
  counts the indexes handed out so far. A million-sample job costs one row on submission, and
  a sample row exists only once some rig has worked on it (claimed, captured or failed).
  The spec itself (its banks' bytes, its list of tones: up to megabytes) is in ``job_specs``,
  read once per job by a worker; the ``jobs`` row, which every claim updates and every list
  reads, holds only its summary.
* **Counters live on the job row.** ``captured_count`` / ``failed_count`` change in the same
  transaction as the sample's state, so job progress is O(1) however many takes there are;
  ``job_rig_takes`` does the same for the per-rig breakdown.
* **Tone parameters are plain indexed columns on ``takes``** (``p_vcf_freq`` ...), one per
  entry of :data:`firmware_protocol.parameters.TONE_PARAMETERS`. A range filter such as
  ``vcf_freq BETWEEN 40 AND 80`` is then either a walk of the primary key that stops after
  100 matches (a broad range: the planner knows from column statistics) or a bitmap scan of
  that column's btree (a narrow range), which keeps a filtered page of 1,000,000 takes within
  milliseconds on PostgreSQL. The alternatives lose somewhere: a JSON column with 44
  expression indexes has the same write cost but worse statistics; a GIN index over
  ``param*128+value`` codes turns a range into a 40-key union with a poor selectivity
  estimate. The columns are small (2 bytes) and their btrees deduplicate (128 values), so the
  write cost is what the recording benchmark measures. These indexes exist on PostgreSQL
  only (``ddl_if``): a SQLite catalog is one machine's, where recording speed matters more
  and a scan of its takes is quick. The full 59-byte tone (name and unused
  bytes kept) is stored on the sample it was made for.
* **Times are timezone-aware UTC**, taken from the caller's clock (hosts are NTP-synced;
  leases are seconds to minutes long, so sub-second skew does not matter).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from firmware_protocol.parameters import APR_TONE_LENGTH, MAX_VALUE, TONE_PARAMETERS


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Jobs whose samples rigs may claim.
RUNNABLE_JOB_STATES = (JobState.QUEUED, JobState.RUNNING)
#: Jobs that are over; nothing changes them any more (but a repair may reopen a completed one).
FINAL_JOB_STATES = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


class SampleState(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    CAPTURED = "captured"
    FAILED = "failed"


class RigStatus(enum.StrEnum):
    IDLE = "idle"
    CAPTURING = "capturing"
    CALIBRATING = "calibrating"
    FAULTED = "faulted"
    OFFLINE = "offline"


class QcVerdict(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


class QcCode(enum.StrEnum):
    """What a QC check (or a failed capture) found: stored with a failed attempt, so that
    readers ask for a kind instead of matching the words of its reason."""

    SILENT = "silent"
    CLIPPING = "clipping"
    EARLY_SOUND = "early_sound"  # sound before the note-on: latency off, or bleed
    INPUT_PROBLEM = "input_problem"  # the input reported an overflow while recording
    DC_OFFSET = "dc_offset"
    NOISE_FLOOR = "noise_floor"
    LATE_ONSET = "late_onset"
    CAPTURE_FAILED = "capture_failed"  # no take at all: the rig refused the work


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    TRAINER = "trainer"
    RIG = "rig"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the catalog stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """Stored as its value in a VARCHAR with a CHECK constraint (portable, readable in SQL)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


#: JSON that is JSONB on PostgreSQL (indexable, compact) and JSON text elsewhere.
JsonType = JSON().with_variant(JSONB(), "postgresql")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JsonType,
    }


class Rig(Base):
    """A synth + audio interface pair that one worker drives."""

    __tablename__ = "rigs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    transport: Mapped[str] = mapped_column(String(32))
    audio_device: Mapped[str | None] = mapped_column(String(255))
    latency_s: Mapped[float | None] = mapped_column(Float)
    status: Mapped[RigStatus] = mapped_column(_enum(RigStatus, "rig_status"))
    status_reason: Mapped[str | None] = mapped_column(Text)
    last_heartbeat: Mapped[datetime | None]
    config: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Job(Base):
    """A capture job: the validated spec; its samples are derived from (spec, seed, index)."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("count >= 0", name="count"),
        CheckConstraint("next_index <= count", name="next_index"),
        Index(None, "state", "priority"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The spec's summary (banks and long lists shown by their size); the spec: ``job_specs``.
    spec: Mapped[dict[str, Any]]
    state: Mapped[JobState] = mapped_column(_enum(JobState, "job_state"))
    state_reason: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    seed: Mapped[int] = mapped_column(BigInteger)
    #: How many samples the job has (its spec's ``count``).
    count: Mapped[int] = mapped_column(Integer)
    #: Indexes 0..next_index-1 have a samples row; the rest are pending without one.
    next_index: Mapped[int] = mapped_column(Integer, default=0)
    captured_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    #: Rig names allowed to work on this job; NULL means any rig.
    rigs: Mapped[list[str] | None] = mapped_column(JsonType)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    #: Set when an admin deleted the job and kept its takes: the row stays only as their
    #: provenance (name, seed, summary), gone from every operator's view (:mod:`db.deletion`).
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(200))


class JobSpecRow(Base):
    """A job's whole spec, as submitted and validated: what its samples are made from."""

    __tablename__ = "job_specs"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    spec: Mapped[dict[str, Any]]


class Sample(Base):
    """One (job, index) that some rig has worked on; its lease says who holds it."""

    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("job_id", "index"),
        Index(None, "job_id", "state", "lease_expires_at"),
        Index(None, "state", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    #: The 59-byte APR tone body that was programmed (set when the sample is captured/failed).
    tone: Mapped[bytes | None] = mapped_column(LargeBinary(APR_TONE_LENGTH))
    notes: Mapped[list[Any] | None] = mapped_column(JsonType)
    state: Mapped[SampleState] = mapped_column(_enum(SampleState, "sample_state"))
    lease_owner_id: Mapped[int | None] = mapped_column(ForeignKey("rigs.id"))
    lease_expires_at: Mapped[datetime | None]
    #: Number of claims so far; also the fencing token a claim must present to record.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The kind of the last failure (a :class:`QcCode`), None when it had none.
    last_error_code: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime]


class Take(Base):
    """One recording of a sample: where its audio is, what QC said, what produced it."""

    __tablename__ = "takes"
    __table_args__ = (
        Index(None, "job_id", "id"),
        Index(None, "rig_id", "id"),
        Index(None, "qc_verdict", "id"),
        Index(None, "recorded_at"),
        Index(None, "sha256"),
        Index(None, "sample_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    rig_id: Mapped[int] = mapped_column(ForeignKey("rigs.id"))
    audio_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(SmallInteger)
    frames: Mapped[int] = mapped_column(Integer)
    #: Which of its rig's boards made the take (1: the first, or the rig's only one).
    lane: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    onset_latency_s: Mapped[float | None] = mapped_column(Float)
    peak: Mapped[float | None] = mapped_column(Float)
    rms: Mapped[float | None] = mapped_column(Float)
    qc_verdict: Mapped[QcVerdict] = mapped_column(_enum(QcVerdict, "qc_verdict"))
    qc_reasons: Mapped[list[str]] = mapped_column(JsonType)
    software_version: Mapped[str] = mapped_column(String(64))
    firmware_version: Mapped[str | None] = mapped_column(String(64))
    captured_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    #: Set by ``verify --repair`` when the audio is missing or corrupt; the sample is requeued.
    broken_at: Mapped[datetime | None]
    broken_reason: Mapped[str | None] = mapped_column(Text)


class JobRigTakes(Base):
    """How many intact takes each rig has recorded for a job: the per-rig breakdown a status
    poll shows, kept in step with ``takes`` by the transactions that record or retire one (a
    count over ``takes`` would grow with the job; a week-long job has 100,000s)."""

    __tablename__ = "job_rig_takes"
    __table_args__ = (CheckConstraint("takes >= 0", name="takes"),)

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    rig_id: Mapped[int] = mapped_column(ForeignKey("rigs.id"), primary_key=True)
    takes: Mapped[int] = mapped_column(Integer)


def parameter_column_name(key: str) -> str:
    return f"p_{key}"


for _parameter in TONE_PARAMETERS:
    _column = mapped_column(
        parameter_column_name(_parameter.key),
        SmallInteger,
        CheckConstraint(
            f"{parameter_column_name(_parameter.key)} BETWEEN 0 AND {MAX_VALUE}",
            name=f"range_{_parameter.key}",
        ),
        nullable=False,
    )
    setattr(Take, parameter_column_name(_parameter.key), _column)
    # PostgreSQL only: there a catalog holds millions of takes; on SQLite (one machine) the
    # 44 btrees would cost 4x in recording speed for queries a table scan answers quickly.
    Index(None, Take.__table__.c[parameter_column_name(_parameter.key)]).ddl_if(
        dialect="postgresql"
    )


class Calibration(Base):
    """A rig measurement: latency, reference-tone drift, ..."""

    __tablename__ = "calibrations"
    __table_args__ = (Index(None, "rig_id", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rig_id: Mapped[int] = mapped_column(ForeignKey("rigs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Dataset(Base):
    """A frozen selection of takes: the query, the highest take id it saw, the splits."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    query: Mapped[dict[str, Any]]
    max_take_id: Mapped[int] = mapped_column(BigInteger)
    splits: Mapped[dict[str, Any]]
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token, stored as the sha256 of its secret only."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Event(Base):
    """The operational log: state changes, faults, repairs; what an operator reads back."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "job_id", "id"), Index(None, "rig_id", "id"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime]
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    rig_id: Mapped[int | None] = mapped_column(ForeignKey("rigs.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class AlertCondition(Base):
    """A condition the alerter has told operators about and that has not cleared yet.

    A row exists from the alert until the condition clears: kept in the catalog so that a
    restarted (or a second) alerter does not send it again; the insert that makes the row is
    what entitles one alerter to send.
    """

    __tablename__ = "alert_conditions"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    rig: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime]
