"""The voice-board byte protocol (assigner -> sound board): typed events, encoder, parser.

The sound board's 8031 reads a one-way 31250-baud byte stream. Status bytes are >= 0x80,
data bytes < 0x80; any status byte starts a new command, so a command cut short by one is
dropped, and data bytes outside a command are ignored. :class:`SoundboardParser` follows
those rules exactly, in any chunking, and never raises. Facts and their confidence are in
the project's PROTOCOL.md, section 2; the uncertain choices are made once, here:

* :data:`DATA_LENGTHS` is the one table of how many data bytes follow each status byte.
* :data:`INITIAL_SELECTION` is the board(s) a command reaches before the first select.
* :class:`LoadStyle` holds the stock assigner's habits the encoder may copy
  (``B5 00`` after a tone load, VCA LEVEL rescaling).
* What "the tone" of a board is after a replay is said in :func:`replay`.
* Vecoven OS4's ``FD oo`` page prefix: ``FD 01 cc vv`` sets the OS4-added parameter of
  board code ``cc`` (:data:`~firmware_protocol.parameters.OS4_BOARD_CODES`; the encoding
  is this project's choice, stated in parameters.py). The prefix applies to the next
  parameter command only; any other command after it drops the prefix (counted as dropped).
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from types import MappingProxyType
from typing import NamedTuple

from firmware_protocol import os4 as os4_body
from firmware_protocol.parameters import (
    APR_TONE_LENGTH,
    BY_CODE,
    CONTROLS_BY_CODE,
    CONTROLS_BY_NAME,
    MAX_VALUE,
    NAME_LENGTH,
    OS4_ADDED,
    OS4_BOARD_CODES,
    OS4_BOARD_PAGE,
    OS4_BY_BOARD_CODE,
    TONE_PARAMETERS,
    BoardControl,
    Os4Parameter,
    ToneParameter,
    apr_index_of,
    lookup,
)
from firmware_protocol.tone import Tone

# -- the command table ----------------------------------------------------------------------


class Board(enum.IntFlag):
    """Which sound board(s) the following commands reach."""

    LOWER = 1
    UPPER = 2
    BOTH = 3


SELECT_BYTES: Mapping[Board, int] = MappingProxyType(
    {Board.LOWER: 0xF1, Board.UPPER: 0xF9, Board.BOTH: 0xF4}
)
_BOARD_OF_SELECT = {status: board for board, status in SELECT_BYTES.items()}


_PAGE_PREFIX = 0xFD


def _data_lengths() -> dict[int, int]:
    lengths = dict.fromkeys(range(0x80, 0xC0), 1)  # tone parameters and board controls
    lengths |= dict.fromkeys(range(0xC0, 0xE0), 2)  # note on / note off: key, velocity
    # From 0xE0 up: the selects (F1 F4 F9) and commands of unknown meaning. No source gives
    # those data, so they take none and data bytes after them count as stray; this is
    # also the choice that loses nothing if it is wrong. The evidence there is:
    lengths |= dict.fromkeys(range(0xE0, 0x100), 0)
    lengths[0xF5] = 0  # the stock stream has `F5 C0 00 F4`: F5 is followed by a status byte
    lengths[_PAGE_PREFIX] = 1  # Vecoven OS4 extended-parameter page prefix: `FD oo`
    return lengths


#: THE table: data bytes that follow each status byte 0x80..0xFF.
DATA_LENGTHS: Mapping[int, int] = MappingProxyType(_data_lengths())

#: Before the first select, a command reaches both boards (a board listens from power-up;
#: no source says otherwise). Used by :func:`replay`.
INITIAL_SELECTION = Board.BOTH

VOICES = range(6)  # voices per board
_SILENCE = CONTROLS_BY_NAME["SILENCE"].code
_PORTA_SWITCH = CONTROLS_BY_NAME["PORTA.SW"].code
_BENDER = CONTROLS_BY_NAME["BENDER"].code
_BENDER_POLARITY = CONTROLS_BY_NAME["BENDER.POLARITY"].code
_HOLD = CONTROLS_BY_NAME["HOLD.SW"].code
_MODULATION = CONTROLS_BY_NAME["MODULATION"].code
_UNKNOWN_AE = CONTROLS_BY_NAME["UNKNOWN.AE"]
_AE_INDEX = apr_index_of(_UNKNOWN_AE.code)
_VCA_LEVEL = lookup("VCA LEVEL")

#: Codes that land in a tone's APR body on the board: the 44 parameters plus 0xAE (APR 57,
#: meaning unknown), which the stock assigner sends inside every tone load.
TONE_BODY_CODES: frozenset[int] = frozenset(p.code for p in TONE_PARAMETERS) | {_UNKNOWN_AE.code}


# -- events ---------------------------------------------------------------------------------


class Select(NamedTuple):
    """F1 / F9 / F4: the following commands reach the lower, upper or both boards."""

    board: Board


class ParameterChange(NamedTuple):
    """80..AF vv: set a tone parameter (or a patch-level control, 8C..8E and AE)."""

    code: int
    value: int

    @property
    def parameter(self) -> ToneParameter | BoardControl:
        return BY_CODE.get(self.code) or CONTROLS_BY_CODE[self.code]


class Control(NamedTuple):
    """B0..BF vv: a board control (bender, hold, modulation, master tune...)."""

    code: int
    value: int

    @property
    def parameter(self) -> BoardControl:
        return CONTROLS_BY_CODE[self.code]


class NoteOn(NamedTuple):
    """Cv kk vv. ``voice`` is the status byte's low nibble (0..5 on a real board)."""

    voice: int
    key: int
    velocity: int


