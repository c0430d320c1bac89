"""Fixtures of the real-time rig tests: a private PulseAudio null sink and a SQLite catalog."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from device_support import private_sink, require_services

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
