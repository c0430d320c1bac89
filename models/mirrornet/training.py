"""Alternating decoder / encoder training of a MirrorNet against a plant."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from firmware_protocol.tone import Tone
from models.mirrornet.latent import DEFAULT_BASE
from models.mirrornet.nets import MirrorNet, batch_slices
from models.mirrornet.plant import Plant
from models.mirrornet.spectra import MelodySet, plant_spectrograms


# -- training ------------------------------------------------------------------------------
@dataclass
class _Buffer:
    """What the plant made of every proposal so far: (melody index, latent, spectrogram)."""

    index: list[torch.Tensor]
    latent: list[torch.Tensor]
    spec: list[torch.Tensor]

    def add(self, index: np.ndarray, latent: np.ndarray, spec: np.ndarray) -> None:
        self.index.append(torch.from_numpy(index))
        self.latent.append(torch.from_numpy(latent))
        self.spec.append(torch.from_numpy(spec).half())  # halves the buffer's memory

    def __len__(self) -> int:
        return sum(len(i) for i in self.index)


class MirrorTrainer:
    """Alternating decoder / encoder training of a :class:`MirrorNet` against a plant."""

    def __init__(
        self,
        net: MirrorNet,
        plant: Plant,
        data: MelodySet,
        base: Tone = DEFAULT_BASE,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.net, self.plant, self.data, self.base = net, plant, data, base
        self.config = net.config
        self.log = log or (lambda _: None)
        self.rng = np.random.default_rng(self.config.seed)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.buffer = _Buffer([], [], [])
        lr = self.config.learning_rate
        self.decoder_opt = torch.optim.Adam(net.decoder.parameters(), lr=lr)
        self.encoder_opt = torch.optim.Adam(net.encoder.parameters(), lr=lr)
        self.plant_calls = 0

    def collect(self, vectors: np.ndarray, index: np.ndarray) -> torch.Tensor:
        """Play tone ``vectors[i]`` on melody ``index[i]``; keep and return the spectrograms."""
        codec = self.net.codec
        tones = codec.tones(vectors, self.base)
        melodies = [self.data.melodies[i] for i in index]
        spec = plant_spectrograms(self.plant, tones, melodies, self.plant_calls)
        self.plant_calls += 1
        self.buffer.add(index.astype(np.int64), codec.from_vectors(vectors), spec)
        return torch.from_numpy(spec)

    def decoder_loss(self, index: torch.Tensor, latent: torch.Tensor, spec: torch.Tensor):
        d = self.data
        tracks = d.tracks[index]
        per_note = latent[:, None, :].expand(-1, tracks.assign.shape[1], -1)
        prediction = self.net.decoder(per_note, tracks)
        return F.mse_loss(prediction, spec.float())

    def fit_decoder(self, steps: int) -> float:
        """Fit the decoder on the whole buffer; the mean loss of the last quarter of steps."""
        buffer = self.buffer
        index, latent, spec = (torch.cat(x) for x in (buffer.index, buffer.latent, buffer.spec))
        self.net.decoder.train()
        return self._steps(
            steps,
            len(index),
            self.decoder_opt,
            lambda b: self.decoder_loss(index[b], latent[b], spec[b]),
        )

    def fit_encoder(self, steps: int) -> float:
        """Train the encoder through the frozen decoder to reconstruct the inputs."""
        d = self.data
        self.net.decoder.requires_grad_(False)
        self.net.encoder.train()
        try:
            return self._steps(steps, len(d), self.encoder_opt, self._reconstruction)
        finally:
            self.net.decoder.requires_grad_(True)

    def _steps(self, steps: int, n: int, optimizer, loss_of) -> float:
        size = min(self.config.batch_size, n)
        tail = []
        for step in range(steps):
            batch = torch.randint(0, n, (size,), generator=self.generator)
            loss = loss_of(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step >= steps - max(1, steps // 4):
                tail.append(loss.item())
        return float(np.mean(tail))

    @torch.no_grad()
    def mirror_loss(self) -> float:
        """Reconstruction loss of ``decoder(encoder(x))`` over the whole input set."""
        self.net.eval()
        d = self.data
        losses = [self._reconstruction(s, "sum") for s in batch_slices(len(d), 64)]
        return float(sum(losses) / d.spectrograms.numel())

    def _reconstruction(self, items, reduction: str = "mean") -> torch.Tensor:
        d = self.data
        mirrored = self.net(d.spectrograms[items], d.tracks[items])
        return F.mse_loss(mirrored, d.spectrograms[items], reduction=reduction)

    @torch.no_grad()
    def prediction_loss(self, index: np.ndarray, vectors: np.ndarray, spec: torch.Tensor):
        """How well the decoder predicted what the plant just did (before fitting on it)."""
        self.net.eval()
        latent = torch.from_numpy(self.net.codec.from_vectors(vectors))
        return float(self.decoder_loss(torch.from_numpy(index), latent, spec))

    def round(self, number: int) -> dict[str, float]:
        """One decoder phase and one encoder phase; round 0 babbles instead of proposing."""
        c, n = self.config, len(self.data)
        started = time.perf_counter()
        if number == 0:
            index = np.tile(np.arange(n), c.babble)
            vectors = self.net.codec.random_vectors(self.rng, len(index))
        else:
            index = np.arange(n)
            vectors = self.net.codec.explore(
                self.net.infer(self.data), self.rng, c.explore_sigma, c.explore_switch_p
            )
        spec = self.collect(vectors, index)
        predicted = self.prediction_loss(index, vectors, spec)
        decoder = self.fit_decoder(c.decoder_steps)
        self.fit_encoder(c.encoder_steps)
        row = {
            "round": number,
            "buffer": len(self.buffer),
            "decoder_prediction_loss": predicted,
            "decoder_loss": decoder,
            "encoder_loss": self.mirror_loss(),
            "seconds": time.perf_counter() - started,
        }
        self.log(
            f"round {number}: buffer {row['buffer']}, decoder predicted the plant at "
            f"{predicted:.4f} and fits it at {decoder:.4f}; mirror {row['encoder_loss']:.4f} "
            f"({row['seconds']:.0f} s)"
        )
        return row

    def train(self) -> list[dict[str, float]]:
        return [self.round(r) for r in range(self.config.rounds)]
