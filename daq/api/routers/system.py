"""``/health`` (no token: load balancers and compose health checks; details with one),
``/metrics`` and the
OpenAPI schema ``/openapi.json``.

``/metrics`` needs a token like every other route (any role): point Prometheus at it with
``authorization: {credentials_file: ...}`` holding a token made for it, e.g.
``jxdaq token create --role operator --name prometheus``. The schema needs a token too (any
role): every route but ``/health`` does. FastAPI's ``/docs`` and ``/redoc`` pages are off:
they load their scripts from a CDN, which a lab network may not reach; open the schema in
any OpenAPI viewer instead.
"""

from __future__ import annotations

import logging
from importlib.metadata import version

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from daq.api.deps import CatalogDep, authorize, require
from daq.api.errors import documented
from daq.api.schemas import HealthOut
from db.catalog import Catalog
from db.schema import Role

log = logging.getLogger(__name__)
router = APIRouter(tags=["system"])
VERSION = version("jx-daq")


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "The catalog cannot be reached"}},
    summary="Liveness and catalog check",
)
async def health(request: Request, catalog: CatalogDep) -> JSONResponse:
    """200 when the catalog answers a query, 503 when it does not. That is all it tells a
    caller without a token (a load balancer needs no more; a stranger learns nothing of the
    server); a valid token of any role also gets the catalog's state and the version. A token
    cannot be checked while the catalog is down: then why is in the server's log only."""
    try:
        await run_in_threadpool(_ask, catalog)
    except SQLAlchemyError as error:
        log.warning("health: the catalog is unavailable: %s", str(error).splitlines()[0])
        return JSONResponse(HealthOut(status="unavailable").model_dump(exclude_none=True), 503)
    body = HealthOut(status="ok")
    if await _authenticated(request):
        body = HealthOut(status="ok", catalog="ok", version=VERSION)
    return JSONResponse(body.model_dump(exclude_none=True))


def _ask(catalog: Catalog) -> None:
    with catalog.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def _authenticated(request: Request) -> bool:
    try:
        await authorize(request, frozenset(Role))
    except (HTTPException, SQLAlchemyError):
        return False
    return True


@router.get(
    "/metrics",
    dependencies=[Depends(require())],
    response_class=Response,
    responses={
        **documented(),
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        },
    },
    summary="Prometheus metrics",
)
def metrics(request: Request) -> Response:
    """Capture rate, queue depth, job and rig states, request latencies (any role)."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


@router.get(
    "/openapi.json",
    dependencies=[Depends(require())],
    include_in_schema=False,
    summary="The OpenAPI schema",
)
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())
