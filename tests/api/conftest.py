"""The API under test: the real app over a real catalog (SQLite, or PostgreSQL with one schema
per test) and a real audio store, driven through FastAPI's TestClient.

``api`` runs on both backends (``catalog_url`` from tests/catalog_support.py: an unreachable
PostgreSQL server FAILS the test); ``sqlite_api`` on SQLite only, for tests whose subject is
not the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api
from catalog_support import catalog_url  # noqa: F401  (fixture)
from fastapi.testclient import TestClient

from daq.api.app import create_app
from daq.settings import Settings
from db.engine import open_catalog
from db.store import AudioStore


def _api(url: str, tmp_path: Path) -> Iterator[Api]:
    catalog = open_catalog(url)
    store = AudioStore(tmp_path / "audio")
    app = create_app(Settings(var_dir=tmp_path), catalog=catalog, store=store)
    try:
        with TestClient(app) as client:
            yield Api(client, catalog, store)
    finally:
        catalog.close()


@pytest.fixture
def api(catalog_url: str, tmp_path: Path) -> Iterator[Api]:  # noqa: F811  (the fixture)
    yield from _api(catalog_url, tmp_path)


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[Api]:
    yield from _api(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path)
