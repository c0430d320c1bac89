"""A rig's calibrations (daq.rigs.calibration): the latency record, requests read from the
events log, drift baselines. On the rendered emulator rig: real captures, no devices."""

from __future__ import annotations

import pytest

from daq.calibration import LatencyResult
from daq.rigs import LaneDefinition, RigDefinition, open_rig
from daq.rigs.calibration import (
    CALIBRATE_EVENT,
    DRIFT,
    DRIFT_BASELINE,
    DRIFT_REQUEST,
    LATENCY_REQUEST,
    latency_record,
    request_rebaseline,
)
from db.engine import open_catalog
from db.records import NotFound
from db.registry import LATENCY

EMULATED = "emulated"


@pytest.fixture
def rig(tmp_path):
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.upsert_rig(EMULATED, "emulated")
    rig = open_rig(RigDefinition(name=EMULATED, instrument="emulated"), catalog)
    rig.calibration.start()
    yield rig
    catalog.close()


def test_a_latency_record_keeps_each_lanes_latency_when_there_are_lanes():
    one = latency_record(LatencyResult(0.1, 0.002, 3), 48000, "test")
    assert one == {"latency_s": 0.1, "jitter_s": 0.002, "attempts": 3, "sample_rate": 48000,
                   "measured_by": "test"}  # fmt: skip
    lanes = latency_record(LatencyResult(0.105, 0.002, 3, (0.1, None, 0.11)), 48000, "test")
    assert lanes["lanes"] == [0.1, None, 0.11]


def test_a_fixed_latency_is_the_rigs_and_every_lanes_without_measuring():
    definition = RigDefinition(name="bench", instrument="serial", channels=2, latency_s=0.03,
                               lanes=(LaneDefinition(port="loop://", input=1),
                                      LaneDefinition(port="loop://", input=2)))  # fmt: skip
    first = open_rig(definition)
    assert first.resolve_latency() == 0.03 == first.lane_latency(1)


def test_a_rebaseline_request_is_served_with_a_new_baseline_and_a_drift_check(rig):
    catalog = rig.catalog
    request_rebaseline(catalog, EMULATED, by="tester", reason="re-tuned")
    (cleared,) = catalog.list_calibrations(EMULATED, DRIFT_BASELINE)
    assert cleared.result["spectrum_db"] is None and cleared.result["cleared_by"] == "tester"
    rig.calibration.serve_requests(job_id=None)
    baseline = catalog.list_calibrations(EMULATED, DRIFT_BASELINE, limit=1)[0]
    assert baseline.result["spectrum_db"], "a new baseline from the reference tone"
    (drift,) = catalog.list_calibrations(EMULATED, DRIFT)
    assert drift.value == pytest.approx(0.0, abs=1e-6)  # the baseline's own check
    served = [e for e in catalog.list_events(rig=EMULATED) if e.kind == "rig.calibrated"]
    assert [e.data["kinds"] for e in served] == [["baseline"]]


def test_a_latency_request_leaves_a_fixed_latency_alone_and_a_drift_request_is_served(rig):
    catalog = rig.catalog
    catalog.log_event(CALIBRATE_EVENT, "asked", rig=EMULATED,
                      data={"kinds": [LATENCY_REQUEST, DRIFT_REQUEST]})  # fmt: skip
    rig.calibration.serve_requests(job_id=None)
    assert catalog.list_calibrations(EMULATED, LATENCY) == []  # the renderer's is fixed (0)
    served = [e for e in catalog.list_events(rig=EMULATED) if e.kind == "rig.calibrated"]
    assert [e.data["kinds"] for e in served] == [[DRIFT_REQUEST]]


def test_rebaseline_of_an_unknown_rig_says_which(rig):
    with pytest.raises(NotFound, match="'nowhere'"):
        request_rebaseline(rig.catalog, "nowhere", by="tester")
