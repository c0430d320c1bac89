"""A job's samples: the rows rigs have worked on, with state, attempts and failure reasons.

Samples come into being as rigs claim them (a job is one row until it runs), so a job's
list holds only the indexes handed out so far. Pages walk sample indexes upwards.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from daq.api.deps import CatalogDep, require
from daq.api.errors import documented
from daq.api.routers.jobs import JobId
from daq.api.schemas import Page, SampleOut
from db.reads import MAX_PAGE
from db.schema import Role, SampleState

router = APIRouter(
    prefix="/jobs/{job_id}/samples",
    tags=["samples"],
    dependencies=[Depends(require(Role.OPERATOR, Role.TRAINER))],
)


@router.get(
    "", response_model=Page[SampleOut], responses=documented(404), summary="A job's samples"
)
def list_samples(
    job_id: JobId,
    catalog: CatalogDep,
    state: Annotated[SampleState | None, Query(description="only this state")] = None,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,9}$", description="a next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Page[SampleOut]:
    """Samples in index order, e.g. ``state=failed`` for every failure and its reason."""
    catalog.get_job(job_id)  # 404 for an unknown job rather than an empty list
    after = int(cursor) if cursor is not None else -1
    samples = catalog.list_samples(job_id, state, after_index=after, limit=limit + 1)
    items = [SampleOut.from_info(sample) for sample in samples[:limit]]
    more = len(samples) > limit
    return Page[SampleOut](items=items, next_cursor=str(items[-1].index) if more else None)
