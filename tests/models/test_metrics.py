"""Evaluation metrics: parameter MSE per parameter, switch accuracy, spectral convergence,
log-spectral and MFCC distances, against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics import (
    log_spectral_distance,
    mfcc_distance,
    parameter_mse,
    spectral_convergence,
    switch_accuracy,
)
from models.targets import TargetSpec

FS = 44100


SPEC = TargetSpec.of(["VCF FREQ", "lfo_wf", "DCO1 RANGE"])  # continuous, 3-way, 4-way


def test_parameter_mse_is_normalised_per_parameter():
    prediction = np.array([[0.5, 2, 3], [0.0, 0, 0]])
    target = np.array([[0.25, 0, 3], [0.0, 0, 0]])
    # Switch errors count in units of the whole switch range: 2 of 2 steps on LFO WF = 1.0.
    np.testing.assert_allclose(parameter_mse(prediction, target, SPEC), [0.0625 / 2, 1 / 2, 0])
    np.testing.assert_allclose(switch_accuracy(prediction, target, SPEC), [0.5, 1.0])
    with pytest.raises(ValueError, match=r"\[examples, 3\]"):
        parameter_mse(prediction[:, :2], target[:, :2], SPEC)


def noise(seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, round(seconds * FS))


def test_spectral_convergence_closed_forms():
    x = noise()
    assert spectral_convergence(x, x) == 0.0
    assert spectral_convergence(x, np.zeros_like(x)) == pytest.approx(1.0)
    assert spectral_convergence(x, 3 * x) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="silent reference"):
        spectral_convergence(np.zeros(1000), x[:1000])


def test_log_spectral_distance_of_a_gain_is_the_gain_in_db():
    x = noise()
    assert log_spectral_distance(x, x) == 0.0
    assert log_spectral_distance(x, 0.1 * x) == pytest.approx(20.0, rel=1e-6)
    with pytest.raises(ValueError, match="same length"):
        log_spectral_distance(x, x[:-1])


def test_mfcc_distance_ignores_gain_but_not_timbre():
    x = noise()
    assert mfcc_distance(x, x, FS) == 0.0
    assert mfcc_distance(x, 0.5 * x, FS) == pytest.approx(0.0, abs=1e-9)  # gain lives in c0
    t = np.arange(len(x)) / FS
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    assert mfcc_distance(x, tone, FS) > 10 * mfcc_distance(x, noise(seed=1), FS)
