"""Every db test runs twice: on SQLite and on PostgreSQL, each time in a fresh database.

PostgreSQL isolation is one schema per test (the URL carries ``search_path``), so parallel
runs never collide and the subprocesses of the reliability tests reach the same schema from
the URL alone. An unreachable server FAILS the test: a green run must have used PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from db.catalog import Catalog
from db.engine import make_engine
from db.migrate import upgrade
from db.records import AudioRef, NewTake
from db.schema import QcVerdict, utcnow
from db.store import AudioStore, key_for

PG_URL = os.environ.get("JXDAQ_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database of the parametrised backend, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    schema = f"test_{uuid.uuid4().hex[:16]}"
    try:
        admin = psycopg.connect(_libpq_url(PG_URL), autocommit=True, connect_timeout=5)
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


@pytest.fixture
def bare_engine(catalog_url: str) -> Iterator[Engine]:
    """An engine on the empty database (no schema yet)."""
    engine = make_engine(catalog_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(bare_engine: Engine) -> Engine:
    upgrade(bare_engine)
    return bare_engine


@pytest.fixture
def catalog(engine: Engine) -> Catalog:
    return Catalog(engine)


@pytest.fixture
def store(tmp_path: Path) -> AudioStore:
    return AudioStore(tmp_path / "audio")


@pytest.fixture
def make_take():
    """Factory: a NewTake for a claim, with a tone and fake audio reference."""
    from firmware_protocol.tone import INIT_TONE

    def make(claim, tone=INIT_TONE, verdict=QcVerdict.PASS, sha=None, captured_at=None):
        sha = (
            sha
            or hashlib.sha256(f"{claim.job_id}/{claim.index}/{claim.attempt}".encode()).hexdigest()
        )
        return NewTake(
            claim=claim,
            tone=tone.data,
            audio=AudioRef(key_for(sha), sha, 44100, 1, 44100),
            qc_verdict=verdict,
            captured_at=captured_at or utcnow(),
            software_version="test",
        )

    return make