class NoteOff(NamedTuple):
    """Dv kk vv. ``voice`` is the status byte's low nibble."""

    voice: int
    key: int
    velocity: int


class Os4ParameterChange(NamedTuple):
    """FD pp cc vv: set an OS4-added tone parameter (page ``pp``, board code ``cc``)."""

    page: int
    code: int
    value: int

    @property
    def parameter(self) -> Os4Parameter | None:
        """The OS4 parameter, or None for a page or code no parameter uses."""
        return OS4_BY_BOARD_CODE.get(self.code) if self.page == OS4_BOARD_PAGE else None


class Unknown(NamedTuple):
    """Any other status byte, with the data bytes :data:`DATA_LENGTHS` gives it."""

    status: int
    data: bytes


Event = Select | ParameterChange | Control | NoteOn | NoteOff | Os4ParameterChange | Unknown


class Dropped(NamedTuple):
    """A command cut short: its bytes and the stream offset of its status byte."""

    offset: int
    data: bytes


class ParseResult(NamedTuple):
    """A whole stream's events, with what was dropped (and where) and the stray count."""

    events: list[Event]
    dropped: int
    stray: int
    drop_log: tuple[Dropped, ...] = ()


# -- the streaming parser -------------------------------------------------------------------


def _byte_class(statuses: Iterable[int]) -> bytes:
    return b"[" + b"".join(re.escape(bytes([s])) for s in sorted(statuses)) + b"]"


def _scanner() -> re.Pattern[bytes]:
    """One regex that cuts a buffer into runs of well-formed commands and odd cases.

    Group numbers are what :meth:`SoundboardParser.feed` dispatches on; the unknown
    statuses' alternatives are built from :data:`DATA_LENGTHS`.
    """
    unknown = [s for s in range(0xE0, 0x100) if s not in _BOARD_OF_SELECT]
    by_length: dict[int, list[int]] = {}
    for status in unknown:
        by_length.setdefault(DATA_LENGTHS[status], []).append(status)
    unknown_alternatives = b"|".join(
        _byte_class(statuses) + rb"[\x00-\x7f]{%d}" % length
        for length, statuses in sorted(by_length.items())
    )
    return re.compile(
        rb"((?:[\x80-\xaf][\x00-\x7f])+)"  # 1: parameter changes
        rb"|((?:[\xb0-\xbf][\x00-\x7f])+)"  # 2: controls
        rb"|((?:[\xc0-\xcf][\x00-\x7f]{2})+)"  # 3: notes on
        rb"|((?:[\xd0-\xdf][\x00-\x7f]{2})+)"  # 4: notes off
        rb"|(" + _byte_class(_BOARD_OF_SELECT) + rb")"  # 5: select
        rb"|((?:" + unknown_alternatives + rb"))"  # 6: unknown command
        rb"|([\x00-\x7f]+)"  # 7: stray data bytes
        rb"|([\x80-\xff][\x00-\x7f]*)",  # 8: a command cut short (or not yet complete)
        re.DOTALL,
    )


