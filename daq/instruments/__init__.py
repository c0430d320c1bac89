"""How a tone and notes reach a synth: serial voice board, MIDI SysEx, or the emulator."""

from daq.instruments.base import Instrument, InstrumentError

__all__ = ["Instrument", "InstrumentError"]
