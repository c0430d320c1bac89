"""The probe capture for the dynamic parameters: its melody, its statistics, and a tiny run
end to end on the accelerated emulated rig."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from daq.emulator.render import Note, render
from firmware_protocol.tone import INIT_TONE
from models.bench import BenchData
from models.probe import (
    NOTE_S,
    PROBE_FEATURES,
    PROBE_NOTES,
    STEP_S,
    note_frames,
    probe_job,
    probe_statistics,
    run_probe,
)
from models.targets import TargetSpec
from models.trees import pooled_statistics


def test_the_probe_is_a_job_spec_melody_of_every_parameter():
    job = probe_job(40, seed=3)
    assert (job.count, job.seed, job.vary) == (40, 3, None)  # all 44 parameters vary
    played = [(n.key, n.velocity, n.start_s, round(n.duration_s, 9)) for n in job.capture.notes]
    assert played == [(k, v, i * STEP_S, NOTE_S) for i, (k, v) in enumerate(PROBE_NOTES)]
    keys = {k for k, _ in PROBE_NOTES}
    velocities = {v for _, v in PROBE_NOTES}
    assert len(keys) >= 3 and len(velocities) >= 2  # key follow and velocity both probed


def test_note_frames_cut_the_features_into_one_stretch_per_note():
    spans = note_frames()
    assert spans[0].start == 0 and spans[-1].stop == PROBE_FEATURES.shape[0]
    assert all(a.stop == b.start for a, b in itertools.pairwise(spans))
    seconds = [(s.stop - s.start) * PROBE_FEATURES.hop / PROBE_FEATURES.sample_rate for s in spans]
    assert all(abs(s - STEP_S) < 0.05 for s in seconds[:-1])


def test_later_notes_are_read_as_differences_from_the_first():
    rng = np.random.default_rng(0)
    frames, bands = PROBE_FEATURES.shape
    first = note_frames()[0]
    one = rng.normal(size=(3, first.stop, bands)).astype(np.float32)
    same = np.concatenate([one] * (frames // first.stop + 1), axis=1)[:, :frames]
    stats = probe_statistics(same)
    width = pooled_statistics(one).shape[1]
    assert stats.shape == (3, width * len(PROBE_NOTES))
    np.testing.assert_allclose(stats[:, :width], pooled_statistics(one), rtol=1e-6)
    np.testing.assert_allclose(stats[:, width : 3 * width], 0.0, atol=1e-5)  # notes 2, 3 alike
    assert probe_statistics(same, notes=1).shape == (3, width)


@pytest.mark.parametrize("parameter", ["vca_dyna", "vcf_key"])
def test_the_emulator_hides_them_from_a_loud_middle_c_and_shows_them_to_the_probe(parameter):
    """Key follow is neutral at middle C and DYNA at full velocity: the probe's first note
    alone cannot tell the settings apart; the whole probe can."""
    low, high = (INIT_TONE.replace(**{p: v}) for p, v in ((parameter, 0), (parameter, 127)))
    melody = [Note(k, v, i * STEP_S, NOTE_S) for i, (k, v) in enumerate(PROBE_NOTES)]
    first = render([low, high], melody[:1], NOTE_S, 0.2)
    whole = render([low, high], melody, len(melody) * STEP_S, 0.2)
    assert np.abs(first[0] - first[1]).max() < 1e-6
    assert np.abs(whole[0] - whole[1]).max() > 1e-3


def test_a_tiny_probe_run_scores_its_targets_and_reuses_its_capture(tmp_path):
    data = BenchData.open(tmp_path)
    said: list[str] = []
    try:
        result = run_probe(
            data,
            30,
            budget_s=2,
            max_iter=5,
            targets=TargetSpec.of(["VCA DYNA", "VCF KEY", "VCF FREQ"]),
            cache_root=str(tmp_path / "f"),
            log=said.append,
        )
        assert data.dataset("probe-30-s0", probe_job(30, 0), said.append) == "probe-30-s0"
    finally:
        data.close()
    rows = result.rows()
    assert [(r["parameter"], r["dynamic"]) for r in rows] == [
        ("VCA DYNA", True), ("VCF KEY", True), ("VCF FREQ", False),
    ]  # fmt: skip
    assert all(np.isfinite(r["probe_mse"]) and r["mean_mse"] >= 0 for r in rows)
    assert sum(result.takes.values()) >= 25
    assert any(s.startswith("captured") for s in said) and "reusing dataset 'probe-30-s0'" in said