_SCAN = _scanner()
_LOW_NIBBLE = bytes(b & 0x0F for b in range(256))
_new = tuple.__new__
_RUN_EVENTS = (None, ParameterChange, Control, NoteOn, NoteOff)  # by _SCAN group number


class SoundboardParser:
    """Streaming parser with the 8031's rules; feed it any bytes in any chunking.

    A command split across feeds completes on the next feed. ``dropped`` counts commands
    cut short by a new status byte, ``stray`` counts data bytes outside any command, and
    ``drop_log`` keeps the last ``drop_log_size`` drops with their stream offsets.
    """

    def __init__(self, drop_log_size: int = 64) -> None:
        self.dropped = 0
        self.stray = 0
        self.drop_log: deque[Dropped] = deque(maxlen=drop_log_size)
        self._pending = b""  # an incomplete command at the end of the last feed
        self._offset = 0  # stream offset of self._pending's first byte
        self._prefix: Dropped | None = None  # an FD page prefix waiting for its parameter

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data`` (after what came before) and return the events it completes."""
        buffer = b"".join((self._pending, data))  # any bytes-like object
        events: list[Event] = []
        extend = events.extend
        append = events.append
        end = len(buffer)
        pending = b""
        for match in _SCAN.finditer(buffer):
            kind = match.lastindex
            run = match[0]
            if self._prefix is not None and kind != 7:
                if kind <= 2:  # the prefixed parameter, then the rest of the run as usual
                    append(Os4ParameterChange(self._prefix.data[1], run[0], run[1]))
                    self._prefix = None
                    run = run[2:]
                    if not run:
                        continue
                elif not (kind == 8 and match.end() == end):
                    self._drop(self._prefix)
                    self._prefix = None
            # tuple.__new__ builds the NamedTuples in C: half the cost of calling the class.
            if kind <= 2:  # (code, value) pairs
                cls = _RUN_EVENTS[kind]
                if len(run) == 2:
                    append(_new(cls, run))
                else:
                    extend(map(_new, repeat(cls), zip(run[::2], run[1::2], strict=True)))
            elif kind <= 4:  # notes: (voice, key, velocity)
                voices = run[::3].translate(_LOW_NIBBLE)
                triples = zip(voices, run[1::3], run[2::3], strict=True)
                extend(map(_new, repeat(_RUN_EVENTS[kind]), triples))
            elif kind == 5:
                append(Select(_BOARD_OF_SELECT[run[0]]))
            elif kind == 6:
                if run[0] == _PAGE_PREFIX:
                    self._prefix = Dropped(self._offset + match.start(), run)
                else:
                    append(Unknown(run[0], run[1:]))
            elif kind == 7:
                self.stray += len(run)
            elif match.end() == end:
                pending = run
            else:
                self._drop(Dropped(self._offset + match.start(), run))
        self._offset += end - len(pending)
        self._pending = pending
        return events

    def _drop(self, dropped: Dropped) -> None:
        self.dropped += 1
        self.drop_log.append(dropped)

    def finish(self) -> None:
        """End of stream: a command still incomplete is dropped, as the board never runs it."""
        if self._prefix is not None:
            self._drop(self._prefix)
            self._prefix = None
        if self._pending:
            self._drop(Dropped(self._offset, self._pending))
            self._offset += len(self._pending)
            self._pending = b""


def parse(data: bytes) -> ParseResult:
    """Parse a whole stream; an incomplete command at its end counts as dropped."""
    parser = SoundboardParser(drop_log_size=len(data))
    events = parser.feed(data)
    parser.finish()
    return ParseResult(events, parser.dropped, parser.stray, tuple(parser.drop_log))


# -- the encoder ----------------------------------------------------------------------------


def _check(argument: str, value: object, allowed: range) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise ValueError(
            f"{argument}={value!r} is out of range; allowed {allowed.start}..{allowed.stop - 1}"
        )
    return value


_SEVEN_BIT = range(MAX_VALUE + 1)


@dataclass(frozen=True, slots=True)
class LoadStyle:
    """The stock assigner's habits around a tone load, which the encoder may copy.

    ``porta_switch_off``: send ``B5 00`` after the tone, as the stock assigner does after
    every load (meaning unknown; PROTOCOL.md section 2). ``vca_level_scale``: ``None``
    sends VCA LEVEL in APR order at the tone's value; a factor sends it after the body,
    scaled, as the stock assigner applies balance and volume (the captured stream shows
    0x5C lower and 0x74 upper, i.e. about 0.72 and 0.91 of 0x7F).
    """

    porta_switch_off: bool = False
    vca_level_scale: float | None = None

    def __post_init__(self) -> None:
        scale = self.vca_level_scale
        if scale is not None and not 0.0 <= scale <= 1.0:  # also rejects NaN
            raise ValueError(f"vca_level_scale={scale!r} is out of range; allowed 0.0..1.0")


#: Just the tone parameters: what :func:`encode_tone` sends unless told otherwise.
PLAIN = LoadStyle()
#: A whole-board load as the stock assigner ends it, at the tone's own VCA LEVEL:
#: what :func:`encode_tones` sends.
BOARD_LOAD = LoadStyle(porta_switch_off=True)


def encode_select(board: Board) -> bytes:
    if not isinstance(board, Board) or board not in SELECT_BYTES:
        allowed = ", ".join(f"Board.{b.name}" for b in SELECT_BYTES)
        raise ValueError(f"board={board!r} is not a board; allowed {allowed}")
    return bytes([SELECT_BYTES[board]])


def encode_tone(tone: Tone, previous: Tone | None = None, style: LoadStyle = PLAIN) -> bytes:
    """The tone's parameters in APR order (with 0xAE), or only those differing from ``previous``.

    ``previous`` is the tone the selected board holds; no select is sent.
    """
    indexes = {p.code: p.apr_index for p in tone.differing(previous)}
    if previous is None or tone.data[_AE_INDEX] != previous.data[_AE_INDEX]:
        indexes[_UNKNOWN_AE.code] = _AE_INDEX
    scale = style.vca_level_scale
    out = bytearray()
    for code in sorted(indexes):
        value = tone.data[indexes[code]]
        if code != _VCA_LEVEL.code or scale is None:
            out += bytes((code, value))
    if style.porta_switch_off:
        out += bytes((_PORTA_SWITCH, 0))
    if scale is not None and _VCA_LEVEL.code in indexes:
        out += bytes((_VCA_LEVEL.code, round(tone.value(_VCA_LEVEL) * scale)))
    return bytes(out) + _encode_os4_added(tone, previous)


def encode_os4_parameter(parameter: Os4Parameter, value: int) -> bytes:
    """``FD 01 cc vv``: one OS4-added parameter (see the module docstring)."""
    if parameter.name not in OS4_BOARD_CODES:
        raise ValueError(f"{parameter.name}: has a stock code; only OS4-added parameters page")
    code = OS4_BOARD_CODES[parameter.name]
    return bytes((_PAGE_PREFIX, OS4_BOARD_PAGE, code, _check("value", value, _SEVEN_BIT)))


def _encode_os4_added(tone: Tone, previous: Tone | None) -> bytes:
    """The OS4-added parameters of an OS4 tone that differ from what the board holds
    (``previous``'s, or a stock tone's neutral values); nothing for a stock tone."""
    if tone.os4 is None:
        return b""
    held = previous.os4 if previous is not None and previous.os4 is not None else None
    held = held if held is not None else os4_body.neutral_body()
    return b"".join(
        encode_os4_parameter(p, tone.os4[p.apr_index])
        for p in OS4_ADDED
        if previous is None or tone.os4[p.apr_index] != held[p.apr_index]
    )


def encode_tones(tones_by_board: Mapping[Board, Tone], style: LoadStyle = BOARD_LOAD) -> bytes:
    """A stream that loads each board's tone: select + whole tone (+ ``B5 00``) per board."""
    return b"".join(
        encode_select(board) + encode_tone(tone, style=style)
        for board, tone in tones_by_board.items()
    )


