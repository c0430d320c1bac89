"""Fixtures of the daq tests.

Capture: a private PulseAudio null sink and a SQLite catalog for the real-time rigs; a catalog
on each backend with the emulated rig registered for worker tests. The API: the real app over
a real catalog (SQLite, or PostgreSQL with one schema per test) and a real audio store, driven
through FastAPI's TestClient. ``api`` runs on both backends (``catalog_url`` from
tests/support/catalog_support.py: an unreachable PostgreSQL server FAILS the test);
``sqlite_api`` on SQLite only, for tests whose subject is not the database.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api
from catalog_support import catalog_url  # noqa: F401  (fixture)
from client_support import local, server, spec  # noqa: F401  (fixtures of the client tests)
from device_support import private_sink, require_services
from fastapi.testclient import TestClient

from daq.api.app import create_app
from daq.rigs import EMULATED
from daq.settings import Settings
from db.engine import open_catalog
from db.store import AudioStore


@pytest.fixture
def sink(monkeypatch) -> Iterator[str]:
    """A null sink of the test's own: the emulator plays into it, the rig records its monitor."""
    require_services()
    with private_sink() as name:
        monkeypatch.setenv("PULSE_SOURCE", f"{name}.monitor")
        yield name


@pytest.fixture
def services(sink, tmp_path):
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield catalog, AudioStore(tmp_path / "audio")
    catalog.close()


@pytest.fixture
def emulated_services(catalog_url, tmp_path):  # noqa: F811  (the fixture)
    """SQLite and PostgreSQL, each with the emulated rig registered."""
    catalog = open_catalog(catalog_url)
    catalog.upsert_rig(EMULATED.name, EMULATED.transport)
    yield catalog, AudioStore(tmp_path / "audio")
    catalog.close()


@pytest.fixture
def tmpfs(tmp_path) -> Iterator[Path]:
    """A small tmpfs (2 MB) at ``tmp_path/audio``: a store whose disk can fill up."""
    mountpoint = tmp_path / "audio"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.fail(f"the outage tests mount a tmpfs (run them as root): {mounted.stderr}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


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
