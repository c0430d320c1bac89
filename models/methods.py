"""Every method by name: its features, how it trains, and a common way to run it.

A method is a network of :mod:`models.nets` trained by :func:`models.train.fit`, or the tree
baseline of :mod:`models.trees`. :func:`train_method` trains either on a frozen dataset within
a time budget and returns what :mod:`models.evaluate` scores, so ``jxdaq bench`` puts every
method in one table.

Training choices, once:

* the thesis's layouts train as the thesis did: its STFT (690 x 16), the MSE head, Adam at
  1e-3, a constant rate, at most 50 epochs (its budget), early stopping on the validation
  split; batch 32 (unstated in the thesis);
* ``convpool`` reads :data:`COMPACT_LOGMEL` (64 log-mel bands up to 22 kHz,
  23 ms hop: 173 x 64 for 4 s) with the mixed head, AdamW (weight decay 0.01) at a peak of
  3e-3 on a one-cycle schedule, gradient norm clipped to 1, batch 64;
* ``statsmlp`` (recommended) reads the same features and trains the same way, batch 128;
* ``trees`` reads the same log-mel features, pooled (:func:`models.trees.pooled_statistics`).

Within a budget (``TrainConfig.budget_s``), a network stops after the epoch that crosses it,
and a one-cycle schedule runs on the share of the budget spent, so it ends when the budget
does whatever the machine's pace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from daq.features import THESIS_STFT, FeatureConfig, LogMelFeatures
from models.data import FrozenDataset, SplitDataset
from models.evaluate import Outputs, run_split
from models.nets import THESIS_LAYOUTS, ParameterNet, build_model
from models.train import TrainConfig, fit, seed_everything
from models.trees import TreeModel, pooled_statistics

#: The recommended network's input: full-band log-mel, compact enough to cache and train fast.
COMPACT_LOGMEL = LogMelFeatures(n_fft=2048, hop=1024, n_mels=64)
THESIS_TRAINING = TrainConfig(epochs=50, batch_size=32, learning_rate=1e-3, patience=10)
RECOMMENDED_TRAINING = TrainConfig(
    epochs=60,
    batch_size=64,
    learning_rate=3e-3,
    optimizer="adamw",
    weight_decay=0.01,
    schedule="onecycle",
    max_grad_norm=1.0,
    patience=1000,  # the schedule decides when to stop; the best epoch is kept
)
STATS_TRAINING = RECOMMENDED_TRAINING.model_copy(update={"batch_size": 128})


@dataclass(frozen=True)
class Method:
    name: str
    kind: Literal["net", "trees"]
    features: FeatureConfig
    head: str = "mse"
    training: TrainConfig = THESIS_TRAINING


METHODS: dict[str, Method] = {
    **{name: Method(name, "net", THESIS_STFT) for name in THESIS_LAYOUTS},
    "convpool": Method("convpool", "net", COMPACT_LOGMEL, "mixed", RECOMMENDED_TRAINING),
    "statsmlp": Method("statsmlp", "net", COMPACT_LOGMEL, "mixed", STATS_TRAINING),
    "trees": Method("trees", "trees", COMPACT_LOGMEL),
}
#: The method the README recommends (``--models recommended``).
RECOMMENDED = "statsmlp"


def method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(METHODS)}, recommended")
    return METHODS[name]


@dataclass
class Trained:
    """A trained method and what its training cost."""

    method: Method
    train_examples: int
    epochs: int
    examples_per_s: float
    wall_s: float
    net: ParameterNet | None = None
    trees: TreeModel | None = None

    def outputs(self, split: SplitDataset) -> Outputs:
        if self.net is not None:
            return run_split(self.net, split)
        assert self.trees is not None
        return self.trees.outputs(pooled_statistics(_features(split)), split.targets)

    def outputs_of(self, features: np.ndarray, targets: np.ndarray) -> Outputs:
        """Outputs for features [n, frames, bins] computed outside a dataset (real tones)."""
        if self.net is not None:
            data = torch.utils.data.TensorDataset(
                torch.from_numpy(np.asarray(features, dtype=np.float32)),
                torch.from_numpy(np.asarray(targets, dtype=np.float32)),
            )
            return run_split(self.net, data)
        assert self.trees is not None
        return self.trees.outputs(pooled_statistics(features), targets)


def _features(split: SplitDataset) -> np.ndarray:
    return split.dataset.features[split.rows]


def train_method(
    chosen: Method,
    data: FrozenDataset,
    out_dir: str | Path,
    *,
    budget_s: float | None = None,
    seed: int = 0,
    progress: bool = False,
) -> Trained:
    """Train ``chosen`` on the train split, early-stopped (networks) on the validation split."""
    train, val = data.split("train"), data.split("validation")
    started = time.perf_counter()
    if chosen.kind == "trees":
        trees = TreeModel(train.spec, seed=seed)
        trees.fit(pooled_statistics(_features(train)), train.targets, budget_s)
        wall = time.perf_counter() - started
        return Trained(chosen, len(train), 1, len(train) / wall, wall, trees=trees)
    seed_everything(seed)
    net = build_model(chosen.name, *chosen.features.shape, train.spec, chosen.head)
    config = chosen.training.model_copy(update={"seed": seed, "budget_s": budget_s})
    result = fit(net, train, val, out_dir, config, progress=progress, meta=data.describe())
    wall = time.perf_counter() - started
    seconds = sum(row["seconds"] for row in result.history)
    examples = result.epochs_run * len(train)
    return Trained(chosen, len(train), result.epochs_run, examples / seconds, wall, net=net)
