"""``jxdaq audibility``: a parameter the protocol cannot reveal is named before any capture."""

from __future__ import annotations

from typer.testing import CliRunner

from daq.features import LogMelFeatures
from daq.spec import JobSpec
from firmware_protocol.tone import INIT_TONE
from jxdaq.cli import app
from models.audibility import audibility, stepped

#: LFO DELAY matters only through an LFO depth, and every depth is held at 0 here.
JOB = """
name = "lfo delay without an lfo"
count = 10
seed = 3
vary = ["VCF FREQ", "LFO DELAY"]
[source]
kind = "uniform"
[fixed]
"DCO1 LFO" = 0
"DCO2 LFO" = 0
"VCF LFO" = 0
[capture]
hold_s = 1.0
notes = 69
[capture.tail]
max_s = 0.2
"""


def test_a_step_moves_one_parameter_by_one_step():
    tone = INIT_TONE.replace(vcf_freq=100, vcf_res=124)
    assert stepped(tone, tone_parameter("VCF FREQ"))["VCF FREQ"] == 108
    assert stepped(tone, tone_parameter("VCF RES"))["VCF RES"] == 116  # down at the top
    moved = stepped(tone, tone_parameter("DCO1 WF"))
    assert (
        moved.to_vector([tone_parameter("DCO1 WF")])[0]
        != tone.to_vector([tone_parameter("DCO1 WF")])[0]
    )
    assert [p.name for p in moved.differing(tone)] == ["DCO1 WF"]


def tone_parameter(name):
    from firmware_protocol.parameters import BY_NAME

    return BY_NAME[name]


def test_a_parameter_with_no_effect_is_named_and_one_with_an_effect_is_not(tmp_path):
    import tomllib

    job = JobSpec.model_validate(tomllib.loads(JOB))
    rows = {r.parameter: r for r in audibility(job, LogMelFeatures(duration_s=1.0), tones=4)}
    assert set(rows) == {"VCF FREQ", "LFO DELAY"}
    assert rows["VCF FREQ"].audible and rows["VCF FREQ"].median_db > 0.3
    assert not rows["LFO DELAY"].audible and rows["LFO DELAY"].median_db < 0.01

    path = tmp_path / "job.toml"
    path.write_text(JOB)
    result = CliRunner().invoke(app, ["audibility", str(path), "--tones", "4"])
    assert result.exit_code == 0, result.output
    assert "inaudible in this protocol (below 0.2 dB): LFO DELAY" in result.output
    refused = CliRunner().invoke(
        app, ["audibility", str(path), "--features", '{"kind": "logmel", "hop": 0}']
    )
    assert refused.exit_code == 1 and "--features logmel.hop" in refused.output
