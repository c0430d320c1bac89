"""Every db test runs twice: on SQLite and on PostgreSQL, each time in a fresh database.

PostgreSQL isolation is one schema per test (the URL carries ``search_path``), so parallel
runs never collide and the subprocesses of the reliability tests reach the same schema from
the URL alone. An unreachable server FAILS the test: a green run must have used PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

# ``catalog_url`` (each backend in turn, a fresh database each time) is shared with the other
# test folders.
from catalog_support import catalog_url  # noqa: F401  (fixture)
from sqlalchemy import Engine

from db.catalog import Catalog
from db.engine import make_engine
from db.migrate import upgrade
from db.records import AudioRef, NewTake
from db.schema import QcVerdict, utcnow
from db.store import AudioStore, key_for


@pytest.fixture
def bare_engine(catalog_url: str) -> Iterator[Engine]:  # noqa: F811
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
