"""What every rig does the same way (daq.rigs.base): each lane's latency, lanes going out of
use and coming back, and what the catalog is told of it.

The rigs here are real ones that need no device: the rendered emulator (its probe tone always
sounds) and a serial rig that is never opened (latency and lanes are bookkeeping).
"""

from __future__ import annotations

import pytest

from daq.instruments.base import InstrumentError
from daq.rigs import LaneDefinition, RigDefinition, open_rig
from daq.rigs.base import FaultPolicy, SilentRig, probe_spec
from db.engine import open_catalog
from db.schema import RigStatus


@pytest.fixture
def catalog(tmp_path):
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield catalog
    catalog.close()


def two_lanes(instrument: str = "serial", **fields) -> RigDefinition:
    lanes = (LaneDefinition(port="loop://", input=1), LaneDefinition(port="loop://", input=2))
    return RigDefinition(name="bench", instrument=instrument, channels=2, lanes=lanes, **fields)


def test_each_lane_uses_its_own_measured_latency_and_a_lane_without_one_the_rigs():
    rig = open_rig(two_lanes())
    rig.record_latency(0.105, {"latency_s": 0.105, "lanes": [0.1, 0.11]})
    assert rig.latency == 0.105  # the rig's, as the API shows it
    assert (rig.lane_latency(0), rig.lane_latency(1)) == (0.1, 0.11)
    rig.record_latency(0.1, {"latency_s": 0.1, "lanes": [None, 0.12]})  # lane 1 was down
    assert (rig.lane_latency(0), rig.lane_latency(1)) == (0.1, 0.12)
    rig.record_latency(0.09, {"latency_s": 0.09})  # measured as one (jxdaq before lanes)
    assert (rig.lane_latency(0), rig.lane_latency(1)) == (0.09, 0.09)


def test_overrides_win_over_measurements_a_lanes_over_the_rigs():
    lanes = (LaneDefinition(port="loop://", input=1, latency_s=0.02),
             LaneDefinition(port="loop://", input=2))  # fmt: skip
    rig = open_rig(RigDefinition(name="bench", instrument="serial", channels=2, lanes=lanes,
                                 latency_s=0.05))  # fmt: skip
    rig.record_latency(0.1, {"latency_s": 0.1, "lanes": [0.1, 0.11]})
    assert (rig.lane_latency(0), rig.lane_latency(1)) == (0.02, 0.1)


def test_the_latency_and_each_lanes_are_read_back_from_the_catalog_by_a_later_rig(catalog):
    catalog.upsert_rig("bench", "serial")
    open_rig(two_lanes(), catalog).record_latency(0.105, {"latency_s": 0.105,
                                                          "lanes": [0.1, 0.11]})  # fmt: skip
    later = open_rig(two_lanes(), catalog)
    assert later.resolve_latency() == 0.105  # the newest calibration: nothing measured
    assert (later.lane_latency(0), later.lane_latency(1)) == (0.1, 0.11)
    assert catalog.get_rig("bench").latency_s == 0.105


def test_a_lane_out_of_use_is_told_to_the_catalog_and_its_return_too(catalog):
    catalog.upsert_rig("bench", "emulated")
    rig = open_rig(two_lanes("emulated"), catalog)
    rig.set_status(RigStatus.CAPTURING)
    rig.lane_down(1, "audio input channel 2", SilentRig("3 takes in a row were silent"))
    reason = catalog.get_rig("bench").status_reason
    assert reason is not None and "lane 2 faulted on audio input channel 2" in reason
    rig.lane_back(1)
    assert 1 not in rig.down and catalog.get_rig("bench").status_reason is None
    kinds = [(e.kind, e.data["lane"]) for e in catalog.list_events(rig="bench") if "lane" in e.kind]
    assert kinds == [("rig.lane_fault", 2), ("rig.lane_back", 2)]


def test_a_silent_lane_is_probed_again_when_due_and_comes_back_when_heard(catalog):
    catalog.upsert_rig("bench", "emulated")
    rig = open_rig(two_lanes("emulated"), catalog, faults=FaultPolicy(reprobe_s=3600.0))
    rig.lane_down(1, "channel 2", SilentRig("silent"))
    rig.lane_down(0, "serial port loop://", InstrumentError("port gone"))
    rig.reprobe()  # never probed since it fell: due at once
    assert list(rig.down) == [0], "the silent lane sounds (the renderer always does)"
    rig.lane_down(1, "channel 2", SilentRig("silent"))
    rig.reprobe()
    assert 1 in rig.down, "not due again within reprobe_s"
    assert 0 in rig.down, "a lane whose port failed comes back only when the rig reconnects"


def test_the_probe_is_a_short_loud_take_in_the_rigs_format():
    spec = probe_spec(48000, 2)
    assert (spec.sample_rate, spec.channels) == (48000, 2)
    assert spec.pre_roll_s + spec.hold_s + spec.tail.max_s <= 1.0
    assert [(n.key, n.velocity) for n in spec.notes] == [(69, 127)]