def encode_note_on(voice: int, key: int, velocity: int) -> bytes:
    return bytes(
        [
            0xC0 | _check("voice", voice, VOICES),
            _check("key", key, _SEVEN_BIT),
            _check("velocity", velocity, _SEVEN_BIT),
        ]
    )


def encode_note_off(voice: int, key: int, velocity: int = 0) -> bytes:
    return bytes(
        [
            0xD0 | _check("voice", voice, VOICES),
            _check("key", key, _SEVEN_BIT),
            _check("velocity", velocity, _SEVEN_BIT),
        ]
    )


def encode_bend(amount: int) -> bytes:
    """Pitch bend -127..127: magnitude (B2) then sign (BF: 00 down, 7F up)."""
    _check("amount", amount, range(-MAX_VALUE, MAX_VALUE + 1))
    return bytes([_BENDER, abs(amount), _BENDER_POLARITY, 0 if amount < 0 else MAX_VALUE])


def encode_hold(on: bool) -> bytes:
    return bytes([_HOLD, MAX_VALUE if on else 0])


def encode_modulation(value: int) -> bytes:
    return bytes([_MODULATION, _check("value", value, _SEVEN_BIT)])


def encode_init() -> bytes:
    """The drivers' init: 8 x F1 then 8 x F9 (resynchronises both boards' UART readers)."""
    return encode_select(Board.LOWER) * 8 + encode_select(Board.UPPER) * 8


