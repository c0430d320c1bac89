"""One interface for every way a tone and notes reach a synth.

The capture engine talks only to :class:`Instrument`; a serial voice board, a whole synth
over MIDI and the in-process emulator are interchangeable connectors behind it (as in
ophyd-async: one device interface, real or emulated connectors).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from firmware_protocol.tone import Tone


class InstrumentError(RuntimeError):
    """The synth cannot be reached (port gone, device error); names the instrument."""


@runtime_checkable
class Instrument(Protocol):
    """What the capture engine needs from a synth."""

    name: str

    def open(self) -> None:
        """Connect and bring the synth to a known state (``reset``)."""

    def close(self) -> None: ...

    def program(self, tone: Tone) -> None:
        """Make ``tone`` the sounding tone; sends only what changed since the last call."""

    def note_on(self, key: int, velocity: int) -> float:
        """Start a note; returns when its message went out (``time.monotonic()``, taken as
        the bytes left, before any wait for the port to drain)."""

    def note_off(self, key: int) -> None: ...

    def all_notes_off(self) -> None: ...

    def reset(self) -> None:
        """Init sequence; forgets what was programmed so the next program sends everything."""
