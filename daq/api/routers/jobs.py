"""Capture jobs: submit (a validated spec), list, progress with rate and ETA, pause, resume,
cancel, change priority, and the history of state changes and failures.

Operators may do all of it. Trainers may read jobs and submit resynthesis jobs only: jobs
whose parameter source is an explicit list of tones (``source.kind = "list"``).

A spec's ``.syx`` banks are named inside the server's banks directory (setting
``banks_dir``) or uploaded with the job as ``{name, base64}``; either way the job holds
their bytes from then on. Lists and pages show a job's summary; ``GET /jobs/{id}/spec`` the
whole spec.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from daq import jobs
from daq.api.deps import CatalogDep, JobReportsDep, StoreDep, require
from daq.api.errors import documented
from daq.api.schemas import (
    JobDetailOut,
    JobHistoryOut,
    JobOut,
    JobSummaryOut,
    Page,
    PriorityIn,
    ReasonIn,
    spec_schema,
)
from daq.banks import BanksDir
from db.deletion import TakeChoice, delete_job
from db.reads import MAX_PAGE
from db.records import JobInfo, TokenInfo
from db.schema import JobState, Role

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the job's id")]
Operator = Depends(require(Role.OPERATOR))
Reader = Depends(require(Role.OPERATOR, Role.TRAINER))
OperatorToken = Annotated[TokenInfo, Operator]
OptionalReason = Annotated[ReasonIn | None, Body()]
RESYNTHESIS_KIND = "list"
#: Failed samples listed in a job's history (the rest: /jobs/{id}/samples?state=failed).
FAILURES_SHOWN = 100
_EXAMPLE_SPEC = FilePath(__file__).resolve().parents[3] / "examples" / "job-prior.toml"


def _reason(body: ReasonIn | None) -> str | None:
    return body.reason if body else None


def _spec_examples() -> dict[str, dict[str, Any]]:
    """OpenAPI examples: the shipped example spec (when this is a checkout) and a resynthesis."""
    examples: dict[str, dict[str, Any]] = {}
    if _EXAMPLE_SPEC.is_file():
        examples["prior"] = {
            "summary": "200 takes from the preset prior (examples/job-prior.toml)",
            "value": tomllib.loads(_EXAMPLE_SPEC.read_text(encoding="utf-8")),
        }
    examples["resynthesis"] = {
        "summary": "Resynthesis: play two predicted tones (what trainers may submit)",
        "value": {
            "name": "resynthesis of model v3 predictions",
            "source": {
                "kind": "list",
                "tones": [{"VCF FREQ": 64, "VCF RES": 20}, {"VCF FREQ": 90, "DCO1 WF": "saw"}],
            },
            "capture": {"hold_s": 1.0, "notes": {"key": 60}},
            "rigs": ["emulated"],
        },
    }
    return examples


async def _submitter(
    request: Request, token: Annotated[TokenInfo, Depends(require(Role.OPERATOR, Role.TRAINER))]
) -> TokenInfo:
    """The caller, when it may submit this job: trainers resynthesis jobs only. Decided from
    the body's ``source.kind`` before the spec is validated, so a trainer learns nothing from
    the validation of a spec it may not submit (dependencies run before body validation)."""
    if token.role == Role.TRAINER:
        body = await request.json()
        source = body.get("source") if isinstance(body, dict) else None
        kind = source.get("kind") if isinstance(source, dict) else None
        if kind != RESYNTHESIS_KIND:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"trainer tokens may submit resynthesis jobs only (source.kind = "
                f"{RESYNTHESIS_KIND!r}), not source.kind = {str(kind)[:40]!r}",
            )
    return token


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=JobOut,
    responses=documented(),
    summary="Submit a job",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": spec_schema()}}}},
)
def create_job(
    body: Annotated[dict[str, Any], Body(openapi_examples=_spec_examples())],
    catalog: CatalogDep,
    request: Request,
    response: Response,
    token: Annotated[TokenInfo, Depends(_submitter)],
) -> JobOut:
    """Validate and queue a job; a malformed spec is a 422 naming each bad field and what
    is allowed, and nothing is stored. Banks are named inside the server's banks directory
    or uploaded as ``{name, base64}``. Samples are generated as rigs claim them."""
    banks = BanksDir(request.app.state.settings.resolved_banks_dir)
    try:
        job = jobs.submit_job(catalog, body, created_by=token.name, banks=banks)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None
    response.headers["Location"] = request.url_for("get_job", job_id=job.id).path
    return JobOut.from_info(job)


@router.get(
    "",
    response_model=Page[JobSummaryOut],
    responses=documented(),
    dependencies=[Reader],
    summary="List jobs",
)
def list_jobs(
    catalog: CatalogDep,
    state: Annotated[list[JobState] | None, Query(description="only these states (repeat)")] = None,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,9}$", description="a next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Page[JobSummaryOut]:
    """Jobs in submission order (keyset pages: pass ``next_cursor`` back as ``cursor``)."""
    after = int(cursor) if cursor is not None else 0
    found = catalog.list_jobs(state, after_id=after, limit=limit + 1)
    items = [JobSummaryOut.from_info(job) for job in found[:limit]]
    more = len(found) > limit
    return Page[JobSummaryOut](items=items, next_cursor=str(items[-1].id) if more else None)


@router.get(
    "/{job_id}",
    response_model=JobDetailOut,
    responses=documented(404),
    dependencies=[Reader],
    summary="A job with its progress",
)
def get_job(job_id: JobId, reports: JobReportsDep) -> JobDetailOut:
    """The job, its counts, recent rate, ETA, and a per-rig breakdown (read at most half a
    second ago: polls of one job share a read)."""
    return JobDetailOut.from_report(reports.get(job_id))


@router.get(
    "/{job_id}/spec",
    response_model=dict[str, Any],
    responses=documented(404),
    dependencies=[Reader],
    summary="A job's whole spec",
)
def get_job_spec(job_id: JobId, catalog: CatalogDep) -> dict[str, Any]:
    """The spec as stored at submit, banks (base64) and lists of tones included: what its
    samples are made from. Job lists and ``GET /jobs/{id}`` show a summary instead."""
    return catalog.get_job_spec(job_id)


class JobChange:
    """What an operator's change to a job needs: the job, who asks (named in its history) and
    the shared reports to forget, so the next status poll shows the change."""

    def __init__(
        self,
        job_id: JobId,
        catalog: CatalogDep,
        reports: JobReportsDep,
        token: OperatorToken,
    ) -> None:
        self.job_id, self.catalog, self.reports, self.by = job_id, catalog, reports, token.name

    def apply(self, change: Callable[..., JobInfo], *args: Any, **kwargs: Any) -> JobOut:
        changed = change(self.catalog, self.job_id, *args, by=self.by, **kwargs)
        self.reports.forget(self.job_id)
        return JobOut.from_info(changed)


Change = Annotated[JobChange, Depends()]


@router.post(
    "/{job_id}/pause",
    response_model=JobOut,
    responses=documented(404, 409),
    summary="Pause a job",
)
def pause_job(change: Change, body: OptionalReason = None) -> JobOut:
    """Rigs finish the take in hand and claim no more of it (409 when it is over)."""
    return change.apply(jobs.pause_job, reason=_reason(body))


@router.post(
    "/{job_id}/resume",
    response_model=JobOut,
    responses=documented(404, 409),
    summary="Resume a paused job",
)
def resume_job(change: Change, body: OptionalReason = None) -> JobOut:
    """Back to the queue (409 when it is not paused)."""
    return change.apply(jobs.resume_job, reason=_reason(body))


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    responses=documented(404, 409),
    summary="Cancel a job",
)
def cancel_job(change: Change, body: OptionalReason = None) -> JobOut:
    """For good: its leases are taken back, so rigs stop at their next take boundary;
    the takes so far are kept (409 when it is over)."""
    return change.apply(jobs.cancel_job, reason=_reason(body))


@router.patch(
    "/{job_id}",
    response_model=JobOut,
    responses=documented(404, 409),
    summary="Change a job's priority",
)
def set_priority(change: Change, body: PriorityIn) -> JobOut:
    """Higher priority jobs are claimed first; takes effect at the rigs' next claim."""
    return change.apply(jobs.set_priority, body.priority)


