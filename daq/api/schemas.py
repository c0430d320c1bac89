"""The API's request and response bodies: what the OpenAPI schema shows and clients parse.

Catalog records (:mod:`db.records`) are converted here, in one place, so a route body is a
query plus a ``from_*`` call. Tone bytes appear as ``{parameter key: raw value}`` (the keys
that ``p_<key>=lo..hi`` take filters use) plus the 59-byte APR body in hex.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from daq.api.rigstate import RigState
from daq.jobs import FAILURES_SHOWN, JobHistory, JobReport
from daq.spec import PRINTABLE, JobSpec, Priority
from db.records import EventInfo, JobInfo, SampleInfo, TakeInfo, TokenInfo
from db.schema import JobState, QcVerdict, RigStatus, Role, SampleState
from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.tone import Tone

T = TypeVar("T")
#: (key, APR index) of every tone parameter, computed once: a page of takes reads 44 each.
_PARAMETER_BYTES = tuple((p.key, p.apr_index) for p in TONE_PARAMETERS)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorOut(_Out):
    detail: str = Field(examples=["job 7 does not exist"])


class Page(_Out, Generic[T]):
    """One page of a keyset-paginated list; pass ``next_cursor`` as ``cursor`` for the next."""

    items: list[T]
    next_cursor: str | None = Field(description="null on the last page")


# -- jobs ------------------------------------------------------------------------------------
@cache
def spec_schema() -> dict[str, Any]:
    """The JSON schema of a job spec with its definitions written in place: the body of
    ``POST /jobs``, which the route validates itself (banks are read from the server's
    banks directory, which a body type cannot know)."""
    schema = JobSpec.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)


class JobSummaryOut(_Out):
    """A job as lists show it (without its spec, which can be large)."""

    id: int
    name: str
    state: JobState
    state_reason: str | None
    priority: int
    seed: int
    count: int = Field(description="samples in the job (each captured as a take, or failed)")
    captured: int
    failed: int
    max_attempts: int
    rigs: list[str] | None = Field(description="rigs allowed to work on it; null: any")
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def fields_of(cls, job: JobInfo) -> dict[str, Any]:
        return {
            "id": job.id,
            "name": job.name,
            "state": job.state,
            "state_reason": job.state_reason,
            "priority": job.priority,
            "seed": job.seed,
            "count": job.count,
            "captured": job.captured,
            "failed": job.failed,
            "max_attempts": job.max_attempts,
            "rigs": job.rigs,
            "created_by": job.created_by,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
        }

    @classmethod
    def from_info(cls, job: JobInfo) -> JobSummaryOut:
        return cls(**cls.fields_of(job))


class JobOut(JobSummaryOut):
    spec: dict[str, Any] = Field(
        description="the validated job spec, summarised: banks by name, sha256 and tone "
        "count, long lists by their length (the whole spec: GET /jobs/{id}/spec)"
    )

    @classmethod
    def from_info(cls, job: JobInfo) -> JobOut:
        return cls(**cls.fields_of(job), spec=job.spec)


class RigProgressOut(_Out):
    rig: str
    takes: int = Field(description="takes this rig recorded for the job")
    claimed: int = Field(description="samples this rig holds leases on now")
    rate_per_s: float = Field(description="takes/s over the job's most recent takes")


class ProgressOut(_Out):
    count: int = Field(description="samples in the job: pending + claimed + captured + failed")
    pending: int
    claimed: int
    captured: int
    failed: int
    done: int
    fraction: float = Field(ge=0, le=1, description="done / count (1 for an empty job)")
    rate_per_s: float
    eta_s: float | None = Field(description="seconds left at the current rate; null: stalled")
    eta_at: datetime | None
    rigs: list[RigProgressOut]

    @classmethod
    def from_report(cls, report: JobReport) -> ProgressOut:
        progress = report.progress
        eta = progress.eta_s
        return cls(
            count=progress.count,
            pending=progress.pending,
            claimed=progress.claimed,
            captured=progress.captured,
            failed=progress.failed,
            done=progress.done,
            fraction=min(1.0, report.fraction_done),
            rate_per_s=progress.rate_per_s,
            eta_s=eta,
            eta_at=None if eta is None else report.at + timedelta(seconds=eta),
            rigs=[
                RigProgressOut(
                    rig=share.rig,
                    takes=share.takes,
                    claimed=share.claimed,
                    rate_per_s=share.rate_per_s,
                )
                for share in report.rigs
            ],
        )


class FailedSampleOut(_Out):
    index: int
    attempts: int
    reason: str = Field(description="why its last attempt failed")


class JobDetailOut(JobOut):
    progress: ProgressOut
    failures: list[FailedSampleOut] = Field(
        description=f"the first failed samples (at most {FAILURES_SHOWN}), each with its reason"
    )

    @classmethod
    def from_report(cls, report: JobReport) -> JobDetailOut:
        return cls(
            **JobOut.from_info(report.job).model_dump(),
            progress=ProgressOut.from_report(report),
            failures=[
                FailedSampleOut(
                    index=s.index, attempts=s.attempts, reason=s.last_error or "no reason recorded"
                )
                for s in report.failures
            ],
        )


class PriorityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"priority": 10}]})

    priority: Priority


class ReasonIn(BaseModel):
    """Why an operator paused, resumed or cancelled a job (kept in the job's history)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "re-cabling rig b"}]}
    )

    reason: str | None = Field(None, max_length=500, pattern=PRINTABLE)


