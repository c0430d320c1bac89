"""Serial rigs (daq.rigs.serial): boards on shared or separate voice-board lines."""

from __future__ import annotations

import pytest

from daq.rigs import LaneDefinition, RigConfigError, RigDefinition, open_rig
from firmware_protocol.soundboard import Board


def serial_rig(*lanes: LaneDefinition, port: str | None = None):
    return open_rig(RigDefinition(name="jx", instrument="serial", port=port, channels=4,
                                  lanes=lanes))  # fmt: skip


def test_a_super_jx_drives_both_boards_over_one_line():
    rig = serial_rig(LaneDefinition(board="lower", input=1), LaneDefinition(board="upper", input=2),
                     port="loop://")  # fmt: skip
    lower, upper = rig.make_instruments()
    assert (lower.board, upper.board) == (Board.LOWER, Board.UPPER)
    assert lower.line is upper.line, "one port, one line: the select bytes pick the board"
    assert rig.shares_port(0) and rig.lane_device(1) == "serial port loop://"


def test_boards_on_ports_of_their_own_have_lines_of_their_own():
    rig = serial_rig(LaneDefinition(port="loop://", input=1),
                     LaneDefinition(port="spy://loop://", input=2))  # fmt: skip
    first, second = rig.make_instruments()
    assert first.line is not second.line and first.board == second.board == Board.UPPER
    assert not rig.shares_port(1) and rig.lane_device(1) == "serial port spy://loop://"


def test_a_lane_without_a_port_is_refused_naming_the_rig():
    with pytest.raises(RigConfigError, match="rig 'jx': instrument = 'serial' needs a port"):
        serial_rig(LaneDefinition(input=1)).make_instruments()
