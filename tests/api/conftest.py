"""The API under test: the real app over a real catalog (SQLite, or PostgreSQL with one schema
per test) and a real audio store, driven through FastAPI's TestClient.

``api`` runs on both backends; ``sqlite_api`` on SQLite only, for tests whose subject is not
the database. An unreachable PostgreSQL server FAILS the test, as in tests/db.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from api_support import Api
from fastapi.testclient import TestClient

from daq.api.app import create_app
from daq.settings import Settings
from db.engine import open_catalog
from db.store import AudioStore

PG_URL = os.environ.get("JXDAQ_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_schema_url() -> Iterator[str]:
    schema = f"test_{uuid.uuid4().hex[:16]}"
    try:
        admin = psycopg.connect(
            PG_URL.replace("postgresql+psycopg://", "postgresql://", 1),
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL} (run scripts/test-services.sh): {exc}"
        )
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{PG_URL}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _api(url: str, tmp_path: Path) -> Iterator[Api]:
    catalog = open_catalog(url)
    store = AudioStore(tmp_path / "audio")
    app = create_app(Settings(var_dir=tmp_path), catalog=catalog, store=store)
    try:
        with TestClient(app) as client:
            yield Api(client, catalog, store)
    finally:
        catalog.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    if request.param == "sqlite":
        yield from _api(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path)
        return
    for url in _pg_schema_url():
        yield from _api(url, tmp_path)


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[Api]:
    yield from _api(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path)
