"""Streaming voice bank: N JX voices with persistent state, driven event by event.

The board emulator (daq/emulator/board.py) owns one bank per sound board and calls it as the
8031 would drive its analog voices: tone bytes, note on/off per voice, performance controls,
then asks for audio block by block. The batch renderer (render.py) drives the very same
kernels (dsp.py), so that a take rendered in blocks equals one rendered at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from daq.emulator import dsp, mapping
from firmware_protocol.parameters import (
    APR_TONE_LENGTH,
    BOARD_CODE_BASE,
    BY_CODE,
    MAX_VALUE,
    apr_index_of,
    board_code,
)
from firmware_protocol.tone import INIT_TONE, Tone

_LAST_TONE_CODE = board_code(APR_TONE_LENGTH - 1)


def voice_seed(seed: int, index: int) -> int:
    """Seed of voice ``index`` under a bank or render ``seed`` (splitmix64, never 0)."""
    x = (seed * 0x9E3779B97F4A7C15 + (index + 1) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return (x ^ (x >> 31)) or 1


def chorus_phase(seed: int) -> float:
    """Where the chorus LFO stands at start: the real one free-runs, so the seed picks it."""
    return (voice_seed(seed, -1) >> 11) / float(1 << 53)


def _check_byte(what: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{what} must be an int 0..{MAX_VALUE}, got {value!r}")
    if not 0 <= value <= MAX_VALUE:
        raise ValueError(f"{what} {value} is out of range 0..{MAX_VALUE}")
    return int(value)


class VoiceBank:
    """``n_voices`` voices at ``sample_rate`` Hz; ``seed`` makes noise and random LFO repeatable.

    Events (tone, parameter, note, controls) take effect at the next sample that
    :meth:`process` renders, so a caller that wants sample-exact timing splits its blocks at
    event times. Voice ``i`` of a bank seeded ``s`` sounds exactly like note ``i`` of
    ``render(..., seed=s)``.
    """

    def __init__(self, n_voices: int, sample_rate: int = 44100, seed: int = 0) -> None:
        if n_voices < 1:
            raise ValueError(f"n_voices must be at least 1, got {n_voices}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.n_voices = n_voices
        self.sample_rate = sample_rate
        self._seed = seed
        self._bytes = [bytearray(INIT_TONE.data) for _ in range(n_voices)]
        self._params = np.tile(mapping.physical(INIT_TONE), (n_voices, 1))
        self._state = np.zeros((n_voices, dsp.N_STATE))
        self._blep = np.zeros((n_voices, dsp.BLEP_LENGTH))
        self._rng = np.zeros((n_voices, 1), dtype=np.uint64)
        for v in range(n_voices):
            self._fresh(v)
        self._controls = np.zeros(dsp.N_CONTROLS)
        self._hold = False
        self._held: set[int] = set()

    # -- events ------------------------------------------------------------------------
    def _voices(self, voices: int | Sequence[int]) -> list[int]:
        chosen = [voices] if isinstance(voices, int | np.integer) else list(voices)
        for v in chosen:
            if not 0 <= v < self.n_voices:
                raise ValueError(f"voice {v} is out of range 0..{self.n_voices - 1}")
        return [int(v) for v in chosen]

    def set_tone(self, voices: int | Sequence[int], tone: Tone) -> None:
        """Load ``tone`` into the given voices (sounding notes carry on with the new sound)."""
        physical = mapping.physical(tone)
        for v in self._voices(voices):
            self._bytes[v][:] = tone.data
            self._params[v] = physical
            self._state[v, dsp.S_DIRTY] = 1.0

    def tone(self, voice: int) -> Tone:
        """The tone bytes ``voice`` is playing, as the board received them."""
        return Tone(bytes(self._bytes[self._voices(voice)[0]]))

    def set_parameter(self, voices: int | Sequence[int], code: int, value: int) -> None:
        """One voice-board parameter byte changing live: ``code`` 0x80..0xAF, ``value`` 0..127.

        Codes that are not tone parameters (0x8C..0x8E, 0xAE) are kept but change no sound.
        """
        if not BOARD_CODE_BASE <= code <= _LAST_TONE_CODE:
            raise ValueError(
                f"parameter code 0x{code:02X} is not a tone code "
                f"(0x{BOARD_CODE_BASE:02X}..0x{_LAST_TONE_CODE:02X})"
            )
        value = _check_byte(f"value of parameter code 0x{code:02X}", value)
        parameter = BY_CODE.get(code)
        for v in self._voices(voices):
            self._bytes[v][apr_index_of(code)] = value
            if parameter is not None:
                index = mapping.INDEX[parameter.name]
                self._params[v, index] = mapping.CURVES[index](value)
                self._state[v, dsp.S_DIRTY] = 1.0

    def _fresh(self, v: int) -> None:
        """Voice ``v`` as a new bank has it: oscillators, filter, envelopes and glide at rest,
        noise and random LFO at the start of the voice's sequence."""
        self._state[v] = 0.0
        self._blep[v] = 0.0
        self._rng[v, 0] = voice_seed(self._seed, v)

    def note_on(self, voice: int, key: int, velocity: int) -> None:
        """Start a note (MIDI key 0..127, velocity 0..127) on ``voice``.

        On a sounding voice the envelopes restart from where they are (no click); a voice
        that has fallen silent starts afresh, so that its note sounds exactly as the same note
        in a new bank (and in :func:`daq.emulator.render.render`), whatever it played before.
        """
        (v,) = self._voices(voice)
        if not self._state[v, dsp.S_ACTIVE]:
            self._fresh(v)
        dsp.note_on(self._state[v], _check_byte("key", key), _check_byte("velocity", velocity))
        self._held.discard(v)

    def note_off(self, voice: int) -> None:
        """Release ``voice`` (deferred while the hold pedal is down)."""
        (v,) = self._voices(voice)
        if self._hold:
            self._held.add(v)
        else:
            dsp.note_off(self._state[v])

    def set_controls(self, bend: float, modulation: float, hold: bool) -> None:
        """Performance controls for every voice of the bank.

        ``bend`` in -1..1 (times the bend range of the mapping table), ``modulation`` 0..1
        (mod wheel: LFO vibrato on both DCOs), ``hold`` the hold pedal.
        """
        if not -1.0 <= bend <= 1.0:
            raise ValueError(f"bend {bend} is out of range -1..1")
        if not 0.0 <= modulation <= 1.0:
            raise ValueError(f"modulation {modulation} is out of range 0..1")
        self._controls[dsp.C_BEND] = bend * mapping.BEND_RANGE_SEMITONES
        self._controls[dsp.C_MODULATION] = modulation
        self._hold = bool(hold)
        if not self._hold:
            for v in sorted(self._held):
                dsp.note_off(self._state[v])
            self._held.clear()

    # -- audio -------------------------------------------------------------------------
    def sounding(self) -> np.ndarray:
        """bool [n_voices]: voices whose note is on or still releasing."""
        return self._state[:, dsp.S_ACTIVE] != 0.0

    def process(self, frames: int) -> np.ndarray:
        """Render the next ``frames`` samples of every voice: float32 [n_voices, frames].

        Voice outputs are pre-HPF and pre-chorus; sum the board's voices and pass the sum
        through :class:`BoardEffects`.
        """
        if frames < 0:
            raise ValueError(f"frames must be >= 0, got {frames}")
        out = np.zeros((self.n_voices, frames))
        dsp.run_voices(
            self._params,
            self._state,
            self._rng,
            self._blep,
            self._controls,
            out,
            float(self.sample_rate),
        )
        return out.astype(np.float32)


