"""The emulated sound boards: the 8031's state machine behind one voice-board serial line.

Bytes go in (:meth:`BoardEmulator.feed`), are cut into commands by the firmware parser with
the 8031's resynchronisation rules (a command cut short by a status byte is dropped), and
act on a lower and an upper board as a Super JX's two boards do: F1 / F9 / F4 choose who
listens, each board keeps its own tone bytes and controls and drives its six voices. Audio
comes out block by block, as fast as the caller asks (:meth:`BoardEmulator.process`) or
paced to the wall clock (:func:`blocks` with ``realtime=True``).

Choices the hardware leaves open, made once here:

* A note on or off for voice 6..15 (``C6``..``CF``) reaches no voice: a board has six.
* ``BB`` (hold) is down from 0x40 up, as a MIDI switch; ``B2``/``BF`` give the bend as
  magnitude / 127 with ``BF`` < 0x40 meaning down; ``BC`` (modulation) is value / 127.
* ``B6 7F`` (SILENCE, one driver's all-notes-off) releases every voice of the board.
* Other controls (master tune, portamento, aftertouch...) are kept in the board's state but
  change no sound yet: the voice bank has no input for them.
* An OS4 board: ``FD 01 cc vv`` (firmware_protocol.soundboard) sets an OS4-added tone
  parameter; the board's tone becomes an OS4 tone. What each one does to the sound is in
  daq.emulator.mapping.OS4_EFFECTS; a page or code no parameter uses counts as ignored.
* Seeds: the upper board's voices and effects take the emulator's ``seed`` itself, so a
  note on the upper board sounds exactly like the batch renderer's ``render(..., seed=seed)``;
  the lower board takes ``seed + 1`` (:data:`SEED_OFFSETS`), independent of it.
* A note on a board that has fallen silent starts from the state a fresh board has (voice,
  HPF and chorus at rest, the chorus LFO where the seed starts it, noise from the start of
  its voice's sequence), so it sounds exactly as the batch renderer's render of its tone,
  whatever the board played before. The real chorus LFO free-runs; its phase under a new
  note is one more thing the seed picks.
* The mono mix of both boards (:func:`mix`) is their sum, clipped to [-1, 1] like an
  analogue output stage at full scale.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from daq.emulator.voices import BoardEffects, VoiceBank
from firmware_protocol.parameters import CONTROLS_BY_NAME, MAX_VALUE, apr_index_of
from firmware_protocol.soundboard import (
    INITIAL_SELECTION,
    TONE_BODY_CODES,
    VOICES,
    Board,
    BoardState,
    Control,
    Event,
    NoteOff,
    NoteOn,
    Os4ParameterChange,
    ParameterChange,
    Select,
    SoundboardParser,
    encode_note_off,
    encode_note_on,
    encode_select,
    encode_tone,
)
from firmware_protocol.tone import INIT_TONE, Tone

BOARDS: tuple[Board, Board] = (Board.LOWER, Board.UPPER)
_ALL_VOICES = tuple(VOICES)
_BENDER = CONTROLS_BY_NAME["BENDER"].code
_BENDER_POLARITY = CONTROLS_BY_NAME["BENDER.POLARITY"].code
_HOLD = CONTROLS_BY_NAME["HOLD.SW"].code
_MODULATION = CONTROLS_BY_NAME["MODULATION"].code
_SILENCE = CONTROLS_BY_NAME["SILENCE"].code
_PERFORMANCE_CODES = frozenset({_BENDER, _BENDER_POLARITY, _HOLD, _MODULATION})
_SWITCH_ON = 0x40
#: Added to the emulator's seed for each board's voices and effects (module docstring).
SEED_OFFSETS: Mapping[Board, int] = MappingProxyType({Board.LOWER: 1, Board.UPPER: 0})


@dataclass
class _Board:
    """One sound board: the bytes it holds, its voices and its common HPF + chorus."""

    voices: VoiceBank
    effects: BoardEffects
    state: BoardState = field(default_factory=BoardState)
    _tone: Tone | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.voices.set_tone(_ALL_VOICES, self.tone)

    @property
    def tone(self) -> Tone:
        """The tone bytes as the board holds them (cached between parameter changes)."""
        if self._tone is None:
            self._tone = self.state.tone()
        return self._tone

    def set_parameter(self, code: int, value: int) -> None:
        if code in TONE_BODY_CODES:
            self.state.body[apr_index_of(code)] = value
            self.state.received.add(code)
            self._tone = None
        else:  # a patch-level control (8C..8E): the voices keep it
            self.state.controls[code] = value
        self.voices.set_parameter(_ALL_VOICES, code, value)

    def set_os4(self, event: Os4ParameterChange) -> bool:
        """An OS4-added parameter (``FD 01 cc vv``): kept in the tone; the voices play what
        daq.emulator.mapping.OS4_EFFECTS says of it. False if no parameter has that code."""
        if not self.state.set_os4(event):
            return False
        self._tone = None
        self.voices.set_tone(_ALL_VOICES, self.tone)
        return True

    def set_control(self, code: int, value: int) -> None:
        self.state.controls[code] = value
        if code in _PERFORMANCE_CODES:
            controls = self.state.controls
            magnitude = controls.get(_BENDER, 0) / MAX_VALUE
            down = controls.get(_BENDER_POLARITY, MAX_VALUE) < _SWITCH_ON
            self.voices.set_controls(
                bend=-magnitude if down else magnitude,
                modulation=controls.get(_MODULATION, 0) / MAX_VALUE,
                hold=controls.get(_HOLD, 0) >= _SWITCH_ON,
            )
        elif code == _SILENCE and value:
            for voice in _ALL_VOICES:
                self.voices.note_off(voice)

    def note_on(self, voice: int, key: int, velocity: int) -> None:
        """A note; on a board where nothing sounds, the common stages start afresh too."""
        if not self.voices.sounding().any():
            self.effects.reset()
        self.voices.note_on(voice, key, velocity)

    def process(self, frames: int) -> np.ndarray:
        return self.effects.process(self.voices.process(frames).sum(axis=0), self.tone)


class BoardEmulator:
    """A lower and an upper sound board sharing one serial line; thread-safe.

    ``seed`` makes noise and random LFOs repeatable: two emulators with the same seed that
    receive the same commands between the same ``process`` calls give identical samples
    (see :data:`SEED_OFFSETS` for how it reaches each board).
    ``ignored`` counts commands a board cannot act on (unknown statuses, voices past 5).
    """

    def __init__(self, sample_rate: int = 44100, seed: int = 0) -> None:
        self.sample_rate = sample_rate
        self.parser = SoundboardParser()
        self.ignored = 0
        self._boards: dict[Board, _Board] = {
            board: _Board(
                VoiceBank(len(VOICES), sample_rate, seed + SEED_OFFSETS[board]),
                BoardEffects(sample_rate, seed + SEED_OFFSETS[board]),
            )
            for board in BOARDS
        }
        self._listening = self._targets(INITIAL_SELECTION)
        self._lock = threading.Lock()

    # -- bytes and events in ----------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes from the serial line, in any chunking; they act before the next block."""
        with self._lock:
            self._apply(self.parser.feed(data))

    def apply(self, events: Iterable[Event]) -> None:
        """Already-parsed commands (for callers that hold events rather than bytes)."""
        with self._lock:
            self._apply(events)

    def _targets(self, selection: Board) -> tuple[_Board, ...]:
        return tuple(b for board, b in self._boards.items() if board & selection)

    def _apply(self, events: Iterable[Event]) -> None:
        for event in events:
            match event:
                case Select(board):
                    self._listening = self._targets(board)
                case ParameterChange(code, value):
                    for board in self._listening:
                        board.set_parameter(code, value)
                case Control(code, value):
                    for board in self._listening:
                        board.set_control(code, value)
                case Os4ParameterChange():
                    if not all([board.set_os4(event) for board in self._listening]):
                        self.ignored += 1
                case NoteOn(voice, key, velocity) if voice in VOICES:
                    for board in self._listening:
                        board.note_on(voice, key, velocity)
                case NoteOff(voice) if voice in VOICES:
                    for board in self._listening:
                        board.voices.note_off(voice)
                case _:
                    self.ignored += 1

    # -- state out --------------------------------------------------------------------------
    def tone(self, board: Board) -> Tone:
        """The tone bytes ``board`` (LOWER or UPPER) holds now."""
        return self._boards[board].tone

    def controls(self, board: Board) -> Mapping[int, int]:
        """``{code: last value}`` of ``board``'s controls (B0..BF, 8C..8E)."""
        with self._lock:
            return dict(self._boards[board].state.controls)

    def sounding(self, board: Board) -> np.ndarray:
        """bool [6]: voices of ``board`` whose note is on or still releasing."""
        with self._lock:
            return self._boards[board].voices.sounding()

    # -- audio out --------------------------------------------------------------------------
    def process(self, frames: int) -> np.ndarray:
        """The next ``frames`` samples of each board: float32 [2, frames], lower then upper."""
        with self._lock:
            return np.stack([b.process(frames) for b in self._boards.values()])


