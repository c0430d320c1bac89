"""The encoder and the decoder (TCNs), and MirrorNet that holds both."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt
from torch import nn

from daq.features import AuditoryFeatures
from models.mirrornet.latent import DEFAULT_PARAMETERS, LatentCodec
from models.mirrornet.spectra import (
    SPECTROGRAM_LOUD,
    SPECTROGRAM_REFERENCE,
    TIMELINE,
    MelodySet,
    NoteTracks,
)
from models.targets import TargetSpec


# -- networks -----------------------------------------------------------------------------
class _Block(nn.Module):
    """A residual, non-causal dilated convolution over time (offline: whole melodies)."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.gelu(self.conv(x)))


def _tcn(inputs: int, hidden: int, blocks: int) -> nn.Sequential:
    """1x1 projection then ``blocks`` dilated blocks (dilations 1, 2, 4, ...)."""
    return nn.Sequential(
        nn.Conv1d(inputs, hidden, 1), *(_Block(hidden, 2**i) for i in range(blocks))
    )


def aligned(spec: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``spec [B, 128, F]`` with each frame moved down by ``shift [B, F]`` channels (zeros in)."""
    channels = spec.shape[1]
    index = torch.arange(channels)[None, :, None] + shift[:, None, :]
    inside = (index >= 0) & (index < channels)
    return torch.gather(spec, 1, index.clamp(0, channels - 1)) * inside


class Encoder(nn.Module):
    """Spectrogram (+ note tracks) -> one tone per melody, as a per-note latent [B, notes, W].

    A TCN over the spectrogram, its pitch-aligned view and the timeline of each frame's note;
    its features are pooled over each note's frames, then over the notes (the tie).
    """

    def __init__(self, codec: LatentCodec, hidden: int, blocks: int) -> None:
        super().__init__()
        self.codec = codec
        self.tcn = _tcn(2 * AuditoryFeatures.CHANNELS + TIMELINE, hidden, blocks)
        self.head = nn.Sequential(
            nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, codec.width)
        )

    def forward(self, spec: torch.Tensor, tracks: NoteTracks) -> torch.Tensor:
        assign = tracks.assign
        timeline = torch.einsum("bntf,bnf->btf", tracks.timeline, assign)
        h = self.tcn(torch.cat([spec, aligned(spec, tracks.shift), timeline], 1))
        weights = assign / assign.sum(-1, keepdim=True).clamp(min=1.0)
        per_note = torch.einsum("bnf,bhf->bnh", weights, h)
        tone = self.codec.activate(self.head(per_note.mean(1)))  # tied: one tone per melody
        return tone[:, None, :].expand(-1, assign.shape[1], -1)


class Decoder(nn.Module):
    """Per-note latent + note tracks -> spectrogram, one voice per note as on the JX.

    Each note's latent and timeline go through a TCN that gives, per frame and channel, a
    gain on the note's harmonic template and a free (noise) level, in linear auditory units
    of ``SPECTROGRAM_REFERENCE``; a note is silent until it starts. The notes add up, and
    the sum is compressed as :func:`compress` does.
    """

    def __init__(self, codec: LatentCodec, hidden: int, blocks: int) -> None:
        super().__init__()
        self.tcn = _tcn(codec.width + TIMELINE, hidden, blocks)
        self.out = nn.Conv1d(hidden, 2 * AuditoryFeatures.CHANNELS, 1)

    def forward(self, latent: torch.Tensor, tracks: NoteTracks) -> torch.Tensor:
        batch, notes, _, frames = tracks.timeline.shape
        inputs = torch.cat([latent[..., None].expand(-1, -1, -1, frames), tracks.timeline], 2)
        gains = F.softplus(self.out(self.tcn(inputs.flatten(0, 1))))
        gains = gains.view(batch, notes, 2, AuditoryFeatures.CHANNELS, frames)
        started = tracks.timeline[:, :, None, 0, :]  # [B, notes, 1, frames]
        voices = (gains[:, :, 0] * tracks.templates[..., None] + gains[:, :, 1]) * started
        scale = np.log1p(SPECTROGRAM_LOUD / SPECTROGRAM_REFERENCE)
        return torch.log1p(voices.sum(1)) / scale


class MirrorConfig(BaseModel):
    """The network sizes and the alternating schedule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameters: tuple[str, ...] = DEFAULT_PARAMETERS
    hidden: PositiveInt = 32
    blocks: PositiveInt = 4
    rounds: PositiveInt = 6
    babble: PositiveInt = Field(2, description="random proposals per melody in round 0")
    explore_sigma: NonNegativeFloat = 0.08
    explore_switch_p: float = Field(0.2, ge=0.0, le=1.0)
    decoder_steps: PositiveInt = 300
    encoder_steps: PositiveInt = 100
    batch_size: PositiveInt = 32
    learning_rate: float = Field(2e-3, gt=0.0)
    seed: int = 0


class MirrorNet(nn.Module):
    """The encoder and the decoder of one learnable subset."""

    def __init__(self, config: MirrorConfig) -> None:
        super().__init__()
        self.config = config
        self.codec = LatentCodec(TargetSpec.of(config.parameters))
        self.encoder = Encoder(self.codec, config.hidden, config.blocks)
        self.decoder = Decoder(self.codec, config.hidden, config.blocks)

    def forward(self, spec: torch.Tensor, tracks: NoteTracks) -> torch.Tensor:
        """The mirror: ``decoder(encoder(spec))``."""
        return self.decoder(self.encoder(spec, tracks), tracks)

    @torch.no_grad()
    def infer(self, data: MelodySet, batch_size: int = 64) -> np.ndarray:
        """Target vectors [n, params] of the tones the encoder hears in ``data``."""
        self.eval()
        latents = [
            self.encoder(data.spectrograms[s], data.tracks[s])[:, 0]
            for s in batch_slices(len(data), batch_size)
        ]
        return self.codec.to_vectors(torch.cat(latents).numpy())


def batch_slices(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]
