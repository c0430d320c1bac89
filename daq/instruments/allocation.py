"""Voice allocation for a sound board driven directly (the assigner's job, done by the host)."""

from __future__ import annotations

from collections import OrderedDict


class VoiceAllocator:
    """Round-robin over a board's voices; a key already sounding keeps its voice.

    Round-robin (rather than always voice 0) spreads wear and lets release tails of one
    note overlap the next, as the stock assigner does. When every voice is busy the oldest
    note is stolen.
    """

    def __init__(self, voices: int = 6) -> None:
        self.voices = voices
        self._next = 0
        self._sounding: OrderedDict[int, int] = OrderedDict()  # key -> voice, oldest first

    def on(self, key: int) -> int:
        if key in self._sounding:
            return self._sounding[key]
        busy = set(self._sounding.values())
        for step in range(self.voices):
            voice = (self._next + step) % self.voices
            if voice not in busy:
                break
        else:
            _, voice = self._sounding.popitem(last=False)
        self._next = (voice + 1) % self.voices
        self._sounding[key] = voice
        return voice

    def off(self, key: int) -> int | None:
        """The voice ``key`` was sounding on, or None if it was not sounding."""
        return self._sounding.pop(key, None)

    def sounding(self) -> dict[int, int]:
        return dict(self._sounding)

    def clear(self) -> None:
        self._sounding.clear()