class BoardEffects:
    """The stages common to a sound board: HPF (4 positions), chorus (off/1/2), output limiter.

    Stateful (filter memory, chorus delay line and its LFO), so call ``process`` with
    consecutive blocks of one board's mono voice sum. ``seed`` sets where the free-running
    chorus LFO starts, as in ``render(..., seed=...)``.
    """

    def __init__(self, sample_rate: int = 44100, seed: int = 0) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.sample_rate = sample_rate
        self._seed = seed
        self._state = np.zeros((1, dsp.N_EFFECTS))
        self._line = np.zeros((1, dsp.CHORUS_LENGTH))
        self.reset()
        self._tone: Tone | None = None
        self._hpf_hz = np.zeros(1)
        self._chorus = np.zeros(1, dtype=np.int64)

    def reset(self) -> None:
        """Back to the state of new effects: filter and delay line empty, the chorus LFO
        where ``seed`` starts it."""
        self._state[:] = 0.0
        self._state[0, dsp.E_CHORUS_PHASE] = chorus_phase(self._seed)
        self._line[:] = 0.0

    def process(self, mono: np.ndarray, tone: Tone) -> np.ndarray:
        """HPF + chorus + soft limiter on one block; ``tone`` supplies HPF FREQ and CHORUS.

        Returns float32 [frames] with peak within [-1, 1].
        """
        block = np.array(mono, dtype=np.float64, copy=True)
        if block.ndim != 1:
            raise ValueError(f"mono block must be 1-D, got shape {block.shape}")
        block = block.reshape(-1, 1)
        if tone != self._tone:
            self._tone = tone
            self._hpf_hz[0] = mapping.curve("HPF FREQ")(tone["HPF FREQ"])
            self._chorus[0] = int(mapping.curve("CHORUS")(tone["CHORUS"]))
        dsp.board_effects(
            block, self._state, self._line, self._hpf_hz, self._chorus, float(self.sample_rate)
        )
        return block[:, 0].astype(np.float32)
