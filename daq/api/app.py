"""The FastAPI application: routers under ``/api/v1``, auth, error mapping, metrics.

``create_app()`` opens the catalog and the store named by the settings (and closes the
catalog on shutdown); tests and embedders pass their own ``catalog`` / ``store`` instead,
which the app then leaves open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, FastAPI

from daq.api import dashboard, errors
from daq.api.bodies import BodyGate
from daq.api.deps import TokenCache
from daq.api.job_reports import JobReports
from daq.api.metrics import ApiMetrics, LatencyMiddleware
from daq.api.routers import datasets, jobs, rigs, samples, system, takes, tokens
from daq.settings import Settings, get_settings
from db.catalog import Catalog
from db.engine import open_catalog
from db.store import AudioStore

API_PREFIX = "/api/v1"
DESCRIPTION = """\
Schedule and watch capture jobs on Roland Super JX rigs, browse the takes they record,
and pull datasets for training.

Every route but `/health` (this schema too) needs a bearer token
(`Authorization: Bearer jxd_...`), made with `jxdaq token create --role ROLE --name NAME`.
Roles: **admin** (everything), **operator**
(jobs, rigs, catalog reads), **trainer** (catalog reads, datasets, resynthesis jobs only),
**rig** (a worker: its own rig's heartbeat and status). 401: no token, or an unknown or
revoked one; 403: a role that may not use the route.

Lists are keyset-paginated: pass a page's `next_cursor` back as `cursor`.
"""
TAGS = [
    {"name": "jobs", "description": "Capture jobs: submit, watch, pause, resume, cancel"},
    {"name": "samples", "description": "A job's samples, with failure reasons"},
    {"name": "takes", "description": "Recorded takes: queries, audio, spectrograms"},
    {"name": "datasets", "description": "Frozen selections of takes, and their exports"},
    {"name": "rigs", "description": "Rig status, calibration, faults, heartbeats"},
    {"name": "tokens", "description": "API tokens (admin)"},
    {"name": "system", "description": "Health and Prometheus metrics"},
]


ROUTERS = (jobs, samples, takes, datasets, rigs, tokens)


def create_app(
    settings: Settings | None = None,
    *,
    catalog: Catalog | None = None,
    store: AudioStore | None = None,
) -> FastAPI:
    """The API over ``catalog`` and ``store`` (default: the ones ``settings`` name)."""
    settings = settings or get_settings()
    owns_catalog = catalog is None
    if catalog is None:
        catalog = open_catalog(settings.resolved_catalog_url)
    if store is None:
        store = AudioStore(settings.resolved_store_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The default thread limiter belongs to the server's event loop: set here, in it.
        to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        yield
        if owns_catalog:
            catalog.close()

    app = FastAPI(
        title="jx-daq",
        version=system.VERSION,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        openapi_url=None,  # served by the system router, behind a token
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.store = store
    app.state.job_reports = JobReports(catalog)
    app.state.tokens = TokenCache(catalog)
    app.state.metrics = ApiMetrics(catalog)
    app.state.builds = CapacityLimiter(settings.api_build_threads)
    app.add_middleware(BodyGate, limit=settings.max_body_bytes)
    app.add_middleware(LatencyMiddleware, metrics=app.state.metrics, api=app)
    errors.install(app)
    app.include_router(system.router)
    api = APIRouter(prefix=API_PREFIX)
    for module in ROUTERS:
        api.include_router(module.router)
    app.include_router(api)
    dashboard.mount(app)
    return app
