"""Every API route with its full path template, include prefixes and all."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from daq.api.routes import api_routes


def _app() -> FastAPI:
    inner = APIRouter(prefix="/jobs")
    inner.get("/{job_id}")(lambda job_id: job_id)
    inner.post("")(lambda: None)
    outer = APIRouter(prefix="/api/v1")
    outer.include_router(inner)
    outer.get("/health")(lambda: None)
    app = FastAPI()
    app.include_router(outer)
    app.get("/")(lambda: None)
    return app


def test_nested_routers_give_full_path_templates():
    found = sorted((path, sorted(route.methods)) for path, route in api_routes(_app()))
    assert found == [
        ("/", ["GET"]),
        ("/api/v1/health", ["GET"]),
        ("/api/v1/jobs", ["POST"]),
        ("/api/v1/jobs/{job_id}", ["GET"]),
    ]


def test_the_templates_are_the_paths_openapi_documents():
    app = _app()
    assert {path for path, _ in api_routes(app)} == set(app.openapi()["paths"])
