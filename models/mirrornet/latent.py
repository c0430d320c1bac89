"""The latent's layout: tone parameters as network outputs, and the default learnable subset."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from firmware_protocol.tone import Tone
from models.targets import TargetSpec

#: The learnable subset used by default: the filter, its envelope and the amplitude
#: envelope (what changes a short note's colour and shape) and the oscillator waveform.
DEFAULT_PARAMETERS: tuple[str, ...] = (
    "DCO1 WF", "VCF FREQ", "VCF RES", "VCF ENV",
    "ENV1 DECAY", "ENV2 ATTACK", "ENV2 SUSTAIN", "ENV2 RELEASE",
)  # fmt: skip
#: The rest of the tone: INIT, with a plucked filter envelope (ENV1 decays to 0, so VCF ENV
#: and ENV1 DECAY are audible) and an amplitude envelope that decays to ENV2 SUSTAIN.
DEFAULT_BASE_VALUES: dict[str, int] = {"ENV1 SUSTAIN": 0, "ENV2 DECAY": 50}
DEFAULT_BASE = Tone.from_values(DEFAULT_BASE_VALUES)


# -- latent layout ---------------------------------------------------------------------------
class LatentCodec:
    """The latent of a :class:`TargetSpec`: continuous values first, then one softmax per switch.

    Converts between latents (what the networks exchange), target vectors (what
    :mod:`models.targets` and the metrics use) and tones (what the plant plays).
    """

    def __init__(self, spec: TargetSpec) -> None:
        self.spec = spec
        self.continuous = list(spec.continuous_index)
        self.switches = list(zip(spec.switch_index, spec.switch_ways, strict=True))
        self.width = len(self.continuous) + sum(ways for _, ways in self.switches)

    def _groups(self) -> Iterable[tuple[int, int, int]]:
        """(target index, first latent column, ways) of each switch."""
        column = len(self.continuous)
        for index, ways in self.switches:
            yield index, column, ways
            column += ways

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        """Network outputs [..., width] -> latent: sigmoids and per-switch softmaxes."""
        parts = [torch.sigmoid(raw[..., : len(self.continuous)])]
        parts += [raw[..., c : c + w].softmax(-1) for _, c, w in self._groups()]
        return torch.cat(parts, -1)

    def to_vectors(self, latent: np.ndarray) -> np.ndarray:
        """Latents [n, width] -> target vectors [n, params] (switches at their argmax)."""
        latent = np.asarray(latent, dtype=np.float32)
        vectors = np.zeros((latent.shape[0], len(self.spec)), np.float32)
        vectors[:, self.continuous] = latent[:, : len(self.continuous)]
        for index, column, ways in self._groups():
            vectors[:, index] = latent[:, column : column + ways].argmax(-1)
        return vectors

    def from_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Target vectors [n, params] -> latents [n, width] (switches one-hot)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        latent = np.zeros((vectors.shape[0], self.width), np.float32)
        latent[:, : len(self.continuous)] = vectors[:, self.continuous]
        rows = np.arange(vectors.shape[0])
        for index, column, _ in self._groups():
            latent[rows, column + vectors[:, index].astype(np.int64)] = 1.0
        return latent

    def random_vectors(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Uniform target vectors: babbling over the whole learnable range."""
        vectors = rng.uniform(0.0, 1.0, (n, len(self.spec))).astype(np.float32)
        for index, ways in self.switches:
            vectors[:, index] = rng.integers(0, ways, n)
        return vectors

    def explore(
        self, vectors: np.ndarray, rng: np.random.Generator, sigma: float, switch_p: float
    ) -> np.ndarray:
        """Proposals near ``vectors``: Gaussian steps on continuous values (clipped to [0, 1]),
        and each switch moved to a random position with probability ``switch_p``."""
        out = np.array(vectors, dtype=np.float32)
        out[:, self.continuous] = np.clip(
            out[:, self.continuous] + rng.normal(0.0, sigma, (len(out), len(self.continuous))),
            0.0,
            1.0,
        )
        for index, ways in self.switches:
            flip = rng.random(len(out)) < switch_p
            out[flip, index] = rng.integers(0, ways, int(flip.sum()))
        return out

    def tones(self, vectors: np.ndarray, base: Tone) -> list[Tone]:
        return [self.spec.decode(v, base=base) for v in vectors]
