"""The values the catalog takes and returns: plain frozen dataclasses, no ORM state.

Callers (capture engine, REST API, trainers) never hold a session or a mapped object, so a
value can cross threads, be serialised, or outlive the transaction that produced it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from db.schema import JobState, QcVerdict, RigStatus, Role, SampleState
from firmware_protocol.parameters import MAX_VALUE, lookup


class CatalogError(Exception):
    """Base of the catalog's errors; the message says what was wrong and where."""


class NotFound(CatalogError, LookupError):
    pass


class JobDeleted(NotFound):
    """The job was deleted with its takes kept: its row is their provenance, no more a job."""

    @classmethod
    def of(cls, job_id: int, at: datetime, by: str | None) -> JobDeleted:
        return cls(
            f"job {job_id} was deleted at {at:%Y-%m-%d %H:%M:%S} UTC"
            + (f" by {by}" if by else "")
            + "; only its takes are kept"
        )


class CatalogUnreachable(CatalogError):
    """The catalog's database cannot be connected to (server down, wrong URL, no rights)."""


class InvalidTransition(CatalogError, ValueError):
    pass


class LeaseLost(CatalogError):
    """The sample's lease expired and went to someone else; this take must not be recorded."""


@dataclass(frozen=True, slots=True)
class AudioRef:
    """Where a take's audio is in the store and what it holds (``store.write`` returns it)."""

    key: str
    sha256: str
    sample_rate: int
    channels: int
    frames: int


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: int
    name: str
    spec: dict[str, Any]
    state: JobState
    state_reason: str | None
    priority: int
    seed: int
    count: int
    captured: int
    failed: int
    max_attempts: int
    rigs: list[str] | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


#: A job's own facts, stored once: as the columns of its row (its stored spec holds the rest,
#: and its whole spec is the two together), so that a change of priority is seen everywhere.
JOB_FACTS = frozenset({"name", "count", "seed", "priority", "rigs"})


def job_facts(job: JobInfo) -> dict[str, Any]:
    """The :data:`JOB_FACTS` of ``job`` as its spec says them (``rigs = "any"``: no limit)."""
    rigs = "any" if job.rigs is None else job.rigs
    return {
        "name": job.name,
        "count": job.count,
        "seed": job.seed,
        "priority": job.priority,
        "rigs": rigs,
    }


@dataclass(frozen=True, slots=True)
class ClaimedSample:
    """Sample ``index`` of job ``job_id``, leased to ``rig`` until ``lease_expires_at``.

    ``attempt`` is the fencing token: only the holder of the latest claim can record or extend.
    The sample's tone is derived by the caller from (job spec, seed, index).
    """

    sample_id: int
    job_id: int
    index: int
    seed: int
    attempt: int
    rig: str
    rig_id: int
    lease_expires_at: datetime


@dataclass(frozen=True, slots=True)
class NewTake:
    """Everything the capture engine knows about one finished take (audio already stored)."""

    claim: ClaimedSample
    tone: bytes
    audio: AudioRef
    qc_verdict: QcVerdict
    captured_at: datetime
    software_version: str
    qc_reasons: list[str] = field(default_factory=list)
    notes: list[Any] | None = None
    onset_latency_s: float | None = None
    peak: float | None = None
    rms: float | None = None
    firmware_version: str | None = None
    lane: int = 1  # which board of the rig made it (1-based)


@dataclass(frozen=True, slots=True)
class TakeInfo:
    id: int
    sample_id: int
    job_id: int
    sample_index: int
    rig: str
    audio: AudioRef
    tone: bytes
    qc_verdict: QcVerdict
    qc_reasons: list[str]
    onset_latency_s: float | None
    peak: float | None
    rms: float | None
    software_version: str
    firmware_version: str | None
    captured_at: datetime
    recorded_at: datetime
    broken_reason: str | None
    lane: int = 1


@dataclass(frozen=True, slots=True)
class SampleInfo:
    id: int
    job_id: int
    index: int
    state: SampleState
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    tone: bytes | None
    last_error_code: str | None = None  # a db.schema.QcCode value