def mix(boards: np.ndarray) -> np.ndarray:
    """Mono output of both boards (see the module docstring): float32 [frames]."""
    return np.clip(boards.sum(axis=0), -1.0, 1.0).astype(np.float32, copy=False)


def warm_up(sample_rate: int, block_frames: int) -> None:
    """Run every kernel a tone and a note go through once, on a throwaway emulator.

    numba compiles a kernel (or loads it from its cache) on its first call. Left to the first
    note, that happens inside a real-time audio callback, which then stalls for 0.1 s (a
    cache load) to seconds (a compile), and that note sounds late or not at all.
    """
    emulator = BoardEmulator(sample_rate)
    emulator.feed(encode_select(Board.BOTH) + encode_tone(INIT_TONE) + encode_note_on(0, 69, 127))
    emulator.process(block_frames)
    emulator.feed(encode_note_off(0, 69))
    emulator.process(block_frames)


def blocks(
    emulator: BoardEmulator, block_frames: int, realtime: bool = False
) -> Iterator[np.ndarray]:
    """Endless mono blocks; with ``realtime`` each comes when its last sample has "played".

    That is when an input device would deliver it. Paced by the monotonic clock from the
    start, so a late block is followed by prompt ones until the stream is back on time
    (no drift, no cumulative lag).
    """
    start = time.monotonic()
    produced = 0
    while True:
        block = mix(emulator.process(block_frames))
        produced += block_frames
        if realtime:
            delay = start + produced / emulator.sample_rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield block
