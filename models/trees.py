"""The tree baseline: gradient-boosted trees on time-pooled statistics of the features.

No network, no sequence model: each example becomes a fixed vector of statistics (per band:
the mean and standard deviation over the whole clip, and the mean of each of ``SEGMENTS``
equal stretches of time, which keeps the envelopes' shape), and scikit-learn's
``HistGradientBoostingRegressor`` (continuous parameters) or ``...Classifier`` (switches)
learns each target on its own. It is the row every recommended network must beat (issue 12:
trees on pooled statistics beat every network the project had).

scikit-learn's OpenMP threads are held to torch's thread count: on a shared machine spare
threads only spin against the other processes (a 240 s budget ran past 20 minutes here).

It produces the same :class:`models.evaluate.Outputs` as a network, so
:mod:`models.evaluate` scores both alike: continuous outputs clipped to [0, 1]; switches at
their expected position (probabilities times positions) for the MSE, the most probable
position as the prediction.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from models.evaluate import Outputs
from models.targets import TargetSpec

SEGMENTS = 8
#: Rows of features pooled at a time (bounds memory on large splits).
CHUNK = 2048


def pooled_statistics(features) -> np.ndarray:
    """float32 [n, bins * (2 + SEGMENTS)] of features [n, frames, bins] (array-like)."""
    n = len(features)
    out = []
    for start in range(0, n, CHUNK):
        x = np.asarray(features[start : min(start + CHUNK, n)], dtype=np.float32)
        segments = np.array_split(x, SEGMENTS, axis=1)
        parts = [x.mean(axis=1), x.std(axis=1), *(s.mean(axis=1) for s in segments)]
        out.append(np.concatenate(parts, axis=1))
    return np.concatenate(out)


class TreeModel:
    """One boosted-tree model per target parameter."""

    def __init__(self, spec: TargetSpec, max_iter: int = 300, seed: int = 0) -> None:
        self.spec = spec
        self.max_iter = max_iter
        self.seed = seed
        self.models: list[HistGradientBoostingRegressor | HistGradientBoostingClassifier] = []

    def fit(self, x: np.ndarray, targets: np.ndarray, budget_s: float | None = None) -> None:
        """Fit every target; with a budget, each target gets the iterations the time left
        affords at the pace measured so far (the first one a tenth of ``max_iter``, at least
        ten); early stopping on a held-out 10 % bounds each one anyway."""
        with threadpool_limits(torch.get_num_threads()):
            self._fit(x, targets, budget_s)

    def _fit(self, x: np.ndarray, targets: np.ndarray, budget_s: float | None) -> None:
        started = time.perf_counter()
        self.models = []
        done = 0
        for i in range(len(self.spec)):
            iterations = self.max_iter
            if budget_s is not None:
                spent = time.perf_counter() - started
                if not done:
                    iterations = max(10, self.max_iter // 10)
                else:
                    per_target = max(budget_s - spent, 0.0) / (len(self.spec) - i)
                    affordable = int(per_target / (spent / done))
                    iterations = max(10, min(self.max_iter, affordable))
            common = {
                "max_iter": iterations,
                "learning_rate": 0.1,
                "early_stopping": len(x) >= 1000,  # too few takes to hold any out
                "validation_fraction": 0.1,
                "n_iter_no_change": 20,
                "random_state": self.seed,
            }
            if self.spec.is_switch[i]:
                positions = np.round(targets[:, i]).astype(int)
                model = HistGradientBoostingClassifier(**common)
                if len(np.unique(positions)) < 2:  # one position only: nothing to learn
                    model = _Constant(positions[0], self.spec.parameters[i].ways)
                model.fit(x, positions)
            else:
                model = HistGradientBoostingRegressor(**common).fit(x, targets[:, i])
            self.models.append(model)
            done += getattr(model, "n_iter_", 1) * getattr(model, "n_trees_per_iteration_", 1)

    def outputs(self, x: np.ndarray, targets: np.ndarray) -> Outputs:
        with threadpool_limits(torch.get_num_threads()):
            return self._outputs(x, targets)

    def _outputs(self, x: np.ndarray, targets: np.ndarray) -> Outputs:
        expected = np.empty((len(x), len(self.spec)), dtype=np.float32)
        predictions = np.empty_like(expected)
        for i, model in enumerate(self.models):
            if self.spec.is_switch[i]:
                ways = self.spec.parameters[i].ways
                probabilities = np.zeros((len(x), ways))
                probabilities[:, model.classes_] = model.predict_proba(x)
                expected[:, i] = probabilities @ np.arange(ways)
                predictions[:, i] = probabilities.argmax(axis=1)
            else:
                expected[:, i] = predictions[:, i] = np.clip(model.predict(x), 0.0, 1.0)
        loss = float((((expected - targets) * self.spec.scale) ** 2).mean())
        return Outputs(loss, expected, predictions, np.asarray(targets, dtype=np.float32))


class _Constant:
    """A classifier for a switch the training split holds in one position only."""

    def __init__(self, position: int, ways: int) -> None:
        self.classes_ = np.array([position])

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Constant:
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.ones((len(x), 1))
