"""Melodies: the notes a MirrorNet take plays (keys and timing, known to both networks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daq.emulator.render import Note


# -- melodies ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Melody:
    """Notes, each with an explicit length, then ``release_s`` after the last one ends.

    The hold (what a capture job calls ``hold_s``) ends with the last note, so a render of
    the melody and a rig's take of it have the same length.
    """

    notes: tuple[Note, ...]
    release_s: float

    def __post_init__(self) -> None:
        if not self.notes:
            raise ValueError("a melody needs at least one note")
        if self.release_s < 0:
            raise ValueError(f"release_s ({self.release_s}) must be >= 0")
        starts = [n.start_s for n in self.notes]
        if starts != sorted(starts):
            raise ValueError(f"melody notes must be in start order, got starts {starts}")
        for i, note in enumerate(self.notes):
            if note.duration_s is None or note.duration_s <= 0:
                raise ValueError(f"melody note {i} needs a positive duration_s")

    @property
    def hold_s(self) -> float:
        """When the last note ends."""
        return max(n.start_s + n.duration_s for n in self.notes)  # type: ignore[operator]

    @property
    def duration_s(self) -> float:
        return self.hold_s + self.release_s

    def samples(self, sample_rate: int) -> int:
        """Length of a render of this melody (the batch renderer's rule)."""
        return round(self.duration_s * sample_rate)


def random_melody(
    rng: np.random.Generator,
    notes: int = 5,
    keys: tuple[int, int] = (57, 81),
    hold_s: float = 1.2,
    release_s: float = 0.3,
    min_slot_s: float = 0.12,
    velocity: int = 100,
) -> Melody:
    """A melody as in the paper: ``notes`` random keys (inclusive range), random lengths.

    ``hold_s`` is cut into ``notes`` consecutive slots of random length (at least
    ``min_slot_s``); each note starts its slot and sounds for 60-100 % of it, except the
    last, which fills its slot, so that every melody lasts ``hold_s + release_s``.
    """
    if notes * min_slot_s > hold_s:
        raise ValueError(f"{notes} slots of at least {min_slot_s} s do not fit in {hold_s} s")
    spare = hold_s - notes * min_slot_s
    slots = min_slot_s + spare * rng.dirichlet(np.full(notes, 2.0))
    starts = np.concatenate([[0.0], np.cumsum(slots)[:-1]])
    lengths = slots * rng.uniform(0.6, 1.0, notes)
    lengths[-1] = hold_s - starts[-1]
    chosen = rng.integers(keys[0], keys[1] + 1, notes)
    return Melody(
        tuple(
            Note(int(k), velocity, float(s), float(d))
            for k, s, d in zip(chosen, starts, lengths, strict=True)
        ),
        release_s,
    )
