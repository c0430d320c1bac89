"""What the API says of a rig: its status, heartbeat age, latency and drift."""

from __future__ import annotations

from datetime import timedelta

from api_support import RIG, RIGS

from daq.api.rigstate import DRIFT, STALE_AFTER_S
from db.registry import LATENCY
from db.schema import RigStatus, Role, utcnow


def test_rigs_show_status_heartbeat_latency_and_drift(api):
    catalog = api.catalog
    catalog.upsert_rig(RIG, "emulator")
    catalog.upsert_rig("board-b", "voice-board serial")
    catalog.upsert_rig("board-c", "midi")
    catalog.heartbeat(RIG, RigStatus.CAPTURING)
    catalog.heartbeat("board-b", RigStatus.FAULTED, "serial port /dev/ttyUSB0 vanished")
    catalog.heartbeat(
        "board-c", RigStatus.IDLE, now=utcnow() - timedelta(seconds=STALE_AFTER_S + 5)
    )
    catalog.record_calibration(RIG, LATENCY, {"runs": 5}, value=0.0123)
    catalog.record_calibration(RIG, DRIFT, {"baseline": 1}, value=0.8)
    catalog.record_calibration(RIG, DRIFT, {"baseline": 1}, value=1.5)

    rigs = {r["name"]: r for r in api.as_(Role.OPERATOR, "GET", RIGS).json()}
    a, b, c = rigs[RIG], rigs["board-b"], rigs["board-c"]
    assert a["status"] == "capturing" and a["heartbeat_age_s"] < STALE_AFTER_S
    assert a["latency_s"] == 0.0123 and a["drift"]["value"] == 1.5
    assert (b["status"], b["status_reason"]) == ("faulted", "serial port /dev/ttyUSB0 vanished")
    assert c["status"] == "offline" and "no heartbeat for" in c["status_reason"]
    assert c["drift"] is None and c["latency_s"] is None
    one = api.as_(Role.TRAINER, "GET", f"{RIGS}/board-b")
    assert one.status_code == 200 and one.json()["status"] == "faulted"
    assert api.as_(Role.OPERATOR, "GET", f"{RIGS}/nowhere").status_code == 404
