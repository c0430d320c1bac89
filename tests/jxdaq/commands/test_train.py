"""``jxdaq train`` -> ``jxdaq evaluate`` on a captured catalog: it learns, resumes, reports."""

from __future__ import annotations

import csv
import json
import re

import pytest
from typer.testing import CliRunner

from daq.settings import get_settings
from daq.spec import load_spec
from db.engine import open_catalog
from jxdaq.cli import app

TARGETS = "VCF FREQ,VCA LEVEL,DCO1 WF"  # what the tiny dataset varies


@pytest.fixture(scope="module")
def jxdaq(captured_dataset, tmp_path_factory):
    """Run ``jxdaq`` against the captured catalog; one feature cache for the module's tests."""
    var_dir = tmp_path_factory.mktemp("var")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JXDAQ_CATALOG_URL", captured_dataset.catalog_url)
        env.setenv("JXDAQ_STORE_URL", str(captured_dataset.store_root))
        env.setenv("JXDAQ_VAR_DIR", str(var_dir))
        get_settings.cache_clear()
        runner = CliRunner()

        def run(*args: str, ok: bool = True):
            result = runner.invoke(app, [str(a) for a in args])
            assert "Traceback" not in result.output
            assert (result.exit_code == 0) == ok, result.output
            return result

        run.var_dir = var_dir
        yield run
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def trained(jxdaq, tmp_path_factory):
    """A cnn1 trained for 6 epochs on the tiny dataset's three parameters: its run directory."""
    run_dir = tmp_path_factory.mktemp("run")
    result = jxdaq(*train_args(run_dir, 6))
    assert "cnn1" in result.output and "best epoch" in result.output
    return run_dir


def train_args(out, epochs: int, *extra: str) -> list[str]:
    return [
        "train", "--dataset", "tiny", "--model", "cnn1", "--targets", TARGETS,
        "--epochs", str(epochs), "--batch-size", "16", "--learning-rate", "3e-3",
        "--seed", "4", "--device", "cpu", "--out", str(out), *extra,
    ]  # fmt: skip


def metrics(run_dir) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_trains_and_beats_predicting_the_mean_on_held_out_takes(jxdaq, trained, tmp_path):
    for name in ("best.pt", "last.pt", "metrics.csv", "curves.png"):
        assert (trained / name).is_file(), name
    assert len(metrics(trained)) == 6
    assert (jxdaq.var_dir / "features").is_dir()  # the cache under JXDAQ_VAR_DIR

    evaluated = jxdaq(
        "evaluate", "--checkpoint", trained / "best.pt", "--dataset", "tiny",
        "--split", "test", "--resynthesis", "8", "--report", tmp_path,
    )  # fmt: skip
    assert "predicting the mean" in evaluated.output and "always the mode" in evaluated.output
    report = json.loads((tmp_path / "evaluation-test.json").read_text())
    assert report["takes"] > 20
    assert report["test_mse"] < 0.7 * report["mean_mse"]
    assert report["switch_accuracy"] > report["mode_accuracy"]
    assert report["resynthesis"]["resynthesised"] == 8
    assert report["mean_tone_resynthesis"]["resynthesised"] == 8
    assert (tmp_path / "evaluation-test-resynthesis.csv").is_file()


def test_predictions_go_to_a_rig_and_are_compared_once_captured(jxdaq, trained, tmp_path):
    job = tmp_path / "resynthesis.toml"
    jxdaq(
        "evaluate", "--checkpoint", trained / "best.pt", "--dataset", "tiny",
        "--split", "test", "--resynthesis", "0", "--report", tmp_path, "--as-job", job,
    )  # fmt: skip
    takes = json.loads((tmp_path / "evaluation-test.json").read_text())["takes"]
    spec = load_spec(job)
    assert spec.source.kind == "list" and spec.count == takes
    captured = jxdaq("job", "run", job)  # on the emulated rig, into the same catalog
    job_id = re.search(r"^job (\d+):", captured.output, re.MULTILINE).group(1)
    compared = jxdaq(
        "evaluate-rig", "--job", job_id, "--dataset", "tiny", "--split", "test",
        "--report", tmp_path,
    )  # fmt: skip
    assert f"of {takes} takes captured" in compared.output
    with open(tmp_path / f"rig-resynthesis-test-job{job_id}.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and {"take_id", "spectral_convergence", "mfcc_distance"} <= set(rows[0])
    wrong = jxdaq(
        "evaluate-rig", "--job", job_id, "--dataset", "tiny", "--split", "train", ok=False
    )
    assert "not this split's resynthesis job" in wrong.output


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


def test_the_validation_split_may_be_called_val(jxdaq, captured_dataset, tmp_path):
    catalog = open_catalog(captured_dataset.catalog_url)
    frozen = catalog.get_dataset("tiny")
    catalog.freeze_dataset("tiny-val", frozen.filter, {"train": 0.6, "val": 0.2, "test": 0.2})
    catalog.close()
    result = jxdaq(*train_args(tmp_path, 1), "--dataset", "tiny-val")
    assert re.search(r"\d+ train / \d+ val takes", result.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--dataset", "nope", "--out", "OUT"], "dataset 'nope' does not exist"),
        (["train", "--dataset", "tiny", "--out", "OUT", "--features", "mfcc"], "--features 'mfcc'"),
        (
            ["train", "--dataset", "tiny", "--out", "OUT", "--model", "cnn9"],
            "--model 'cnn9': unknown model",
        ),
        (["train", "--dataset", "tiny", "--out", "OUT", "--targets", "VCF FRQ"], "'VCF FRQ'"),
        (
            ["train", "--dataset", "tiny", "--out", "OUT", "--val-split", "dev"],
            "split 'dev' of dataset 'tiny' does not exist",
        ),
        (["evaluate", "--checkpoint", "none.pt", "--dataset", "tiny"], "none.pt does not exist"),
    ],
)
def test_mistakes_get_one_line_naming_them(jxdaq, tmp_path, args, message):
    result = jxdaq(*(str(tmp_path / "x") if a == "OUT" else a for a in args), ok=False)
    assert message in result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
