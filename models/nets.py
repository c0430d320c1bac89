"""The thesis's baseline networks and the output heads they are trained with.

Every network takes features [batch, frames, bins] (the thesis STFT is 690 x 16, but any
feature config works) and is a *body* producing an embedding plus a *head* mapping it to the
targets of a :class:`models.targets.TargetSpec`.

Layouts. The thesis ("Sound synthesizer programming using deep learning", F. Vecoven, Liège
2020) compares LSTMs, CNNs and LCNNs on the 690 x 16 STFT; what this project knows of it is
that lstm1 is a single LSTM of 64 units (validation MSE 0.0262, its best) and that its CNNs
reach 0.0270-0.0287. The exact layer tables could not be consulted when this was written, so
the layouts below are RECONSTRUCTIONS in the thesis's terms, each a step up from the last:

* lstm1: LSTM(64), last step -> head. (Unit count from the thesis.)
* lstm2 / lstm3: 2 / 3 stacked LSTM(64) layers (reconstructed).
* cnn1 / cnn2 / cnn3: 1 / 2 / 3 blocks of [Conv2d 3x3 -> BatchNorm -> ReLU -> MaxPool 2x2]
  with 32, 64, 128 channels, an adaptive max-pool to 16 frames x 2 bands so the dense layer
  does not depend on the input size, then Dense(128) + ReLU + Dropout(0.25) (reconstructed).
* lcnn1 / lcnn2: read as "LSTM over CNN features" (a CRNN): 1 / 2 blocks of [Conv1d over
  time with the bins as channels, kernel 3 -> BatchNorm -> ReLU -> MaxPool 2] with 64, 128
  channels, then LSTM(64), last step (reconstructed; the name could also mean locally
  connected CNNs, which would need the exact tables to reproduce).

All bodies start with a BatchNorm over the bins (an addition: raw STFT magnitudes span 0 to
~100, and this makes the networks indifferent to the input's scale).

Heads. ``mse`` is the thesis's: one linear output per parameter, switches as positions scaled
to [0, 1], trained with plain MSE (which blurs switches between positions, a known weakness).
``mixed`` (the default) regresses continuous parameters through a sigmoid with MSE and gives
each switch its own softmax, trained with cross-entropy; the loss is MSE + ``switch_weight``
times the mean cross-entropy over switches.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from models.targets import TargetSpec

LSTM_UNITS = 64


class Head(nn.Module):
    """Maps an embedding to raw outputs; knows its loss and how to read predictions."""

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        """Target vectors [batch, params] (continuous in [0, 1], switch positions)."""
        raise NotImplementedError

    def expected(self, output: torch.Tensor) -> torch.Tensor:
        """Target vectors with each switch at its expected (fractional) position: the
        least-squares reading, which the thesis's MSE judges."""
        raise NotImplementedError


class MseHead(Head):
    """The thesis head: plain MSE over every parameter, switches scaled to [0, 1]."""

    def __init__(self, in_features: int, spec: TargetSpec) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, len(spec))
        self.register_buffer("scale", torch.as_tensor(spec.scale))
        self.register_buffer("is_switch", torch.as_tensor(spec.is_switch))

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.linear(embedding)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return functional.mse_loss(output, target * self.scale)

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        values = self.expected(output)
        return torch.where(self.is_switch, values.round(), values)

    def expected(self, output: torch.Tensor) -> torch.Tensor:
        return output.clamp(0.0, 1.0) / self.scale


