"""The networks: the thesis's eight layouts, the recommended network, and their heads.

Every network takes features [batch, frames, bins] and is a *body* producing an embedding
plus a *head* mapping it to the targets of a :class:`models.targets.TargetSpec`.

The thesis's layouts (Vecoven 2020, tables 6.1, 6.3, 6.5, as ``../shared/RESEARCH.md``
tabulates them) are built exactly: the layers, their order, kernel sizes, filter and unit
counts. The thesis's last "fc 26" is the head. What the tables leave unstated was chosen here,
once, as follows:

* orientation: a spectrogram is a one-channel image of height = bins and width = frames, so a
  "3 x 10" kernel spans 3 bins and 10 frames (the thesis's 16 bins are too few for 10 along
  frequency in cnn2's second conv after pooling);
* convolutions and locally connected layers: stride 1 (locally connected: stride = kernel,
  non-overlapping patches; with stride 1 lcnn1 alone would hold 96 M weights), no padding
  ("valid", Keras's default); max-pooling with stride = size, remainders dropped;
* activations: ReLU after every convolution, locally connected and hidden dense layer;
  none on the output; an LSTM gives its last hidden state;
* input: a BatchNorm over bins first (the thesis does not say how it scaled its STFT; raw
  magnitudes span 0 to ~100, and this makes every layout indifferent to the input's scale).

The recommended network, ``statsmlp``, gives a network what made the tree baseline win:
time statistics of each log-mel band (:class:`models.pooled.TimeStatistics`: level, spread,
extremes, modulation and the envelope in eight stretches), standardised, then a two-layer
MLP (512 wide, GELU, dropout). It is cheap (the statistics are a few reductions per batch),
so it trains at thousands of examples per CPU-second and can afford many epochs.

``convpool``, the previous recommendation, is built to learn rather than to reproduce: it reads
compact log-mel features (full band), normalises them per band, runs 1-D convolutions over
time with the bands as channels (BatchNorm, GELU, a stride-2 step and dilations so that a
frame sees ~1.5 s), and pools over time twice: to 16 steps that keep *when* things happen
(envelopes) and globally (mean and standard deviation, which say *what* is heard), instead of
reading an LSTM's last state. It is trained with the mixed head, AdamW, a one-cycle learning
rate schedule and gradient clipping (see :mod:`models.methods`).

Heads. ``mse`` is the thesis's: one linear output per parameter, switches as positions scaled
to [0, 1], trained with plain MSE (which blurs switches between positions, a known weakness).
``mixed`` regresses continuous parameters through a sigmoid with MSE and gives each switch its
own softmax, trained with cross-entropy; the loss is MSE + ``switch_weight`` times the mean
cross-entropy over switches.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from models.pooled import TimeStatistics
from models.targets import TargetSpec


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
    """An LSTM whose output is its last hidden state."""

    def __init__(self, n_inputs: int, units: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, units, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(x)
        return hidden[-1]


class Transpose(nn.Module):
    """Swaps the time and feature axes: [B, T, F] <-> [B, F, T] (Conv1d/BatchNorm1d want F)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class Image(nn.Module):
    """[B, T, F] -> [B, 1, F, T]: a spectrogram as a one-channel image, bins as height."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).unsqueeze(1)


class LocallyConnected2d(nn.Module):
    """A convolution without weight sharing: every output position has its own kernel.

    Stride = kernel (non-overlapping patches), no padding.
    """

    def __init__(self, channels: int, filters: int, kernel: tuple[int, int], size: tuple[int, int]):
        super().__init__()
        self.kernel = kernel
        self.out_size = (size[0] // kernel[0], size[1] // kernel[1])
        if min(self.out_size) < 1:
            raise ValueError(f"a {kernel} locally connected layer needs input of at least {kernel}")
        positions, patch = self.out_size[0] * self.out_size[1], channels * kernel[0] * kernel[1]
        self.weight = nn.Parameter(torch.randn(positions, patch, filters) / patch**0.5)
        self.bias = nn.Parameter(torch.zeros(positions, filters))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = functional.unfold(x, self.kernel, stride=self.kernel)  # [B, patch, L]
        y = torch.einsum("bpl,lpf->blf", patches, self.weight) + self.bias
        return y.transpose(1, 2).reshape(x.shape[0], -1, *self.out_size)


def _input_norm(n_bins: int) -> list[nn.Module]:
    return [Transpose(), nn.BatchNorm1d(n_bins), Transpose()]


def _size_after(body: nn.Sequential, n_frames: int, n_bins: int) -> int:
    """Width of ``body``'s flattened output for one example (by running it once)."""
    with torch.no_grad():
        return int(body.eval()(torch.zeros(2, n_frames, n_bins)).flatten(1).shape[1])


def _dense(widths: tuple[int, ...], n_inputs: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(n_inputs, width), nn.ReLU()]
        n_inputs = width
    return layers


Layer = tuple  # ("conv", kh, kw, filters) | ("pool", size) | ("local", kh, kw, filters)

