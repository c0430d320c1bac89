"""``jxdaq bench`` run tiny, end to end: capture on the emulated rig, train, score, reuse."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from firmware_protocol.sysex import jx8p_bank
from firmware_protocol.tone import INIT_TONE
from jxdaq.cli import app
from models.methods import RECOMMENDED

ROW = {
    "test_mse", "mean_mse", "switch_accuracy", "mode_accuracy", "real_sc_median",
    "mean_tone_real_sc_median", "train_examples", "examples_per_s", "wall_s", "hardware",
}  # fmt: skip


@pytest.fixture
def banks(tmp_path):
    """A bank of three tones, and a file a real bank might be: it must not stop the bench."""
    directory = tmp_path / "banks"
    directory.mkdir()
    tones = [
        INIT_TONE.replace(vcf_freq=30),
        INIT_TONE.replace(vcf_freq=90, vcf_res=60),
        INIT_TONE.replace(dco1_wf=0),
    ]
    (directory / "three.syx").write_bytes(jx8p_bank(tones))
    return directory


def run(*args) -> str:
    result = CliRunner().invoke(app, ["bench", *map(str, args)])
    assert "Traceback" not in result.output and result.exit_code == 0, result.output
    return result.output


def test_a_tiny_bench_writes_one_table_and_reuses_its_capture(tmp_path, banks):
    out, data = tmp_path / "out", tmp_path / "data"
    common = ["--takes", 40, "--budget-s", 3, "--resynthesis", 3, "--real-banks", banks]
    output = run(*common, "--models", "trees,lstm1,recommended", "--data", data, "--out", out)
    assert "captured 40 takes" in output or "captured 39 takes" in output
    results = json.loads((out / "results.json").read_text())
    assert results["recommended"] == RECOMMENDED
    assert set(results["models"]) == {"trees", "lstm1", RECOMMENDED}
    for name, row in results["models"].items():
        assert set(row) >= ROW, name
        assert row["train_examples"] == results["dataset"]["splits"]["train"]
        assert row["test_mse"] > 0 and 0 < row["mean_mse"] < 0.25
        assert 0 <= row["switch_accuracy"] <= 1 and 0 <= row["mode_accuracy"] <= 1
        assert row["real_tones"] == 3 and row["real_sc_median"] > 0
        assert row["examples_per_s"] > 0 and row["hardware"].startswith(("CPU", "GPU"))
    assert (out / "lstm1" / "evaluation-test-parameters.csv").is_file()
    assert "| trees |" in output

    again = run(*common, "--models", "trees", "--data", data, "--out", out)
    assert "reusing dataset 'thesis-40-s0'" in again and "captured" not in again
