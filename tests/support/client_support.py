"""The ``jxdaq`` client's fixtures: a live API server with the client's environment pointing at
it (an admin token), local mode on a catalog under tmp_path, a small job file; and a catalog
filled with recorded takes."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from live_server import Server
from typer.testing import CliRunner

from daq.settings import get_settings
from db.records import NewTake
from db.schema import QcVerdict, Role, utcnow
from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.tone import Tone
from jxdaq.cli import app as cli

SPEC = """
name = "cli test"
count = 3
seed = 4
[source]
kind = "uniform"
[capture]
hold_s = 0.2
pre_roll_s = 0.05
notes = { key = 60 }
[capture.tail]
max_s = 0.2
"""
RATE = 8000


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A live server and the client's environment pointing at it with an admin token."""
    server = Server(tmp_path)
    token = server.catalog.create_token("cli-admin", Role.ADMIN)[1]
    monkeypatch.setenv("JXDAQ_API_URL", server.url)
    monkeypatch.setenv("JXDAQ_API_TOKEN", token)
    monkeypatch.setenv("JXDAQ_VAR_DIR", str(tmp_path / "client-var"))
    get_settings.cache_clear()
    yield server
    server.close()
    get_settings.cache_clear()
    assert not (tmp_path / "client-var" / "catalog.db").exists()  # everything went over HTTP


@pytest.fixture
def local(tmp_path, monkeypatch):
    """Local mode: no API URL, the catalog and store under tmp_path/var."""
    monkeypatch.delenv("JXDAQ_API_URL", raising=False)
    monkeypatch.delenv("JXDAQ_CONFIG", raising=False)
    monkeypatch.setenv("JXDAQ_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(SPEC)
    return path


def jxdaq(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output


def fill(catalog, store, count: int) -> int:
    """A job of ``count`` recorded noise takes with random tones; its id."""
    rng = random.Random(7)
    noise = np.random.default_rng(7)
    catalog.upsert_rig("r1", "emulator")
    job = catalog.create_job("takes", {}, count, seed=0)
    takes = []
    for _ in range(count):
        claim = catalog.claim_next("r1", 60)
        takes.append(
            NewTake(
                claim=claim,
                tone=Tone.from_values({p.key: rng.randrange(128) for p in TONE_PARAMETERS}).data,
                audio=store.write(noise.uniform(-0.5, 0.5, 2000).astype(np.float32), RATE),
                qc_verdict=rng.choice([QcVerdict.PASS, QcVerdict.PASS, QcVerdict.FAIL]),
                captured_at=utcnow(),
                software_version="test",
            )
        )
    catalog.record_takes(takes)
    return job.id