class EventOut(_Out):
    id: int
    at: datetime
    level: str
    kind: str = Field(examples=["job.state"])
    rig: str | None
    message: str
    data: dict[str, Any] | None

    @classmethod
    def from_info(cls, event: EventInfo) -> EventOut:
        return cls(
            id=event.id,
            at=event.at,
            level=event.level,
            kind=event.kind,
            rig=event.rig,
            message=event.message,
            data=event.data,
        )


class FailureOut(_Out):
    index: int = Field(description="the sample's index in the job")
    attempts: int
    reason: str | None


class JobHistoryOut(_Out):
    """What happened to a job: its events in order (state changes with who/why, priority,
    faults, drift) and why its failed samples failed."""

    job_id: int
    events: list[EventOut]
    next_cursor: str | None = Field(description="more events: pass as cursor")
    failed: int = Field(description="samples failed for good")
    failures: list[FailureOut] = Field(
        description="the first failed samples; all: /jobs/{id}/samples?state=failed"
    )

    @classmethod
    def from_history(cls, history: JobHistory) -> JobHistoryOut:
        following = history.next_event_id
        return cls(
            job_id=history.job.id,
            events=[EventOut.from_info(event) for event in history.events],
            next_cursor=None if following is None else str(following),
            failed=history.job.failed,
            failures=[
                FailureOut(index=s.index, attempts=s.attempts, reason=s.last_error)
                for s in history.failures
            ],
        )


# -- samples and takes -------------------------------------------------------------------------
class ToneOut(_Out):
    name: str
    apr_hex: str = Field(description="the 59-byte APR tone body, hex")
    parameters: dict[str, int] = Field(description="parameter key -> raw value 0..127")

    @classmethod
    def from_bytes(cls, data: bytes) -> ToneOut:
        """Built without validation (``model_construct``), as :meth:`TakeOut.from_info`: the
        catalog's values are valid, and validating 44 parameters per take cost a page of
        takes more than reading it."""
        tone = Tone.from_dump(data)  # a sample stored before tones refused bytes above 127
        return cls.model_construct(
            name=tone.name,
            apr_hex=data.hex(),
            parameters={key: tone.data[index] for key, index in _PARAMETER_BYTES},
        )


class AudioOut(_Out):
    sha256: str
    sample_rate: int
    channels: int
    frames: int
    duration_s: float


