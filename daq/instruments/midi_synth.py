"""A whole JX-10 / MKS-70 / JX-8P over MIDI: tones as SysEx, notes as note on/off.

mido picks the backend by name (``mido.Backend("mido.backends.rtmidi/UNIX_JACK")``), so
ALSA, JACK or CoreMIDI need no branches here. No receive speed limit is documented for
these synths beyond MIDI's own rate (:data:`MIDI_BYTES_PER_S`), so SysEx messages are
spaced by a configurable pause (a cautious default, :data:`SYSEX_GAP_S`).

A Vecoven OS4 instrument (``firmware=Firmware.OS4``) takes tones as OS4 APR (0x38) and
per-parameter OS4 IPR (0x39), and answers the edit-buffer request (0x3D, firmware 4.19 and
up) on its MIDI OUT: with ``input_port`` set, :meth:`MidiSynth.open` confirms the firmware
by that answer and :meth:`MidiSynth.verify` compares the tone it holds with the tone sent.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from daq.instruments.base import InstrumentError
from daq.instruments.midi_input import PolledInput
from firmware_protocol.sysex import (
    IPR,
    TONE_A,
    Device,
    EditBuffer,
    EditBufferRequest,
    Firmware,
    Level,
    SysExError,
    ToneAPR,
)
from firmware_protocol.tone import Tone

#: MIDI 1.0: 31,250 baud, 10 bits a byte (start, 8 data, stop) into the synth's MIDI IN.
MIDI_BYTES_PER_S = 31250 / 10
#: The pause after each SysEx message: none is documented, 5 ms is a cautious default.
SYSEX_GAP_S = 0.005
#: How long to wait for the six messages of an edit-buffer answer (309 bytes, about
#: 0.1 s at MIDI rate; the instrument's own reaction time is not documented).
ANSWER_TIMEOUT_S = 1.0
_REPLY_MESSAGES = 6
#: Requests before an instrument counts as not answering (a MIDI message can be lost on
#: the way, e.g. by a JACK client that missed a cycle).
ASK_ATTEMPTS = 3
_ROLAND_ID = 0x41


def sysex_time_s(wire: bytes, gap_s: float = SYSEX_GAP_S) -> float:
    """How long a SysEx message holds the synth's MIDI IN: its bytes at MIDI rate, then the
    pause. A host port may take bytes faster (USB), the synth cannot: sending no faster
    keeps a message from arriving while the last one is still being taken in."""
    return len(wire) / MIDI_BYTES_PER_S + gap_s


def tone_sysex(
    tone: Tone,
    held: Tone | None,
    firmware: Firmware = Firmware.STOCK,
    tone_message: Literal["apr", "ipr"] = "apr",
    device: Device = Device.MKS70,
    channel: int = 0,
    group: int = TONE_A,
) -> list[bytes]:
    """The SysEx that takes a synth holding ``held`` (None: unknown) to ``tone``: the whole
    tone (OS4 APR on OS4), or with ``"ipr"`` one IPR per parameter that differs (OS4's
    numbering and its parameters on OS4) when that takes the synth less time than the
    whole tone (a 10-byte IPR and its pause cost a fifth of an OS4 APR: past about four
    changes, the whole tone is quicker)."""
    if tone == held:
        return []
    sent = tone.to_os4() if firmware is Firmware.OS4 else tone
    whole = [ToneAPR(device, channel, group, sent, firmware).encode()]
    if tone_message == "apr" or held is None:
        return whole
    if firmware is Firmware.OS4:
        body = sent.os4 or b""
        changes = [(p.ipr, body[p.apr_index]) for p in tone.differing_os4(held)]
    else:
        changes = [(p.apr_index, tone.value(p)) for p in tone.differing(held)]
    head = (device, channel, Level.TONE, group)
    deltas = [IPR(*head, number, value, firmware).encode() for number, value in changes]
    return deltas if _time_s(deltas) < _time_s(whole) else whole


def _time_s(wires: list[bytes]) -> float:
    return sum(sysex_time_s(wire) for wire in wires)


class FirmwareMismatch(InstrumentError):
    """The rigs file's ``firmware`` is not what the instrument runs."""


