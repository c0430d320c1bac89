"""Rigs, calibrations, events, API tokens and frozen datasets."""

from __future__ import annotations

import pytest

from db.records import NotFound
from db.schema import RigStatus


def test_rig_upsert_keeps_status_and_latency(catalog):
    rig = catalog.upsert_rig("jx-1", "serial", audio_device="hw:1", config={"port": "/dev/ttyUSB0"})
    assert (rig.status, rig.latency_s) == (RigStatus.IDLE, None)
    catalog.record_calibration("jx-1", "latency", {"method": "click"}, value=0.0123)
    catalog.heartbeat("jx-1", RigStatus.CAPTURING)
    again = catalog.upsert_rig("jx-1", "midi", audio_device="hw:2")
    assert (again.id, again.transport, again.audio_device) == (rig.id, "midi", "hw:2")
    assert (again.status, again.latency_s) == (RigStatus.CAPTURING, 0.0123)
    assert [r.name for r in catalog.list_rigs()] == ["jx-1"]


def test_faults_are_logged_with_their_reason(catalog):
    catalog.upsert_rig("jx-1", "serial")
    catalog.heartbeat("jx-1")
    catalog.heartbeat("jx-1", RigStatus.FAULTED, "serial port /dev/ttyUSB0 vanished")
    rig = catalog.get_rig("jx-1")
    assert rig.status == RigStatus.FAULTED and rig.last_heartbeat is not None
    [event] = catalog.list_events(rig="jx-1")
    assert event.level == "error" and "vanished" in event.message
    assert catalog.list_events(after_id=event.id) == []
    with pytest.raises(NotFound):
        catalog.get_rig("nope")


def test_calibrations_newest_first_by_kind(catalog):
    catalog.upsert_rig("jx-1", "serial")
    for distance in (0.1, 0.2, 0.3):
        catalog.record_calibration("jx-1", "drift", {"distance": distance}, value=distance)
    catalog.record_calibration("jx-1", "latency", {}, value=0.01)
    drift = catalog.list_calibrations("jx-1", "drift")
    assert [c.value for c in drift] == [0.3, 0.2, 0.1]
    assert len(catalog.list_calibrations("jx-1")) == 4