@dataclass(frozen=True, slots=True)
class Progress:
    """A job's counts by sample state, its recent rate and the ETA at that rate."""

    job_id: int
    state: JobState
    count: int
    pending: int
    claimed: int
    captured: int
    failed: int
    #: Takes per second over the job's most recent takes (0 when there are fewer than two).
    rate_per_s: float
    #: Seconds left at ``rate_per_s``; None when nothing is moving or the job is over.
    eta_s: float | None
    #: The same rate, broken down by rig name.
    rate_by_rig: dict[str, float]

    @property
    def done(self) -> int:
        return self.captured + self.failed


@dataclass(frozen=True, slots=True)
class ParameterRange:
    """Inclusive range of a tone parameter's raw value, checked against the parameter table."""

    parameter: str
    low: int = 0
    high: int = MAX_VALUE

    def __post_init__(self) -> None:
        parameter = lookup(self.parameter)  # raises KeyError naming the known parameters
        object.__setattr__(self, "parameter", parameter.key)  # one spelling: the key
        name = parameter.name
        if not 0 <= self.low <= self.high <= MAX_VALUE:
            raise ValueError(
                f"parameter range for {name}: {self.low}..{self.high} is not a range "
                f"within 0..{MAX_VALUE}"
            )


@dataclass(frozen=True, slots=True)
class TakeFilter:
    """What a take query selects; every field narrows, ``None`` means 'any'."""

    job_id: int | None = None
    rig: str | None = None
    qc_verdicts: tuple[QcVerdict, ...] | None = None
    recorded_after: datetime | None = None
    recorded_before: datetime | None = None
    parameters: tuple[ParameterRange, ...] = ()
    include_broken: bool = False
    #: Highest take id included; a frozen dataset sets it so later takes never join it.
    max_take_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "rig": self.rig,
            "qc_verdicts": [v.value for v in self.qc_verdicts] if self.qc_verdicts else None,
            "recorded_after": self.recorded_after.isoformat() if self.recorded_after else None,
            "recorded_before": self.recorded_before.isoformat() if self.recorded_before else None,
            "parameters": {p.parameter: [p.low, p.high] for p in self.parameters},
            "include_broken": self.include_broken,
            "max_take_id": self.max_take_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TakeFilter:
        def when(name: str) -> datetime | None:
            return datetime.fromisoformat(data[name]) if data.get(name) else None

        verdicts = data.get("qc_verdicts")
        return cls(
            job_id=data.get("job_id"),
            rig=data.get("rig"),
            qc_verdicts=tuple(QcVerdict(v) for v in verdicts) if verdicts else None,
            recorded_after=when("recorded_after"),
            recorded_before=when("recorded_before"),
            parameters=tuple(
                ParameterRange(key, low, high)
                for key, (low, high) in (data.get("parameters") or {}).items()
            ),
            include_broken=bool(data.get("include_broken", False)),
            max_take_id=data.get("max_take_id"),
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a keyset-paginated query; pass ``next_cursor`` as ``after`` for the next."""

    items: list[TakeInfo]
    next_cursor: str | None


def encode_cursor(take_id: int) -> str:
    return base64.urlsafe_b64encode(f"take:{take_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "take":
            raise ValueError(prefix)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"cursor {cursor!r} is not one this catalog returned") from exc


@dataclass(frozen=True, slots=True)
class RigInfo:
    id: int
    name: str
    transport: str
    audio_device: str | None
    latency_s: float | None
    status: RigStatus
    status_reason: str | None
    last_heartbeat: datetime | None
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CalibrationInfo:
    id: int
    rig: str
    kind: str
    value: float | None
    result: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventInfo:
    id: int
    at: datetime
    level: str
    kind: str
    job_id: int | None
    rig: str | None
    message: str
    data: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AlertConditionInfo:
    """A condition operators were alerted to that has not cleared."""

    key: str
    kind: str
    rig: str | None
    job_id: int | None
    message: str
    raised_at: datetime


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    id: int
    name: str
    filter: TakeFilter
    splits: dict[str, float]
    seed: int
    created_by: str | None
    created_at: datetime

    def split_of(self, take_id: int) -> str:
        """The split a take belongs to: a pure function of (seed, take id), stable forever."""
        digest = hashlib.sha256(f"{self.seed}:{take_id}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
        cumulative = 0.0
        for name, fraction in self.splits.items():
            cumulative += fraction
            if point < cumulative:
                return name
        return next(reversed(self.splits))


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
