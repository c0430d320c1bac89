"""The training loop on a tiny synthetic problem: it learns, stops, and resumes exactly."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from daq.features import StftFeatures
from models.evaluate import run_split
from models.metrics import parameter_mse, switch_accuracy
from models.nets import build_model
from models.targets import TargetSpec
from models.train import TrainConfig, fit, seed_everything

FS = 44100
FEATURES = StftFeatures(duration_s=0.25, bins=64)  # 44 frames x 0..5.4 kHz
# Frequency stands in for a continuous parameter, the waveform for a 3-way switch.
SPEC = TargetSpec.of(["VCF FREQ", "LFO WF"])


def tones(n: int, seed: int) -> TensorDataset:
    """Sines, squares and saws from 200 to 1100 Hz; targets are (frequency, waveform)."""
    rng = np.random.default_rng(seed)
    position = rng.uniform(0, 1, n)
    waveform = rng.integers(0, 3, n)
    t = np.arange(FEATURES.samples) / FS
    features, targets = [], []
    for p, w in zip(position, waveform, strict=True):
        phase = (200 + 900 * p) * t + rng.uniform()
        wave = (np.sin(2 * np.pi * phase), np.sign(np.sin(2 * np.pi * phase)), 2 * (phase % 1) - 1)
        features.append(FEATURES.compute(0.3 * wave[w]))
        targets.append((p, w))
    return TensorDataset(torch.from_numpy(np.stack(features)), torch.tensor(targets).float())


@pytest.fixture(scope="module")
def data() -> tuple[TensorDataset, TensorDataset]:
    return tones(320, seed=1), tones(96, seed=2)


def train(out_dir, data, config: TrainConfig, resume: bool = False, name: str = "lcnn1"):
    seed_everything(config.seed)
    model = build_model(name, *FEATURES.shape, SPEC)
    return model, fit(model, *data, out_dir, config, resume=resume, progress=False)


def test_a_tiny_problem_trains_and_beats_predicting_the_mean(tmp_path, data):
    train_set, val_set = data
    config = TrainConfig(epochs=6, batch_size=32, learning_rate=1e-2, seed=3)
    model, result = train(tmp_path, data, config, name="lstm1")
    outputs = run_split(model, val_set)
    train_targets = train_set.tensors[1].numpy()
    val_targets = val_set.tensors[1].numpy()
    mean_frequency = np.full(len(val_targets), train_targets[:, 0].mean())
    baseline = ((mean_frequency - val_targets[:, 0]) ** 2).mean()
    majority = np.bincount(train_targets[:, 1].astype(int)).argmax()
    assert parameter_mse(outputs.expected, outputs.targets, SPEC)[0] < 0.25 * baseline
    accuracy = switch_accuracy(outputs.predictions, outputs.targets, SPEC)[0]
    assert accuracy > (val_targets[:, 1] == majority).mean() + 0.3
    assert result.best_epoch >= 1 and result.history[-1]["epoch"] == result.epochs_run
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(1, result.epochs_run + 1))
    scores = [float(r["val_parameter_mse"]) for r in rows]
    assert scores[result.best_epoch - 1] == pytest.approx(result.best_val_mse) == min(scores)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the best weights are loaded back
    assert outputs.thesis_mse(SPEC) == pytest.approx(result.best_val_mse, rel=1e-5)


def test_resuming_gives_the_same_run_as_never_stopping(tmp_path, data):
    small = (torch.utils.data.Subset(data[0], range(96)), data[1])
    config = TrainConfig(epochs=3, batch_size=16, seed=7)
    _, straight = train(tmp_path / "straight", small, config, name="cnn1")
    train(tmp_path / "split", small, config.model_copy(update={"epochs": 1}), name="cnn1")
    _, resumed = train(tmp_path / "split", small, config, resume=True, name="cnn1")

    def without_time(history):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history]

    assert without_time(resumed.history) == without_time(straight.history)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), key


def test_early_stopping_and_refusals(tmp_path, data):
    small = (
        torch.utils.data.Subset(data[0], range(32)),
        torch.utils.data.Subset(data[1], range(16)),
    )
    # min_delta this large: only the first epoch counts as an improvement.
    config = TrainConfig(epochs=10, batch_size=16, patience=2, min_delta=1e9)
    _, result = train(tmp_path, small, config)
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1
    with pytest.raises(FileExistsError, match="resume it"):
        train(tmp_path, small, config)
    with pytest.raises(ValueError, match="different learning_rate"):
        train(tmp_path, small, config.model_copy(update={"learning_rate": 0.1}), resume=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(tmp_path / "empty", small, config, resume=True)
    # a checkpoint whose best epoch was chosen by validation loss (before issue 12's change)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    last["state"]["best_val_loss"] = last["state"].pop("best_val_mse")
    torch.save(last, tmp_path / "last.pt")
    with pytest.raises(ValueError, match="by validation loss"):
        train(tmp_path, small, config.model_copy(update={"epochs": 12}), resume=True)


def test_one_cycle_warms_up_anneals_and_ends_with_the_budget():
    from models.train import _schedule, _State

    def factors(config, state, steps):
        net = torch.nn.Linear(1, 1)
        optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
        schedule = _schedule(optimizer, config, 10, state)
        out = []
        for _ in range(steps):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        return out

    lrs = factors(TrainConfig(epochs=2, schedule="onecycle"), _State(), 21)
    assert lrs[0] == pytest.approx(0.04) and lrs[6] == pytest.approx(1.0)
    assert lrs[20] == pytest.approx(1e-4) and max(lrs) == lrs[6]
    assert all(a >= b for a, b in itertools.pairwise(lrs[6:]))  # annealing only
    spent = _State(seconds=50.0)  # the whole budget already spent: the cycle is over
    budgeted = TrainConfig(epochs=2, schedule="onecycle", budget_s=50.0)
    assert factors(budgeted, spent, 2)[1] == pytest.approx(1e-4)


def test_a_budget_stops_training_after_the_epoch_that_crosses_it(tmp_path, data):
    config = TrainConfig(epochs=50, batch_size=32, budget_s=1e-3, seed=1)
    _, result = train(tmp_path, data, config, name="lstm1")
    assert result.epochs_run == 1 and result.stopped_early
