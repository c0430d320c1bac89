"""Catalog fixtures for tests outside tests/db: SQLite in tmp_path, PostgreSQL one schema each.

Import the fixtures into a test module (``from catalog_support import catalog_url``). The
PostgreSQL schema is named in the URL (``search_path``), so subprocesses (``jxdaq worker``)
reach the same schema from the URL alone. An unreachable server FAILS the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from db.catalog import Catalog
from db.records import TakeFilter, TakeInfo

PG_URL = os.environ.get("JXDAQ_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def pg_schema_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema, dropped afterwards."""
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty catalog database on each backend in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    with pg_schema_url() as url:
        yield url


@pytest.fixture
def pg_catalog_url() -> Iterator[str]:
    with pg_schema_url() as url:
        yield url


def all_takes(catalog: Catalog, job_id: int) -> list[TakeInfo]:
    """Every take of the job, page by page (as a client reads a long job)."""
    takes: list[TakeInfo] = []
    cursor = None
    while True:
        page = catalog.query_takes(TakeFilter(job_id=job_id), after=cursor, limit=200)
        takes += page.items
        if page.next_cursor is None:
            return takes
        cursor = page.next_cursor
