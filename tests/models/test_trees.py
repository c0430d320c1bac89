"""The tree baseline on a synthetic problem: pooled statistics, and outputs scored alike."""

from __future__ import annotations

import numpy as np

from models.evaluate import Scores
from models.targets import TargetSpec
from models.trees import SEGMENTS, TreeModel, pooled_statistics

SPEC = TargetSpec.of(["VCF FREQ", "DCO1 WF"])


def problem(n: int, seed: int):
    """Band 0's level carries VCF FREQ; which half of the clip is loud carries DCO1 WF."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(size=n)
    wf = rng.integers(0, 4, n)
    x = rng.normal(0, 0.05, (n, 40, 3)).astype(np.float32)
    x[:, :, 0] += freq[:, None]
    for i, position in enumerate(wf):
        x[i, position * 10 : position * 10 + 10, 2] += 1.0
    return x, np.stack([freq, wf], axis=1).astype(np.float32)


def test_pooled_statistics_keep_level_spread_and_when():
    x, _ = problem(5, 0)
    pooled = pooled_statistics(x)
    assert pooled.shape == (5, 3 * (2 + SEGMENTS))
    np.testing.assert_allclose(pooled[:, 0], x[:, :, 0].mean(axis=1), rtol=1e-5)


def test_trees_learn_what_the_statistics_carry_and_beat_every_constant():
    x, y = problem(600, 1)
    x_test, y_test = problem(200, 2)
    trees = TreeModel(SPEC, max_iter=60)
    trees.fit(pooled_statistics(x), y)
    outputs = trees.outputs(pooled_statistics(x_test), y_test)
    scores = Scores.of(outputs, y, SPEC)
    assert (scores.parameter_mse < 0.2 * scores.mean_mse).all()
    assert scores.switch_accuracy[0] > 0.95 > scores.mode_accuracy[0]
    assert np.all((outputs.expected[:, 1] >= 0) & (outputs.expected[:, 1] <= 3))
