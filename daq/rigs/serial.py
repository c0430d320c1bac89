"""A rig of Super JX / JX-8P sound boards driven over the voice-board serial line.

Lanes on one port share the line (a Super JX's two boards: the board-select bytes F1/F9 pick
the board each message is for); lanes with ports of their own are separate boards on one
audio interface.
"""

from __future__ import annotations

from daq.instruments.base import Instrument
from daq.instruments.serial_board import SerialLine, SerialVoiceBoard
from daq.rigs.config import RigConfigError
from daq.rigs.live import LiveRig
from firmware_protocol.soundboard import Board


class SerialRig(LiveRig):
    def make_instruments(self) -> list[Instrument]:
        lines: dict[str, SerialLine] = {}
        boards: list[Instrument] = []
        for index in range(self.lanes):
            lane = self.definition.lane(index)
            if lane.port is None:
                raise RigConfigError(f"rig {self.name!r}: instrument = 'serial' needs a port")
            line = lines.setdefault(lane.port, SerialLine(lane.port, self.name))
            board = Board[(lane.board or "upper").upper()]
            boards.append(SerialVoiceBoard(lane.port, name=self.name, board=board, line=line))
        return boards

    def lane_device(self, lane: int) -> str:
        return f"serial port {self.definition.lane(lane).port}"

    @property
    def verification(self) -> str:
        return "cannot verify: nothing known lets a bare voice board report its tone"