class MixedHead(Head):
    """Sigmoid regression for continuous parameters, one softmax per switch."""

    def __init__(self, in_features: int, spec: TargetSpec, switch_weight: float = 1.0) -> None:
        super().__init__()
        self.continuous_index = list(spec.continuous_index)
        self.switch_index = list(spec.switch_index)
        self.ways = list(spec.switch_ways)
        self.n_params = len(spec)
        self.switch_weight = switch_weight
        self.linear = nn.Linear(in_features, len(self.continuous_index) + sum(self.ways))

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.linear(embedding)

    def _split(self, output: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        n = len(self.continuous_index)
        return torch.sigmoid(output[:, :n]), output[:, n:].split(self.ways, dim=1)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        values, logits = self._split(output)
        loss = output.new_zeros(())
        if self.continuous_index:
            loss = loss + functional.mse_loss(values, target[:, self.continuous_index])
        if self.switch_index:
            positions = target[:, self.switch_index].round().long()
            entropy = sum(
                functional.cross_entropy(logit, positions[:, i]) for i, logit in enumerate(logits)
            )
            loss = loss + self.switch_weight * entropy / len(logits)
        return loss

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        values, logits = self._split(output)
        prediction = output.new_zeros((output.shape[0], self.n_params))
        prediction[:, self.continuous_index] = values
        for i, logit in zip(self.switch_index, logits, strict=True):
            prediction[:, i] = logit.argmax(dim=1).to(prediction.dtype)
        return prediction

    def expected(self, output: torch.Tensor) -> torch.Tensor:
        values, logits = self._split(output)
        expected = output.new_zeros((output.shape[0], self.n_params))
        expected[:, self.continuous_index] = values
        for i, logit in zip(self.switch_index, logits, strict=True):
            positions = torch.arange(logit.shape[1], dtype=logit.dtype, device=logit.device)
            expected[:, i] = logit.softmax(dim=1) @ positions
        return expected


HEADS: dict[str, Callable[[int, TargetSpec], Head]] = {"mse": MseHead, "mixed": MixedHead}


class LastStep(nn.Module):
    """An LSTM stack whose output is its top layer's last hidden state."""

    def __init__(self, n_inputs: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, LSTM_UNITS, num_layers=layers, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(x)
        return hidden[-1]


class Transpose(nn.Module):
    """Swaps the time and feature axes: [B, T, F] <-> [B, F, T] (Conv1d/BatchNorm1d want F)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


def _input_norm(n_bins: int) -> list[nn.Module]:
    return [Transpose(), nn.BatchNorm1d(n_bins), Transpose()]


def lstm_body(layers: int) -> Callable[[int, int], tuple[nn.Module, int]]:
    def build(n_frames: int, n_bins: int) -> tuple[nn.Module, int]:
        return nn.Sequential(*_input_norm(n_bins), LastStep(n_bins, layers)), LSTM_UNITS

    return build


def cnn_body(blocks: int) -> Callable[[int, int], tuple[nn.Module, int]]:
    channels = (32, 64, 128)[:blocks]

    def build(n_frames: int, n_bins: int) -> tuple[nn.Module, int]:
        layers: list[nn.Module] = [*_input_norm(n_bins)]
        layers.append(Unsqueeze())
        previous = 1
        for width in channels:
            layers += [
                nn.Conv2d(previous, width, 3, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            previous = width
        layers += [
            nn.AdaptiveMaxPool2d((16, 2)),
            nn.Flatten(),
            nn.Linear(previous * 16 * 2, 128),
            nn.ReLU(),
            nn.Dropout(0.25),
        ]
        return nn.Sequential(*layers), 128

    return build


class Unsqueeze(nn.Module):
    """[B, T, F] -> [B, 1, T, F]: a spectrogram as a one-channel image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)


def lcnn_body(blocks: int) -> Callable[[int, int], tuple[nn.Module, int]]:
    channels = (64, 128)[:blocks]

    def build(n_frames: int, n_bins: int) -> tuple[nn.Module, int]:
        layers: list[nn.Module] = [Transpose(), nn.BatchNorm1d(n_bins)]
        previous = n_bins
        for width in channels:
            layers += [
                nn.Conv1d(previous, width, 3, padding=1),
                nn.BatchNorm1d(width),
                nn.ReLU(),
                nn.MaxPool1d(2, ceil_mode=True),
            ]
            previous = width
        layers += [Transpose(), LastStep(previous, 1)]
        return nn.Sequential(*layers), LSTM_UNITS

    return build


BODIES: dict[str, Callable[[int, int], tuple[nn.Module, int]]] = {
    "lstm1": lstm_body(1),
    "lstm2": lstm_body(2),
    "lstm3": lstm_body(3),
    "cnn1": cnn_body(1),
    "cnn2": cnn_body(2),
    "cnn3": cnn_body(3),
    "lcnn1": lcnn_body(1),
    "lcnn2": lcnn_body(2),
}


class ParameterNet(nn.Module):
    """A body and a head; ``loss`` and ``predict`` are the head's."""

    def __init__(self, name: str, body: nn.Module, head: Head, spec: TargetSpec) -> None:
        super().__init__()
        self.name = name
        self.spec = spec
        self.body = body
        self.head = head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(features))

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.head.loss(output, target)

    @torch.no_grad()
    def predict(self, output: torch.Tensor) -> torch.Tensor:
        return self.head.predict(output)

    @torch.no_grad()
    def expected(self, output: torch.Tensor) -> torch.Tensor:
        return self.head.expected(output)

    def parameter_count(self) -> int:
        return sum(int(np.prod(p.shape)) for p in self.parameters())


def build_model(
    name: str, n_frames: int, n_bins: int, targets_spec: TargetSpec, head: str = "mixed"
) -> ParameterNet:
    """A baseline by name (see ``BODIES``) with a ``"mixed"`` or ``"mse"`` head."""
    if name not in BODIES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(BODIES)}")
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; known: {', '.join(HEADS)}")
    if n_frames < 1 or n_bins < 1:
        raise ValueError(f"features must have frames and bins, got {n_frames} x {n_bins}")
    body, width = BODIES[name](n_frames, n_bins)
    return ParameterNet(name, body, HEADS[head](width, targets_spec), targets_spec)
