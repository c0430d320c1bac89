"""``jxdaq rig list|clear-fault|calibrate`` as processes, on SQLite and PostgreSQL.

Calibrating through real devices is in tests/daq/test_calibration.py; here are the
catalog side and the refusals that come before any device is opened.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from db.catalog import Catalog
from db.engine import make_engine
from db.migrate import upgrade
from db.registry import LATENCY
from db.schema import RigStatus, utcnow


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    engine = make_engine(catalog_url)
    upgrade(engine)
    catalog = Catalog(engine)
    yield catalog
    catalog.close()


def jxdaq(catalog: Catalog, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    url = catalog.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "JXDAQ_CATALOG_URL": url, "JXDAQ_VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "jxdaq", "rig", *args],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_list_shows_status_reason_heartbeat_and_latency(catalog, tmp_path):
    catalog.upsert_rig("bench-a", "voice-board serial", audio_device="Scarlett")
    catalog.upsert_rig("bench-b", "midi")
    catalog.heartbeat("bench-a", RigStatus.CAPTURING)
    catalog.record_calibration("bench-a", LATENCY, {"latency_s": 0.0125}, value=0.0125)
    catalog.heartbeat(
        "bench-b",
        RigStatus.FAULTED,
        "serial port /dev/ttyUSB1 failed",
        now=utcnow() - timedelta(minutes=5),
    )
    result = jxdaq(catalog, tmp_path, "list")
    assert result.returncode == 0, result.stderr
    header, first, second = result.stdout.splitlines()
    assert header.split() == ["RIG", "STATUS", "HEARTBEAT", "LATENCY", "DRIFT", "REASON"]
    assert first.split()[:2] == ["bench-a", "capturing"]
    assert " s ago " in first and " 12.5 ms " in first  # heartbeat just now, the latency
    assert second.split()[:5] == ["bench-b", "faulted", "5", "min", "ago"]
    assert second.endswith("serial port /dev/ttyUSB1 failed")


def test_clear_fault_makes_a_faulted_rig_idle_and_logs_it(catalog, tmp_path):
    catalog.upsert_rig("bench-a", "voice-board serial")
    catalog.heartbeat("bench-a", RigStatus.FAULTED, "no sound from audio input 'x'")
    result = jxdaq(catalog, tmp_path, "clear-fault", "bench-a", "--reason", "recabled")
    assert result.returncode == 0, result.stderr
    assert "no sound from audio input 'x'" in result.stdout
    rig = catalog.get_rig("bench-a")
    assert rig.status == RigStatus.IDLE and rig.status_reason.endswith(": recabled")
    assert "fault cleared by" in catalog.list_events(rig="bench-a")[-1].message
    again = jxdaq(catalog, tmp_path, "clear-fault", "bench-a")
    assert again.returncode == 1
    assert again.stderr == "error: rig 'bench-a' is idle, not faulted\n"


def test_clear_fault_leaves_a_dead_workers_heartbeat_alone(catalog, tmp_path):
    """Only a worker's own heartbeat says it is alive: an operator clearing the fault of a
    rig whose worker died 10 minutes ago must not make it look alive."""
    catalog.upsert_rig("bench-a", "voice-board serial")
    died = utcnow() - timedelta(minutes=10)
    catalog.heartbeat("bench-a", RigStatus.FAULTED, "serial port gone", now=died)
    result = jxdaq(catalog, tmp_path, "clear-fault", "bench-a")
    assert result.returncode == 0, result.stderr
    assert catalog.get_rig("bench-a").status == RigStatus.IDLE
    listed = jxdaq(catalog, tmp_path, "list")  # a stale heartbeat reads as offline
    assert listed.stdout.splitlines()[1].split()[:5] == ["bench-a", "offline", "10", "min", "ago"]


def test_unknown_rigs_are_one_line_errors(catalog, tmp_path):
    result = jxdaq(catalog, tmp_path, "clear-fault", "nope")
    assert (result.returncode, result.stderr) == (1, "error: rig 'nope' is not registered\n")
    result = jxdaq(catalog, tmp_path, "calibrate", "nope")
    assert result.returncode == 1 and result.stderr.startswith("error: no rig named 'nope'")
    assert "Traceback" not in result.stderr


def test_calibrate_refuses_the_emulated_rig_and_a_rig_whose_worker_is_alive(catalog, tmp_path):
    result = jxdaq(catalog, tmp_path, "calibrate", "emulated")
    assert result.returncode == 1 and "has no latency" in result.stderr
    rigs = tmp_path / "rigs.toml"
    rigs.write_text('[rigs.bench-a]\ninstrument = "serial"\nport = "loop://"\n')
    catalog.upsert_rig("bench-a", "voice-board serial")
    catalog.heartbeat("bench-a", RigStatus.CAPTURING)
    result = jxdaq(catalog, tmp_path, "calibrate", "bench-a", "--rigs-file", str(rigs))
    assert result.returncode == 1
    assert "worker looks alive" in result.stderr and "--force" in result.stderr
    assert catalog.list_calibrations("bench-a") == []
