"""What a model predicts: a subset of the tone parameters, in the form ``Tone.to_vector`` gives.

A target vector has one value per selected parameter, in the subset's order: continuous
parameters as raw/127 in [0, 1], switches as their position (0..ways-1, a float holding an
integer), exactly ``Tone.to_vector(spec.parameters)``. Heads and metrics split it by the
masks below; nothing here restates the parameter table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from firmware_protocol.parameters import THESIS_SUBSET, TONE_PARAMETERS, ToneParameter, lookup
from firmware_protocol.tone import Tone


@dataclass(frozen=True)
class TargetSpec:
    """An ordered, duplicate-free selection of tone parameters to learn."""

    parameters: tuple[ToneParameter, ...]

    def __post_init__(self) -> None:
        if not self.parameters:
            raise ValueError("a target spec needs at least one parameter")
        names = [p.name for p in self.parameters]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"parameters listed twice in the target spec: {', '.join(repeated)}")

    @classmethod
    def of(cls, names: Iterable[str] | None = None) -> TargetSpec:
        """By panel names or keys (``"VCF FREQ"`` / ``"vcf_freq"``); all 44 when ``None``."""
        if names is None:
            return cls(TONE_PARAMETERS)
        return cls(tuple(lookup(name) for name in names))

    @classmethod
    def thesis(cls) -> TargetSpec:
        """The thesis's 26 parameters."""
        return cls.of(THESIS_SUBSET)

    # -- layout -----------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    @cached_property
    def is_switch(self) -> np.ndarray:
        """bool [n]: which entries of a target vector are switch positions."""
        return np.array([p.is_switch for p in self.parameters])

    @cached_property
    def continuous_index(self) -> tuple[int, ...]:
        return tuple(int(i) for i in np.flatnonzero(~self.is_switch))

    @cached_property
    def switch_index(self) -> tuple[int, ...]:
        return tuple(int(i) for i in np.flatnonzero(self.is_switch))

    @cached_property
    def switch_ways(self) -> tuple[int, ...]:
        return tuple(self.parameters[i].ways for i in self.switch_index)

    @cached_property
    def scale(self) -> np.ndarray:
        """float32 [n]: multiply a target vector by this to put switches in [0, 1] too."""
        return np.array(
            [1.0 / (p.ways - 1) if p.is_switch else 1.0 for p in self.parameters],
            dtype=np.float32,
        )

    # -- conversions ------------------------------------------------------------------------
    def encode(self, tone: Tone) -> np.ndarray:
        """float32 [n]: the target vector of ``tone``."""
        return np.asarray(tone.to_vector(self.parameters), dtype=np.float32)

    def normalised(self, vectors: np.ndarray) -> np.ndarray:
        """Target vectors [..., n] with switch positions scaled to [0, 1] (the thesis's form)."""
        return np.asarray(vectors, dtype=np.float32) * self.scale

    def from_normalised(self, values: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalised` for predictions: clipped, switches to nearest position."""
        values = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0) / self.scale
        return np.where(self.is_switch, np.round(values), values).astype(np.float32)

    def decode(self, vector: Sequence[float], base: Tone | None = None) -> Tone:
        """The tone a (predicted) target vector stands for, on top of ``base`` (INIT)."""
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (len(self),):
            raise ValueError(f"a target vector has {len(self)} values, got shape {vector.shape}")
        return Tone.from_vector(
            self.from_normalised(self.normalised(vector)), self.parameters, base=base
        )