class ReadbackMismatch(InstrumentError):
    """The tone read back differs from the tone sent; ``parameters`` names each difference
    as (name, sent, read)."""

    def __init__(self, message: str, parameters: list[tuple[str, int, int]]) -> None:
        super().__init__(message)
        self.parameters = parameters


class MidiSynth:
    """A full synth behind a MIDI output port (and, to read it back, an input port).

    ``tone_message``: ``"apr"`` sends the whole tone (the only way into a stock JX-10,
    which ignores tone IPR); ``"ipr"`` sends only the changed parameters (JX-8P, OS4) where
    that is quicker than the whole tone (:func:`tone_sysex`). The first tone after opening,
    a reset or a failed read-back always goes whole (APR): the synth's tone is then in doubt.
    """

    def __init__(
        self,
        port: str,
        name: str = "midi-synth",
        channel: int = 0,
        device: Device = Device.MKS70,
        group: int = TONE_A,
        tone_message: Literal["apr", "ipr"] = "apr",
        sysex_gap_s: float = SYSEX_GAP_S,
        backend: str | None = None,
        firmware: Firmware = Firmware.STOCK,
        input_port: str | None = None,
        answer_timeout_s: float = ANSWER_TIMEOUT_S,
    ) -> None:
        if not 0 <= channel <= 15:
            raise ValueError(f"channel={channel} is out of range; allowed 0..15 (MIDI 1..16)")
        if firmware is Firmware.OS4 and device is not Device.MKS70:
            raise ValueError("firmware: Vecoven OS4 runs on the JX-10/MKS-70 only")
        self.name = name
        self.port_name = port
        self.channel = channel
        self.device = device
        self.group = group
        self.tone_message = tone_message
        self.sysex_gap_s = sysex_gap_s
        self.backend = backend
        self.firmware = firmware
        self.input_name = input_port
        self.answer_timeout_s = answer_timeout_s
        self._port: Any = None
        self._input: Any = None
        self._tone: Tone | None = None  # what IPR deltas start from (None: send whole)
        self._sent: Tone | None = None  # what the synth should hold (a reset keeps it)
        self._sounding: set[int] = set()

    # -- ports ----------------------------------------------------------------------------
    def _api(self) -> Any:
        import mido

        return mido.Backend(self.backend) if self.backend else mido

    def open(self) -> None:
        api = self._api()
        self._port = self._open_port(api.open_output, api.get_output_names, "output",
                                     self.port_name)  # fmt: skip
        if self.input_name is not None:
            self._input = self._open_port(
                lambda name: PolledInput(name, self.backend, "jxdaq-rig"),
                lambda: PolledInput.names(self.backend), "input", self.input_name,
            )  # fmt: skip
        self._sent = None
        self.reset()
        if self._input is not None:
            self._confirm_firmware()

    def _open_port(self, opener: Any, names: Any, kind: str, name: str) -> Any:
        try:
            return opener(name)
        except (OSError, ValueError) as error:
            self.close()
            available = ", ".join(names()) or "none"
            raise InstrumentError(
                f"{self.name}: cannot open MIDI {kind} {name!r}: {error} (available: {available})"
            ) from error

    def close(self) -> None:
        for port in (self._port, self._input):
            if port is not None:
                port.close()
        self._port = self._input = None

    @property
    def can_read_back(self) -> bool:
        """Whether the synth can say which tone it holds: OS4 with a MIDI input to hear it."""
        return self.firmware is Firmware.OS4 and self.input_name is not None

    # -- sending --------------------------------------------------------------------------
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
        time.sleep(sysex_time_s(wire, self.sysex_gap_s))

    def reset(self) -> None:
        import mido

        self._send(mido.Message("control_change", channel=self.channel, control=123, value=0))
        self._tone = None
        self._sounding.clear()

    def tone_messages(self, tone: Tone) -> list[bytes]:
        """The SysEx that takes the synth from the tone it holds to ``tone``."""
        return tone_sysex(tone, self._tone, self.firmware, self.tone_message, self.device,
                          self.channel, self.group)  # fmt: skip

    def program(self, tone: Tone) -> None:
        for wire in self.tone_messages(tone):
            self._send_sysex(wire)
        self._tone = self._sent = tone

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

    # -- reading back ---------------------------------------------------------------------
    def _collect(self) -> bytes:
        """Send the edit-buffer request; the answer's bytes (b"" if none came in time)."""
        assert self._input is not None
        self._input.drain()  # nothing stale is taken for the answer
        self._send_sysex(EditBufferRequest(self.channel).encode())
        answer: list[bytes] = []
        deadline = time.monotonic() + self.answer_timeout_s
        while len(answer) < _REPLY_MESSAGES and time.monotonic() < deadline:
            wire = self._input.poll()
            if wire is None:
                time.sleep(0.001)
            elif wire[:2] == bytes((0xF0, _ROLAND_ID)) and wire[3:4] == bytes((self.channel,)):
                answer.append(wire)
        return b"".join(answer)

    def _ask(self) -> tuple[EditBuffer | None, str | None]:
        """The edit buffer, asked up to ASK_ATTEMPTS times (an answer lost or cut in transit
        is asked again; what a whole answer says is never second-guessed); else None and
        why (None: nothing came back at all)."""
        why: str | None = None
        for _ in range(ASK_ATTEMPTS):
            wire = self._collect()
            if not wire:
                continue
            try:
                return EditBuffer.decode(wire), None
            except SysExError as error:
                why = f"bad edit-buffer answer: {error}"
        return None, why

    def _confirm_firmware(self) -> None:
        answer, why = self._ask()
        where = f"MIDI input {self.input_name!r}"
        if self.firmware is Firmware.OS4 and answer is None:
            heard = f" ({why})" if why else ""
            raise FirmwareMismatch(
                f"{self.name}: firmware = 'os4', but no answer to the OS4 edit-buffer request "
                f"on {where} within {self.answer_timeout_s:g} s{heard} (a stock instrument, "
                "or OS4 before 4.19, does not answer): set firmware = 'stock' or check the "
                "MIDI OUT"
            )
        if self.firmware is Firmware.STOCK and (answer is not None or why is not None):
            raise FirmwareMismatch(
                f"{self.name}: firmware = 'stock', but the instrument answered the OS4 "
                f"edit-buffer request on {where}: it runs Vecoven OS4; set firmware = 'os4'"
            )

    def read_back(self) -> Tone:
        """The tone the synth holds in this synth's group, as it answers the edit-buffer
        request."""
        if not self.can_read_back or self._input is None:
            raise InstrumentError(f"{self.name}: cannot read back (needs firmware = 'os4' "
                                  "and an open midi_input)")  # fmt: skip
        answer, why = self._ask()
        if answer is None:
            raise InstrumentError(
                f"{self.name}: MIDI input {self.input_name!r}: "
                f"{why or f'no edit-buffer answer within {self.answer_timeout_s:g} s'} "
                f"({ASK_ATTEMPTS} requests)"
            )
        return answer.tone(self.group)

    def verify(self) -> None:
        """Raise :class:`ReadbackMismatch` naming each parameter where the tone the synth
        holds differs from the tone last sent (then the next tone goes whole)."""
        sent = self._sent
        if sent is None:
            return
        held = self.read_back()
        wrong = held.differing_os4(sent)
        if not wrong:
            return
        self._tone = None
        ours, theirs = sent.to_os4().os4 or b"", held.to_os4().os4 or b""
        found = [(p.name, ours[p.apr_index], theirs[p.apr_index]) for p in wrong]
        listed = "; ".join(f"{name} sent {a}, read {b}" for name, a, b in found)
        raise ReadbackMismatch(
            f"{self.name}: the tone read back differs from the tone sent in {len(found)} "
            f"parameter(s): {listed}",
            found,
        )