class TakeOut(_Out):
    id: int
    job_id: int
    sample_index: int
    rig: str
    lane: int = Field(1, description="which board of the rig made the take (1-based)")
    qc_verdict: QcVerdict
    qc_reasons: list[str]
    onset_latency_s: float | None
    peak: float | None
    rms: float | None
    software_version: str
    firmware_version: str | None
    captured_at: datetime
    recorded_at: datetime
    broken_reason: str | None = Field(description="set when the audio was found bad")
    audio: AudioOut
    tone: ToneOut

    @classmethod
    def from_info(cls, take: TakeInfo) -> TakeOut:
        audio = take.audio
        return cls.model_construct(
            id=take.id,
            job_id=take.job_id,
            sample_index=take.sample_index,
            rig=take.rig,
            lane=take.lane,
            qc_verdict=take.qc_verdict,
            qc_reasons=take.qc_reasons,
            onset_latency_s=take.onset_latency_s,
            peak=take.peak,
            rms=take.rms,
            software_version=take.software_version,
            firmware_version=take.firmware_version,
            captured_at=take.captured_at,
            recorded_at=take.recorded_at,
            broken_reason=take.broken_reason,
            audio=AudioOut.model_construct(
                sha256=audio.sha256,
                sample_rate=audio.sample_rate,
                channels=audio.channels,
                frames=audio.frames,
                duration_s=audio.frames / audio.sample_rate,
            ),
            tone=ToneOut.from_bytes(take.tone),
        )


class SampleOut(_Out):
    index: int
    state: SampleState
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None = Field(description="why the last attempt failed")
    last_error_code: str | None = Field(
        None, description="the kind of the last failure (silent, clipping, ...)"
    )
    tone: ToneOut | None = Field(description="set once the sample was captured or failed")

    @classmethod
    def from_info(cls, sample: SampleInfo) -> SampleOut:
        return cls(
            index=sample.index,
            state=sample.state,
            attempts=sample.attempts,
            lease_owner=sample.lease_owner,
            lease_expires_at=sample.lease_expires_at,
            last_error=sample.last_error,
            last_error_code=sample.last_error_code,
            tone=None if sample.tone is None else ToneOut.from_bytes(sample.tone),
        )


# -- rigs --------------------------------------------------------------------------------------
class DriftOut(_Out):
    value: float | None = Field(description="log-spectral distance from the baseline, dB")
    measured_at: datetime


class RigOut(_Out):
    name: str
    transport: str
    audio_device: str | None
    status: RigStatus = Field(description="offline also when the heartbeat is stale")
    status_reason: str | None
    last_heartbeat: datetime | None
    heartbeat_age_s: float | None
    latency_s: float | None = Field(description="calibrated round-trip latency")
    drift: DriftOut | None = Field(description="the newest drift calibration")
    config: dict[str, Any]

    @classmethod
    def from_state(cls, rig: RigState) -> RigOut:
        drift = rig.drift
        return cls(
            name=rig.name,
            transport=rig.transport,
            audio_device=rig.audio_device,
            status=rig.status,
            status_reason=rig.status_reason,
            last_heartbeat=rig.last_heartbeat,
            heartbeat_age_s=rig.heartbeat_age_s,
            latency_s=rig.latency_s,
            drift=None
            if drift is None
            else DriftOut(value=drift.value, measured_at=drift.measured_at),
            config=rig.config,
        )


class CalibrateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"kinds": ["latency", "drift"]}]}
    )

    kinds: list[Literal["latency", "drift"]] = Field(
        default_factory=lambda: ["latency", "drift"], min_length=1, max_length=2
    )


class CalibrationRequestOut(_Out):
    rig: str
    event_id: int = Field(description="the rig.calibrate event the rig's worker acts on")
    kinds: list[str]
    requested_by: str


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"status": "capturing"}]}
    )

    status: RigStatus | None = Field(None, description="null: only 'still alive'")
    reason: str | None = Field(None, max_length=500, pattern=PRINTABLE)


# -- tokens and system ---------------------------------------------------------------------------
class TokenIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "alice-laptop", "role": "operator"}]},
    )

    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="who or what holds it; a rig token is named after its rig",
    )
    role: Role


class TokenOut(_Out):
    id: int
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_info(cls, token: TokenInfo) -> TokenOut:
        return cls(
            id=token.id,
            name=token.name,
            role=token.role,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


class TokenCreatedOut(TokenOut):
    secret: str = Field(description="the bearer token; shown once, only its hash is stored")


class HealthOut(_Out):
    status: Literal["ok", "unavailable"]
    catalog: str | None = Field(
        None, description="'ok' or what went wrong reaching it (with a valid token only)"
    )
    version: str | None = Field(None, description="jx-daq's version (with a valid token only)")
