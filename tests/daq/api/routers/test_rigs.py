"""Rig routes: status, calibrate, rebaseline, clear a fault, heartbeat; one latency for
every reader."""

from __future__ import annotations

from api_support import RIG, RIGS

from daq.rigs import find_rig, open_rig
from daq.rigs.calibration import DRIFT_BASELINE
from db.registry import LATENCY
from db.schema import RigStatus, Role

OPERATOR = Role.OPERATOR


def test_an_override_latency_is_the_one_value_every_reader_sees(api, tmp_path):
    """The rigs file fixes the latency: the rig captures with it, and /rigs, /metrics and the
    dashboard show it, not the calibration measured before the override was set."""
    catalog = api.catalog
    rigs_file = tmp_path / "rigs.toml"
    rigs_file.write_text(
        '[rigs.bench]\ninstrument = "serial"\nport = "loop://"\nlatency_s = 0.0425\n'
    )
    definition = find_rig("bench", rigs_file)
    catalog.upsert_rig("bench", definition.transport)
    catalog.record_calibration("bench", LATENCY, {"latency_s": 0.2}, value=0.2)
    catalog.heartbeat("bench", RigStatus.IDLE)
    rig = open_rig(definition, catalog)
    assert rig.resolve_latency() == 0.0425  # as the rig's worker does when it connects
    assert rig.latency == rig.lane_latency(0) == 0.0425  # what its takes are cut with

    (shown,) = [r for r in api.as_(OPERATOR, "GET", RIGS).json() if r["name"] == "bench"]
    assert shown["latency_s"] == 0.0425
    metrics = api.as_(Role.TRAINER, "GET", "/metrics").text
    assert 'jxdaq_rig_latency_seconds{rig="bench"} 0.0425' in metrics
    api.auth(OPERATOR)
    api.client.post("/dashboard/login", data={"token": api.secrets[OPERATOR]})
    page = api.client.get("/dashboard/rigs").text
    assert '<span data-field="latency">42.5 ms</span>' in page
    newest = catalog.list_calibrations("bench", LATENCY, limit=1)[0]
    assert newest.value == 0.0425 and "rigs file" in newest.result["measured_by"]
    open_rig(definition, catalog).resolve_latency()  # a later start records nothing new
    assert len(catalog.list_calibrations("bench", LATENCY)) == 2


def test_calibration_is_requested_of_a_live_rig_and_refused_for_offline_or_faulted(api):
    catalog = api.catalog
    catalog.upsert_rig(RIG, "emulator")
    offline = api.as_(OPERATOR, "POST", f"{RIGS}/{RIG}/calibrate")
    assert offline.status_code == 409 and "offline" in offline.json()["detail"]
    catalog.heartbeat(RIG, RigStatus.IDLE)
    asked = api.as_(OPERATOR, "POST", f"{RIGS}/{RIG}/calibrate", json={"kinds": ["latency"]})
    assert asked.status_code == 202, asked.text
    assert asked.json()["kinds"] == ["latency"]
    [event] = [e for e in catalog.list_events(rig=RIG) if e.kind == "rig.calibrate"]
    assert event.id == asked.json()["event_id"]
    assert event.data == {"kinds": ["latency"], "requested_by": "test-operator"}
    catalog.heartbeat(RIG, RigStatus.FAULTED, "no audio")
    faulted = api.as_(OPERATOR, "POST", f"{RIGS}/{RIG}/calibrate")
    assert faulted.status_code == 409 and "clear the fault first" in faulted.json()["detail"]
    bad = api.as_(OPERATOR, "POST", f"{RIGS}/{RIG}/calibrate", json={"kinds": ["vibes"]})
    assert bad.status_code == 422


def test_a_rebaseline_clears_the_drift_baseline_and_asks_the_worker_for_a_new_one(api):
    """Unlike a calibration, it needs no live worker: a later worker makes the baseline."""
    catalog = api.catalog
    catalog.upsert_rig(RIG, "emulator")
    catalog.record_calibration(RIG, DRIFT_BASELINE, {"spectrum_db": [0.0, -3.0]})
    asked = api.as_(OPERATOR, "POST", f"{RIGS}/{RIG}/rebaseline", json={"reason": "re-tuned"})
    assert asked.status_code == 202, asked.text
    assert asked.json()["kinds"] == ["baseline"]
    cleared, _old = catalog.list_calibrations(RIG, DRIFT_BASELINE)
    assert cleared.result == {
        "spectrum_db": None,
        "cleared_by": "test-operator",
        "reason": "re-tuned",
    }
    [event] = [e for e in catalog.list_events(rig=RIG) if e.kind == "rig.calibrate"]
    assert event.id == asked.json()["event_id"] and event.data["kinds"] == ["baseline"]
    assert api.as_(OPERATOR, "POST", f"{RIGS}/ghost/rebaseline").status_code == 404
    assert api.as_(Role.TRAINER, "POST", f"{RIGS}/{RIG}/rebaseline").status_code == 403


def test_a_fault_is_cleared_by_an_operator_and_only_when_there_is_one(api):
    catalog = api.catalog
    catalog.upsert_rig(RIG, "emulator")
    catalog.heartbeat(RIG, RigStatus.IDLE)
    not_faulted = api.as_(OPERATOR, "POST", f"{RIGS}/{RIG}/clear-fault")
    assert not_faulted.status_code == 409 and "not faulted" in not_faulted.json()["detail"]
    catalog.heartbeat(RIG, RigStatus.FAULTED, "input overload")
    cleared = api.as_(OPERATOR, "POST", f"{RIGS}/{RIG}/clear-fault", json={"reason": "new cable"})
    assert cleared.status_code == 200 and cleared.json()["status"] == "idle"
    assert cleared.json()["status_reason"] == "fault cleared by test-operator: new cable"
    assert catalog.get_rig(RIG).status == RigStatus.IDLE


def test_a_rig_worker_heartbeats_over_http(api):
    api.catalog.upsert_rig(RIG, "emulator")
    beat = api.as_(Role.RIG, "POST", f"{RIGS}/{RIG}/heartbeat", json={"status": "capturing"})
    assert beat.status_code == 204
    rig = api.catalog.get_rig(RIG)
    assert rig.status == RigStatus.CAPTURING and rig.last_heartbeat is not None
    unregistered = api.as_(Role.ADMIN, "POST", f"{RIGS}/ghost/heartbeat")
    assert unregistered.status_code == 404 and "ghost" in unregistered.json()["detail"]
