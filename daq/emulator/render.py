"""Batch renderer: many tones, the same notes, far faster than real time.

Every item is one tone playing the same notes (a single key, or a melody of ``Note`` values,
each on its own voice) through the board's common stages, exactly as a ``VoiceBank`` plus
``BoardEffects`` would play it, with the same kernels.

Gain staging (constants in mapping.py): each DCO peaks at +-1 and the mixer halves their sum;
the ladder's DC gain is 1 at RES 0; the VCA is at most 1; each voice is scaled by VOICE_GAIN
(0.5); the chorus averages dry and delayed signals; a soft limiter, linear up to
LIMITER_THRESHOLD, keeps every sample strictly inside (-1, 1) even for resonant or polyphonic
tones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from daq.emulator import dsp, mapping
from daq.emulator.voices import chorus_phase, voice_seed
from firmware_protocol.parameters import MAX_VALUE
from firmware_protocol.tone import Tone

#: Sample rates the renderer accepts (others would work; these are the ones that are tested).
SAMPLE_RATES = (44100, 48000)


@dataclass(frozen=True, slots=True)
class Note:
    """One note of a melody: MIDI key and velocity, start and length in seconds.

    ``duration_s=None`` holds the key for the render's ``hold_s``.
    """

    key: int
    velocity: int = 100
    start_s: float = 0.0
    duration_s: float | None = None

    def __post_init__(self) -> None:
        for what, value in (("key", self.key), ("velocity", self.velocity)):
            if not 0 <= value <= MAX_VALUE:
                raise ValueError(f"Note {what} {value} is out of range 0..{MAX_VALUE}")
        if self.start_s < 0:
            raise ValueError(f"Note start_s {self.start_s} is negative")
        if self.duration_s is not None and self.duration_s < 0:
            raise ValueError(f"Note duration_s {self.duration_s} is negative")


def _melody(notes: int | Note | Sequence[Note]) -> tuple[Note, ...]:
    if isinstance(notes, int | np.integer):
        return (Note(int(notes)),)
    if isinstance(notes, Note):
        return (notes,)
    melody = tuple(notes)
    if not melody or not all(isinstance(n, Note) for n in melody):
        raise ValueError("notes must be a MIDI key, a Note, or a non-empty sequence of Notes")
    return melody


def render(
    tones: Sequence[Tone],
    notes: int | Note | Sequence[Note] = 60,
    hold_s: float = 1.0,
    release_s: float = 0.5,
    sample_rate: int = 44100,
    seed: int | Sequence[int] = 0,
) -> np.ndarray:
    """float32 [len(tones), samples]: each tone playing ``notes``; deterministic per seed.

    samples = round((latest note end + release_s) * sample_rate). ``seed`` is one seed for
    every item or one per item; item ``i`` with seed ``s`` equals a ``VoiceBank(seed=s)``
    playing the same events.
    """
    tones = list(tones)
    if not tones:
        raise ValueError("render needs at least one tone")
    if sample_rate not in SAMPLE_RATES:
        raise ValueError(f"sample_rate {sample_rate} is not supported; use one of {SAMPLE_RATES}")
    if hold_s < 0 or release_s < 0:
        raise ValueError(f"hold_s ({hold_s}) and release_s ({release_s}) must be >= 0")
    seeds = [seed] * len(tones) if isinstance(seed, int | np.integer) else list(seed)
    if len(seeds) != len(tones):
        raise ValueError(f"{len(seeds)} seeds for {len(tones)} tones")
    melody = _melody(notes)

    starts = [n.start_s for n in melody]
    ends = [n.start_s + (hold_s if n.duration_s is None else n.duration_s) for n in melody]
    n_samples = round((max(ends) + release_s) * sample_rate)
    on = np.array([round(s * sample_rate) for s in starts], dtype=np.int64)
    off = np.array([round(e * sample_rate) for e in ends], dtype=np.int64)

    note_seeds = np.array(
        [[voice_seed(int(s), j) for j in range(len(melody))] for s in seeds], dtype=np.uint64
    )
    return dsp.render_items(
        np.stack([mapping.physical(t) for t in tones]),
        np.array([n.key for n in melody], dtype=np.float64),
        np.array([n.velocity for n in melody], dtype=np.float64),
        on,
        off,
        note_seeds,
        np.array([chorus_phase(int(s)) for s in seeds]),
        n_samples,
        float(sample_rate),
    )
