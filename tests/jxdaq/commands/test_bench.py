"""`jxdaq bench` options: an unknown model, bad features or a missing bank folder are one
line each, without a traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from jxdaq.cli import app


def test_bad_options_are_one_line_each(tmp_path):
    result = CliRunner().invoke(app, ["bench", "--models", "resnet", "--out", tmp_path])
    assert result.exit_code == 1 and "unknown resnet" in result.output
    result = CliRunner().invoke(
        app, ["bench", "--features", '{"kind": "auditory", "frame_ms": 0.001}', "--out", tmp_path]
    )
    assert (
        result.exit_code == 1 and "frame_ms" in result.output and "Traceback" not in result.output
    )
    result = CliRunner().invoke(app, ["bench", "--real-banks", tmp_path / "no", "--out", tmp_path])
    assert result.exit_code == 1 and "not a directory" in result.output