#: The thesis's tables 6.1, 6.3, 6.5 (the final "fc 26" is the head).
THESIS_LAYOUTS: dict[str, tuple[tuple[Layer, ...], tuple[int, ...]]] = {
    "cnn1": ((("conv", 3, 10, 32), ("pool", 2), ("conv", 2, 2, 64), ("pool", 2)), (128,)),
    "cnn2": (
        (("conv", 3, 10, 32), ("pool", 2), ("conv", 3, 10, 64), ("pool", 2), ("conv", 2, 2, 64)),
        (128,),
    ),
    "cnn3": (
        (("conv", 3, 10, 32), ("pool", 2), ("conv", 3, 10, 64), ("pool", 2), ("conv", 2, 2, 64)),
        (512, 128),
    ),
    "lcnn1": ((("local", 3, 10, 64),), (128,)),
    "lcnn2": ((("local", 3, 10, 64), ("pool", 3)), (256,)),
    "lstm1": ((("lstm", 64),), (64,)),
    "lstm2": ((("lstm", 128),), (64,)),
    "lstm3": ((("lstm", 256),), (128, 64)),
}


def thesis_body(name: str) -> Callable[[int, int], tuple[nn.Module, int]]:
    """The body of a thesis layout (see the module doc for what was chosen)."""
    layers, dense = THESIS_LAYOUTS[name]

    def build(n_frames: int, n_bins: int) -> tuple[nn.Module, int]:
        modules: list[nn.Module] = [*_input_norm(n_bins)]
        if layers[0][0] == "lstm":
            modules.append(LastStep(n_bins, layers[0][1]))
        else:
            modules.append(Image())
            channels, size = 1, (n_bins, n_frames)
            for layer in layers:
                if layer[0] == "conv":
                    modules += [nn.Conv2d(channels, layer[3], layer[1:3]), nn.ReLU()]
                    size, channels = (size[0] - layer[1] + 1, size[1] - layer[2] + 1), layer[3]
                elif layer[0] == "local":
                    local = LocallyConnected2d(channels, layer[3], layer[1:3], size)
                    modules += [local, nn.ReLU()]
                    size, channels = local.out_size, layer[3]
                else:
                    modules.append(nn.MaxPool2d(layer[1]))
                    size = (size[0] // layer[1], size[1] // layer[1])
                if min(size) < 1:
                    raise ValueError(
                        f"{name}: {n_frames} frames x {n_bins} bins are too few for its layers"
                    )
            modules.append(nn.Flatten())
        body = nn.Sequential(*modules)
        return nn.Sequential(*body, *_dense(dense, _size_after(body, n_frames, n_bins))), dense[-1]

    return build


class ConvPool(nn.Module):
    """The recommended body (see the module doc)."""

    WIDTH = 96
    STEPS = 16

    def __init__(self, n_bins: int) -> None:
        super().__init__()
        w = self.WIDTH

        def block(c_in: int, kernel: int, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
            padding = dilation * (kernel - 1) // 2
            conv = nn.Conv1d(c_in, w, kernel, stride, padding, dilation, bias=False)
            return [conv, nn.BatchNorm1d(w), nn.GELU()]

        self.norm = nn.BatchNorm1d(n_bins)
        self.convs = nn.Sequential(
            *block(n_bins, 5, stride=2),
            *block(w, 3, dilation=2),
            *block(w, 3, dilation=4),
            *block(w, 3, dilation=8),
        )
        self.steps = nn.AdaptiveAvgPool1d(self.STEPS)
        self.dense = nn.Sequential(
            nn.Dropout(0.1), nn.Linear(w * (self.STEPS + 2), 256), nn.GELU(), nn.Dropout(0.1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(self.norm(x.transpose(1, 2)))  # [B, W, T/2]
        pooled = [self.steps(h).flatten(1), h.mean(dim=2), h.std(dim=2)]
        return self.dense(torch.cat(pooled, dim=1))


def convpool_body(n_frames: int, n_bins: int) -> tuple[nn.Module, int]:
    return ConvPool(n_bins), 256


class StatsMlp(nn.Module):
    """Time statistics (:class:`models.pooled.TimeStatistics`), standardised, then an MLP."""

    WIDTH = 512
    DROPOUT = 0.2

    def __init__(self, n_frames: int, n_bins: int) -> None:
        super().__init__()
        self.stats = TimeStatistics(n_frames, n_bins)
        w = self.WIDTH
        self.mlp = nn.Sequential(
            nn.BatchNorm1d(self.stats.width, affine=False),
            nn.Linear(self.stats.width, w),
            nn.GELU(),
            nn.Dropout(self.DROPOUT),
            nn.Linear(w, w),
            nn.GELU(),
            nn.Dropout(self.DROPOUT),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.stats(x))


def statsmlp_body(n_frames: int, n_bins: int) -> tuple[nn.Module, int]:
    return StatsMlp(n_frames, n_bins), StatsMlp.WIDTH


BODIES: dict[str, Callable[[int, int], tuple[nn.Module, int]]] = {
    **{name: thesis_body(name) for name in THESIS_LAYOUTS},
    "convpool": convpool_body,
    "statsmlp": statsmlp_body,
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