def encode_all_notes_off() -> bytes:
    """One driver's all-notes-off / reset, for the selected board(s): B6 7F, BB 00, B5 00."""
    return bytes([_SILENCE, MAX_VALUE]) + encode_hold(False) + bytes([_PORTA_SWITCH, 0])


# -- replaying a stream into board state ----------------------------------------------------


def _blank_body() -> bytearray:
    """A board never receives a name (APR 0..9): a replayed tone's name is blank."""
    return bytearray(b" " * NAME_LENGTH + bytes(APR_TONE_LENGTH - NAME_LENGTH))


@dataclass
class BoardState:
    """What one sound board holds after a replay: its tone bytes and its other controls."""

    body: bytearray = field(default_factory=_blank_body)
    received: set[int] = field(default_factory=set)  # tone-body codes received
    controls: dict[int, int] = field(default_factory=dict)  # code -> last value (8C..8E, Bx)
    os4: dict[int, int] = field(default_factory=dict)  # OS4 page code -> last value

    @property
    def complete(self) -> bool:
        """Every one of the 44 tone parameters has been received."""
        return all(p.code in self.received for p in TONE_PARAMETERS)

    def set_os4(self, event: Os4ParameterChange) -> bool:
        """Keep an OS4-added parameter; False for a page or code no parameter uses."""
        if event.parameter is None:
            return False
        self.os4[event.code] = event.value
        return True

    def tone(self) -> Tone:
        """The stock tone, or an OS4 tone once any OS4-added parameter has arrived: its
        ``data`` the stock bytes as received, its OS4 body those bytes as OS4 converts
        them (os4.from_stock) with the added parameters as received."""
        tone = Tone(bytes(self.body))
        if not self.os4:
            return tone
        body = bytearray(tone.to_os4().os4 or b"")
        for code, value in self.os4.items():
            body[OS4_BY_BOARD_CODE[code].apr_index] = value
        return Tone(tone.data, bytes(body))


def _events(events_or_bytes: Iterable[Event] | bytes | bytearray) -> Iterable[Event]:
    if isinstance(events_or_bytes, bytes | bytearray | memoryview):
        return parse(bytes(events_or_bytes)).events
    return events_or_bytes


def replay(events_or_bytes: Iterable[Event] | bytes) -> dict[Board, BoardState]:
    """Apply a stream to a lower and an upper board, tracking selects as the boards do.

    A board's tone is what it holds at the end: the last byte received for each code.
    With the stock assigner that means VCA LEVEL is the rescaled value it sends after the
    tone (the tone's own level cannot be recovered from the stream), and the silence
    sequence it sends before a load is overwritten by the load.
    """
    boards = {Board.LOWER: BoardState(), Board.UPPER: BoardState()}
    targets = [s for b, s in boards.items() if b & INITIAL_SELECTION]
    for event in _events(events_or_bytes):
        if isinstance(event, Select):
            targets = [s for b, s in boards.items() if b & event.board]
        elif isinstance(event, ParameterChange) and event.code in TONE_BODY_CODES:
            for state in targets:
                state.body[apr_index_of(event.code)] = event.value
                state.received.add(event.code)
        elif isinstance(event, ParameterChange | Control):
            for state in targets:
                state.controls[event.code] = event.value
        elif isinstance(event, Os4ParameterChange):
            for state in targets:
                state.set_os4(event)
    return boards


def decode_tones(events_or_bytes: Iterable[Event] | bytes) -> dict[Board, Tone]:
    """The tone of each board that received all 44 parameters (see :func:`replay`)."""
    return {board: s.tone() for board, s in replay(events_or_bytes).items() if s.complete}
