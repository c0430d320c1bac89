"""Rigs files: the lane syntax, its checks, and the rigs files written before lanes."""

from __future__ import annotations

import pytest

from daq.rigs import KINDS, RigConfigError, load_rigs, open_rig
from daq.rigs.rendered import RenderedRig
from daq.rigs.serial import SerialRig


def rigs_from(tmp_path, text: str):
    path = tmp_path / "rigs.toml"
    path.write_text(text)
    return load_rigs(path)


def test_a_rigs_file_without_lanes_is_one_lane_of_the_rig_itself(tmp_path):
    rig = rigs_from(tmp_path, '[rigs.a]\ninstrument = "serial"\nport = "loop://"\nboard = "lower"\n'
                    "latency_s = 0.02\n")["a"]  # fmt: skip
    assert rig.lane_count == 1
    lane = rig.lane(0)
    assert (lane.port, lane.board, lane.input, lane.latency_s) == ("loop://", "lower", 1, 0.02)
    assert isinstance(open_rig(rig), SerialRig)
    assert isinstance(open_rig(load_rigs(None)["emulated"]), RenderedRig)
    assert set(KINDS) == {"emulated", "serial", "midi"}


def test_a_super_jx_is_two_lanes_on_one_port(tmp_path):
    rig = rigs_from(
        tmp_path,
        '[rigs.jx]\ninstrument = "serial"\nport = "/dev/ttyUSB0"\nchannels = 2\n'
        'lanes = [{board = "upper", input = 1}, {board = "lower", input = 2, latency_s = 0.011}]\n',
    )["jx"]
    upper, lower = rig.lane(0), rig.lane(1)
    assert rig.lane_count == 2
    port = "/dev/ttyUSB0"
    assert (upper.port, upper.board, upper.input, upper.latency_s) == (port, "upper", 1, None)
    assert (lower.port, lower.board, lower.input, lower.latency_s) == (port, "lower", 2, 0.011)
    serial = open_rig(rig)
    assert serial.shares_port(0) and serial.shares_port(1)
    assert serial.lane_audio(1) == "audio input 'default' channel 2"


def test_single_board_rigs_on_one_interface_are_lanes_with_ports_of_their_own(tmp_path):
    rig = rigs_from(
        tmp_path,
        '[rigs.bench]\ninstrument = "serial"\nchannels = 4\n'
        '[[rigs.bench.lanes]]\nport = "/dev/ttyUSB0"\ninput = 1\n'
        '[[rigs.bench.lanes]]\nport = "/dev/ttyUSB1"\ninput = 3\n',
    )["bench"]
    serial = open_rig(rig)
    assert [rig.lane(i).port for i in range(2)] == ["/dev/ttyUSB0", "/dev/ttyUSB1"]
    assert not serial.shares_port(0) and serial.lane_device(1) == "serial port /dev/ttyUSB1"


@pytest.mark.parametrize(
    ("lanes", "channels", "error"),
    [
        ("[{input = 1}, {input = 1}]", 2, "lanes share an input channel: inputs [1, 1]"),
        ("[{input = 1}, {input = 3}]", 2, "lane input 3 is past the rig's 2 channels"),
        ("[{input = 0}]", 2, "lanes.0.input"),
        ("[{inputs = 1}]", 2, "lanes.0.inputs"),
    ],
)
def test_bad_lanes_are_refused_naming_the_rig_and_the_field(tmp_path, lanes, channels, error):
    with pytest.raises(RigConfigError, match=r"\[rigs\.jx\]") as refused:
        rigs_from(tmp_path, f'[rigs.jx]\ninstrument = "serial"\nport = "p"\n'
                  f"channels = {channels}\nlanes = {lanes}\n")  # fmt: skip
    assert error in str(refused.value)
