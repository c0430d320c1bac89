"""A whole JX-10 / MKS-70 / JX-8P over MIDI: tones as SysEx, notes as note on/off.

mido picks the backend by name (``mido.Backend("mido.backends.rtmidi/UNIX_JACK")``), so
ALSA, JACK or CoreMIDI need no branches here. No receive speed limit is documented for
these synths, so SysEx messages are spaced by a configurable pause (a cautious default).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from daq.instruments.base import InstrumentError
from firmware_protocol.sysex import IPR, TONE_A, Device, Level, ToneAPR
from firmware_protocol.tone import Tone


class MidiSynth:
    """A full synth behind a MIDI output port.

    ``tone_message``: ``"apr"`` sends the whole tone (the only way into a stock JX-10,
    which ignores tone IPR); ``"ipr"`` sends only changed parameters (JX-8P, upgraded
    JX-10s), much faster when a job varies a few parameters.
    """

    def __init__(
        self,
        port: str,
        name: str = "midi-synth",
        channel: int = 0,
        device: Device = Device.MKS70,
        group: int = TONE_A,
        tone_message: Literal["apr", "ipr"] = "apr",
        sysex_gap_s: float = 0.005,
        backend: str | None = None,
    ) -> None:
        if not 0 <= channel <= 15:
            raise ValueError(f"channel={channel} is out of range; allowed 0..15 (MIDI 1..16)")
        self.name = name
        self.port_name = port
        self.channel = channel
        self.device = device
        self.group = group
        self.tone_message = tone_message
        self.sysex_gap_s = sysex_gap_s
        self.backend = backend
        self._port: Any = None
        self._tone: Tone | None = None
        self._sounding: set[int] = set()

    def open(self) -> None:
        import mido

        api = mido.Backend(self.backend) if self.backend else mido
        try:
            self._port = api.open_output(self.port_name)
        except (OSError, ValueError) as error:
            available = ", ".join(api.get_output_names()) or "none"
            raise InstrumentError(
                f"{self.name}: cannot open MIDI output {self.port_name!r}: {error} "
                f"(available: {available})"
            ) from error
        self.reset()

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    def _send(self, message: Any) -> float:
        """Send ``message``; returns when it went (``time.monotonic()``)."""
        if self._port is None:
            raise InstrumentError(f"{self.name}: MIDI output {self.port_name!r} is not open")
        try:
            self._port.send(message)
            return time.monotonic()
        except (OSError, ValueError) as error:
            raise InstrumentError(
                f"{self.name}: MIDI output {self.port_name!r} failed: {error}"
            ) from error

    def _send_sysex(self, wire: bytes) -> None:
        import mido

        self._send(mido.Message("sysex", data=wire[1:-1]))
        time.sleep(self.sysex_gap_s)

    def reset(self) -> None:
        import mido

        self._send(mido.Message("control_change", channel=self.channel, control=123, value=0))
        self._tone = None
        self._sounding.clear()

    def program(self, tone: Tone) -> None:
        if self.tone_message == "apr" or self._tone is None:
            if tone != self._tone:
                self._send_sysex(ToneAPR(self.device, self.channel, self.group, tone).encode())
        else:
            for parameter in tone.differing(self._tone):
                message = IPR(
                    self.device, self.channel, Level.TONE, self.group,
                    parameter.apr_index, tone.value(parameter),
                )  # fmt: skip
                self._send_sysex(message.encode())
        self._tone = tone

    def note_on(self, key: int, velocity: int) -> float:
        import mido

        message = mido.Message("note_on", channel=self.channel, note=key, velocity=velocity)
        sent = self._send(message)
        self._sounding.add(key)
        return sent

    def note_off(self, key: int) -> None:
        import mido

        self._send(mido.Message("note_off", channel=self.channel, note=key, velocity=0))
        self._sounding.discard(key)

    def all_notes_off(self) -> None:
        for key in sorted(self._sounding):
            self.note_off(key)
        self.reset()