@router.get(
    "/{job_id}/history",
    response_model=JobHistoryOut,
    responses=documented(404),
    dependencies=[Reader],
    summary="A job's history and failure reasons",
)
def job_history(
    job_id: JobId,
    catalog: CatalogDep,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$", description="a next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> JobHistoryOut:
    """State changes (with who and why), priority changes, faults and drift in order, and
    the reasons of the first failed samples."""
    after = int(cursor) if cursor is not None else 0
    history = jobs.job_history(
        catalog, job_id, after_event_id=after, limit=limit, failures_limit=FAILURES_SHOWN
    )
    return JobHistoryOut.from_history(history)


class JobDeletedOut(BaseModel):
    id: int
    name: str
    takes_removed: int = Field(description="takes deleted with the job")
    takes_kept: int = Field(description="takes kept, with the job as their provenance only")
    audio_removed: int = Field(description="audio files no other take shared, removed")


@router.delete(
    "/{job_id}",
    response_model=JobDeletedOut,
    responses=documented(404, 409),
    summary="Delete a job (admin)",
)
def remove_job(
    job_id: JobId,
    takes: Annotated[
        TakeChoice,
        Query(
            description="remove: its takes go with it (their audio too, unless another take "
            "shares it); keep: its takes stay (in take queries, datasets, exports) and the job "
            "stays only as their provenance, gone from job lists and pages"
        ),
    ],
    catalog: CatalogDep,
    store: StoreDep,
    reports: JobReportsDep,
    token: Annotated[TokenInfo, Depends(require(Role.ADMIN))],
) -> JobDeletedOut:
    """A job that is over, for good, recorded as a ``job_deleted`` event; afterwards
    ``GET /jobs/{id}`` is a 404 (with ``takes=keep``: saying when and by whom it was deleted).
    409 when it is not over (cancel it first), when ``takes=keep`` and it was deleted so
    already, or when ``takes=remove`` and a frozen dataset holds its takes (named)."""
    deleted = delete_job(catalog, store, job_id, takes, by=token.name)
    reports.forget(job_id)
    return JobDeletedOut(
        id=deleted.job_id,
        name=deleted.name,
        takes_removed=deleted.takes_removed,
        takes_kept=deleted.takes_kept,
        audio_removed=len(deleted.audio_removed),
    )
