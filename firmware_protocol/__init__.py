"""The JX wire protocols, pure: bytes <-> values. No I/O, no threads, no numpy."""

from firmware_protocol.parameters import TONE_PARAMETERS, ToneParameter, lookup
from firmware_protocol.tone import INIT_TONE, Tone, ToneValueError

__all__ = ["INIT_TONE", "TONE_PARAMETERS", "Tone", "ToneParameter", "ToneValueError", "lookup"]
