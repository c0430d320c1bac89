"""What a whole JX-10 / MKS-70 does with MIDI: its assigner turns messages into board bytes.

The emulator's MIDI front end feeds :class:`Assigner` raw MIDI messages and sends what it
returns down the (emulated) voice-board line, so a tone that arrives as SysEx is played by
the very same board code as a tone sent as voice-board bytes, and sounds identical.

What it understands (MIDI channel ``settings.channel``):

* tone APR (``F0 41 35 0n 24 20 GG ...``; JX-8P's 0x21 too; a Vecoven OS4 ``38`` too, its
  added parameters behind the ``FD`` page prefix) and tone IPR (``36``, and OS4's ``39``
  numbered by ``Os4Parameter.ipr``): group 01 (tone A) goes to the upper board, 02 (tone B)
  to the lower one. A whole tone is sent as the stock assigner sends it
  (:data:`firmware_protocol.soundboard` ``LoadStyle``): parameters in APR order, ``B5 00``,
  then VCA LEVEL rescaled; an IPR sends the board what it changes.
* the OS4 edit-buffer request (``3D``): the answer (:class:`~firmware_protocol.sysex.EditBuffer`,
  the two tones the assigner holds) goes to ``answer`` message by message: the MIDI
  front end's output port.
* note on / off, with voice allocation per board and the key mode of the settings;
  pitch bend, modulation wheel (CC 1), hold pedal (CC 64), all notes off (CC 123).

Anything else (patch messages, program changes, other channels) is counted in ``ignored``:
the emulated instrument has no patch memory.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from firmware_protocol.parameters import (
    APR_TONE_LENGTH,
    BY_CODE,
    CONTROLS_BY_NAME,
    FIRST_PARAMETER_INDEX,
    MAX_VALUE,
    OS4_BY_IPR,
    PATCH_APR_LENGTH,
    board_code,
    lookup,
)
from firmware_protocol.patch import Patch, PatchLayout
from firmware_protocol.soundboard import (
    VOICES,
    Board,
    LoadStyle,
    encode_all_notes_off,
    encode_bend,
    encode_hold,
    encode_modulation,
    encode_note_off,
    encode_note_on,
    encode_select,
    encode_tone,
)
from firmware_protocol.sysex import (
    IPR,
    TONE_A,
    TONE_B,
    EditBuffer,
    EditBufferRequest,
    Firmware,
    Level,
    SysExError,
    ToneAPR,
    decode_message,
)
from firmware_protocol.tone import INIT_TONE, Tone


class KeyMode(enum.Enum):
    """Which board(s) a key plays (the JX-10 patch's key mode, reduced to what boards do)."""

    UPPER = "upper"  # tone A alone
    LOWER = "lower"  # tone B alone
    DUAL = "dual"  # both tones on every key
    SPLIT = "split"  # tone B below the split key, tone A from it up


def _control(name: str) -> int:
    return CONTROLS_BY_NAME[name].code


#: The control init of the stock assigner, per board, in the order the captured stream
#: (shared/data/soundboard/assigner-stream-two-tones.bin) sends it after loading tones.
#: MASTER.TUNE1 / 2 are filled in from the settings.
_STOCK_INIT = (
    ("PORTA.TIME", 0x01),
    ("BEND.RANGE", 0x00),
    ("AFTER.VIB.SW", 0x00),
    ("AFTER.BRI.SW", 0x00),
    ("AFTER.VOL.SW", 0x00),
    ("AFTER.VIB", 0x00),
    ("AFTER.BRI", 0x00),
    ("AFTER.VOL", 0x00),
    ("SILENCE", MAX_VALUE),
    ("HOLD.SW", 0x00),
    ("CHECK.ENV.SW", 0x00),
    ("MASTER.TUNE1", None),
    ("MASTER.TUNE2", None),
    ("PORTA.SW", 0x00),
)

#: The captured stock assigner's VCA LEVEL rescaling (0x5C lower, 0x74 upper for 0x7F:
#: its balance and volume settings) and master tune bytes (0x51 lower, 0x32 upper).
STOCK_VCA_LEVEL_SCALE = MappingProxyType({Board.LOWER: 0x5C / 0x7F, Board.UPPER: 0x74 / 0x7F})
STOCK_MASTER_TUNE = MappingProxyType({Board.LOWER: 0x51, Board.UPPER: 0x32})

_NOTE_OFF, _NOTE_ON, _CONTROL_CHANGE, _PITCH_BEND = 0x80, 0x90, 0xB0, 0xE0
_CC_MODULATION, _CC_HOLD, _CC_ALL_NOTES_OFF = 1, 64, 123
_BEND_CENTRE = 8192
_VCA_LEVEL_CODE = lookup("VCA LEVEL").code
#: The patch an edit-buffer answer names: the emulated instrument has no patch memory.
_NO_PATCH = Patch(bytes(PATCH_APR_LENGTH), PatchLayout.APR)


@dataclass(frozen=True)
class AssignerSettings:
    """The instrument's front-panel state that shapes what reaches the boards."""

    channel: int = 0  # MIDI channel 0..15 (1..16 on a panel)
    key_mode: KeyMode = KeyMode.UPPER
    split_key: int = 60  # SPLIT: the lowest key of tone A
    vca_level_scale: Mapping[Board, float] = field(default_factory=lambda: STOCK_VCA_LEVEL_SCALE)
    master_tune: Mapping[Board, int] = field(default_factory=lambda: STOCK_MASTER_TUNE)

    def __post_init__(self) -> None:
        if not 0 <= self.channel <= 15:
            raise ValueError(f"channel={self.channel!r} is out of range; allowed 0..15")
        if not 0 <= self.split_key <= MAX_VALUE:
            raise ValueError(f"split_key={self.split_key!r} is out of range; allowed 0..127")


class VoiceAllocator:
    """Six voices of one board: a new key takes the voice released longest ago.

    A key already sounding keeps its voice; with every voice busy the oldest note is stolen.
    Deterministic, so the first note always lands on voice 0.
    """

    def __init__(self, voices: int = len(VOICES)) -> None:
        self._keys: list[int | None] = [None] * voices  # key held by each voice
        self._order = list(range(voices))  # least recently started / released first

    def _touch(self, voice: int) -> None:
        self._order.remove(voice)
        self._order.append(voice)

    def note_on(self, key: int) -> int:
        if key in self._keys:
            voice = self._keys.index(key)
        else:
            free = [v for v in self._order if self._keys[v] is None]
            voice = free[0] if free else self._order[0]
        self._keys[voice] = key
        self._touch(voice)
        return voice

    def note_off(self, key: int) -> int | None:
        """The voice that was playing ``key``, now free; None if no voice had it."""
        if key not in self._keys:
            return None
        voice = self._keys.index(key)
        self._keys[voice] = None
        self._touch(voice)
        return voice

    def release_all(self) -> None:
        self._keys = [None] * len(self._keys)


class Assigner:
    """MIDI in, voice-board bytes out; ``ignored`` counts messages it does not act on.

    ``answer``: where SysEx answers go (the MIDI output); without it a request is ignored.
    ``tones``: the tone each group's edit buffer holds (INIT until one arrives).
    """

    def __init__(
        self,
        settings: AssignerSettings | None = None,
        answer: Callable[[bytes], None] | None = None,
    ) -> None:
        self.settings = settings or AssignerSettings()
        self.answer = answer
        self.ignored = 0
        self.tones: dict[int, Tone] = {TONE_A: INIT_TONE, TONE_B: INIT_TONE}
        self._voices = {board: VoiceAllocator() for board in (Board.LOWER, Board.UPPER)}

    def power_on(self) -> bytes:
        """What the assigner sends each board when it starts: the stock control init."""
        out = bytearray()
        for board in (Board.LOWER, Board.UPPER):
            tune = self.settings.master_tune[board]
            out += encode_select(board)
            for name, value in _STOCK_INIT:
                out += bytes([_control(name), tune if value is None else value])
        return bytes(out)

    def midi(self, message: bytes) -> bytes:
        """Voice-board bytes for one complete MIDI message (running status not accepted)."""
        if not message:
            return b""
        status = message[0]
        if status == 0xF0:
            return self._sysex(bytes(message))
        if (
            status & 0x0F != self.settings.channel
            or len(message) < 2
            or any(byte > 0x7F for byte in message[1:])  # a data byte cannot be a status byte
        ):
            self.ignored += 1
            return b""
        kind = status & 0xF0
        if kind == _NOTE_ON and len(message) == 3 and message[2] > 0:
            return self._note_on(message[1], message[2])
        if kind in (_NOTE_ON, _NOTE_OFF) and len(message) == 3:
            return self._note_off(message[1], message[2] if kind == _NOTE_OFF else 0)
        if kind == _PITCH_BEND and len(message) == 3:
            offset = (message[2] << 7 | message[1]) - _BEND_CENTRE  # -8192..8191
            amount = round(offset * MAX_VALUE / (_BEND_CENTRE - (offset > 0)))
            return self._both(encode_bend(amount))
        if kind == _CONTROL_CHANGE and len(message) == 3:
            return self._control_change(message[1], message[2])
        self.ignored += 1
        return b""

    # -- notes ------------------------------------------------------------------------------
    def _boards_for(self, key: int) -> tuple[Board, ...]:
        mode = self.settings.key_mode
        if mode is KeyMode.SPLIT:
            return (Board.UPPER,) if key >= self.settings.split_key else (Board.LOWER,)
        return {
            KeyMode.UPPER: (Board.UPPER,),
            KeyMode.LOWER: (Board.LOWER,),
            KeyMode.DUAL: (Board.UPPER, Board.LOWER),
        }[mode]

    def _note_on(self, key: int, velocity: int) -> bytes:
        return b"".join(
            encode_select(board) + encode_note_on(self._voices[board].note_on(key), key, velocity)
            for board in self._boards_for(key)
        )

    def _note_off(self, key: int, velocity: int) -> bytes:
        out = bytearray()
        for board, allocator in self._voices.items():
            voice = allocator.note_off(key)
            if voice is not None:
                out += encode_select(board) + encode_note_off(voice, key, velocity)
        return bytes(out)

    def _control_change(self, number: int, value: int) -> bytes:
        if number == _CC_MODULATION:
            return self._both(encode_modulation(value))
        if number == _CC_HOLD:
            return self._both(encode_hold(value >= 64))
        if number == _CC_ALL_NOTES_OFF:
            for allocator in self._voices.values():
                allocator.release_all()
            return self._both(encode_all_notes_off())
        self.ignored += 1
        return b""

    @staticmethod
    def _both(commands: bytes) -> bytes:
        return encode_select(Board.BOTH) + commands

    # -- tones ------------------------------------------------------------------------------
    def _sysex(self, data: bytes) -> bytes:
        try:
            message, end = decode_message(data)
        except SysExError:
            self.ignored += 1
            return b""
        if end != len(data) or message.channel != self.settings.channel:
            self.ignored += 1
            return b""
        if isinstance(message, ToneAPR):
            board = self._board_of(message.group)
            style = LoadStyle(
                porta_switch_off=True, vca_level_scale=self.settings.vca_level_scale[board]
            )
            self.tones[message.group] = message.tone
            return encode_select(board) + encode_tone(message.tone, style=style)
        if isinstance(message, IPR) and message.level is Level.TONE:
            if message.firmware is Firmware.OS4 and message.parameter in OS4_BY_IPR:
                return self._os4_parameter(message)
            if FIRST_PARAMETER_INDEX <= message.parameter < APR_TONE_LENGTH:
                return self._tone_parameter(self._board_of(message.group), message)
        if isinstance(message, EditBufferRequest) and self.answer is not None:
            tones = (self.tones[TONE_A], self.tones[TONE_B])
            for reply in EditBuffer(message.channel, 0, _NO_PATCH, (0, 0), tones).messages():
                self.answer(reply.encode())  # one MIDI message each
            return b""
        self.ignored += 1
        return b""

    def _os4_parameter(self, message: IPR) -> bytes:
        """An OS4 IPR: the group's tone with the parameter set, and what the board needs to
        go there (a stock code, or the ``FD`` page for a parameter OS4 adds)."""
        board = self._board_of(message.group)
        held = self.tones[message.group]
        body = bytearray(held.to_os4().os4 or b"")
        body[OS4_BY_IPR[message.parameter].apr_index] = message.value
        tone = self.tones[message.group] = Tone.from_os4(bytes(body))
        style = LoadStyle(vca_level_scale=self.settings.vca_level_scale[board])
        return encode_select(board) + encode_tone(tone, previous=held, style=style)

    def _tone_parameter(self, board: Board, message: IPR) -> bytes:
        code = board_code(message.parameter)
        if code in BY_CODE:  # kept for the edit-buffer answer
            values = {BY_CODE[code].name: message.value}
            self.tones[message.group] = Tone.from_values(values, base=self.tones[message.group])
        value = message.value
        if code == _VCA_LEVEL_CODE:
            value = round(value * self.settings.vca_level_scale[board])
        return encode_select(board) + bytes([code, value])

    @staticmethod
    def _board_of(group: int) -> Board:
        return Board.UPPER if group == TONE_A else Board.LOWER
