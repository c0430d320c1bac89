"""``/health`` (no token: load balancers and compose health checks), ``/metrics`` and the
OpenAPI schema ``/openapi.json``.

``/metrics`` needs a token like every other route (any role): point Prometheus at it with
``authorization: {credentials_file: ...}`` holding a token made for it, e.g.
``jxdaq token create --role operator --name prometheus``. The schema needs a token too (any
role): every route but ``/health`` does. FastAPI's ``/docs`` and ``/redoc`` pages are off:
they load their scripts from a CDN, which a lab network may not reach; open the schema in
any OpenAPI viewer instead.
"""

from __future__ import annotations

from importlib.metadata import version

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from daq.api.deps import CatalogDep, require
from daq.api.errors import documented
from daq.api.schemas import HealthOut

router = APIRouter(tags=["system"])
VERSION = version("jx-daq")


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "The catalog cannot be reached"}},
    summary="Liveness and catalog check",
)
def health(catalog: CatalogDep) -> JSONResponse:
    """200 when the catalog answers a query, 503 (saying why) when it does not."""
    try:
        with catalog.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        reason = str(error).splitlines()[0]
        body = HealthOut(status="unavailable", catalog=reason, version=VERSION)
        return JSONResponse(body.model_dump(), status_code=503)
    return JSONResponse(HealthOut(status="ok", catalog="ok", version=VERSION).model_dump())


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
