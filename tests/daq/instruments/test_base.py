"""The instrument interface: a serial voice board is an Instrument."""

from __future__ import annotations

from daq.instruments.base import Instrument
from daq.instruments.serial_board import SerialVoiceBoard


def test_is_an_instrument():
    assert isinstance(SerialVoiceBoard("loop://"), Instrument)
