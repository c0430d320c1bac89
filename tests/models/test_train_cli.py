"""``jxdaq train`` -> ``jxdaq evaluate`` on a captured catalog: it learns, resumes, reports."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from daq.cli import app
from daq.settings import get_settings
from daq.spec import load_spec

TARGETS = "VCF FREQ,VCA LEVEL,DCO1 WF"  # what the tiny dataset varies


@pytest.fixture
def jxdaq(captured_dataset, tmp_path, monkeypatch):
    """Run ``jxdaq`` against the captured catalog; the feature cache goes to ``tmp_path``."""
    monkeypatch.setenv("JXDAQ_CATALOG_URL", captured_dataset.catalog_url)
    monkeypatch.setenv("JXDAQ_STORE_URL", str(captured_dataset.store_root))
    monkeypatch.setenv("JXDAQ_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, [str(a) for a in args])
        assert "Traceback" not in result.output
        assert (result.exit_code == 0) == ok, result.output
        return result

    yield run
    get_settings.cache_clear()


def train_args(out, epochs: int, *extra: str) -> list[str]:
    return [
        "train", "--dataset", "tiny", "--model", "cnn1", "--targets", TARGETS,
        "--epochs", str(epochs), "--batch-size", "16", "--learning-rate", "3e-3",
        "--seed", "4", "--device", "cpu", "--out", str(out), *extra,
    ]  # fmt: skip


def metrics(run_dir) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_trains_and_beats_predicting_the_mean_on_held_out_takes(jxdaq, tmp_path):
    run_dir = tmp_path / "run"
    trained = jxdaq(*train_args(run_dir, 6))
    assert "cnn1" in trained.output and "best epoch" in trained.output
    for name in ("best.pt", "last.pt", "metrics.csv", "curves.png"):
        assert (run_dir / name).is_file(), name
    assert len(metrics(run_dir)) == 6
    assert (tmp_path / "features").is_dir()  # the cache under JXDAQ_VAR_DIR

    job = tmp_path / "resynthesis.toml"
    evaluated = jxdaq(
        "evaluate", "--checkpoint", run_dir / "best.pt", "--dataset", "tiny",
        "--split", "test", "--resynthesis", "8", "--as-job", job,
    )  # fmt: skip
    assert "predict-the-mean" in evaluated.output
    report = json.loads((run_dir / "evaluation-test.json").read_text())
    assert report["takes"] > 20
    assert report["parameter_mse"] < 0.7 * report["baseline_parameter_mse"]
    assert report["switch_accuracy"] > 0.5  # DCO1 WF has 4 positions
    assert report["resynthesis"]["resynthesised"] == 8
    assert (run_dir / "evaluation-test-resynthesis.csv").is_file()
    spec = load_spec(job)
    assert spec.source.kind == "list" and spec.takes == report["takes"]


def test_a_resumed_run_is_the_run_that_never_stopped(jxdaq, tmp_path):
    jxdaq(*train_args(tmp_path / "straight", 2))
    jxdaq(*train_args(tmp_path / "split", 1))
    again = jxdaq(*train_args(tmp_path / "split", 1), ok=False)
    assert "already holds a run; resume it" in again.output
    jxdaq(*train_args(tmp_path / "split", 2, "--resume"))

    def losses(run_dir):
        return [(r["epoch"], r["train_loss"], r["val_loss"]) for r in metrics(run_dir)]

    assert losses(tmp_path / "split") == losses(tmp_path / "straight")
    other = jxdaq(*train_args(tmp_path / "split", 3, "--resume", "--model", "lstm1"), ok=False)
    assert "holds a cnn1" in other.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--dataset", "nope", "--out", "x"], "dataset 'nope' does not exist"),
        (["train", "--dataset", "tiny", "--out", "x", "--features", "mfcc"], "--features 'mfcc'"),
        (
            ["train", "--dataset", "tiny", "--out", "x", "--model", "cnn9"],
            "--model 'cnn9': unknown model",
        ),
        (["train", "--dataset", "tiny", "--out", "x", "--targets", "VCF FRQ"], "'VCF FRQ'"),
        (
            ["train", "--dataset", "tiny", "--out", "x", "--val-split", "dev"],
            "split 'dev' of dataset 'tiny' does not exist",
        ),
        (["evaluate", "--checkpoint", "none.pt", "--dataset", "tiny"], "none.pt does not exist"),
    ],
)
def test_mistakes_get_one_line_naming_them(jxdaq, tmp_path, args, message):
    result = jxdaq(*args, ok=False)
    assert message in result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
