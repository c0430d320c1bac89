"""Evaluation: parameter scores on known predictions, resynthesis on a real captured catalog,
and resynthesis jobs that a rig captures."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from daq.features import StftFeatures
from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.spec import load_spec
from daq.worker import Worker
from db.engine import open_catalog
from db.records import TakeFilter
from db.store import AudioStore
from models.data import CatalogSource, FrozenDataset, take_records
from models.evaluate import (
    Outputs,
    Report,
    Scores,
    compare_captured,
    mean_vector,
    mode_positions,
    predicted_tones,
    resynthesis_job,
    resynthesise,
    write_report,
    write_resynthesis_job,
)
from models.targets import TargetSpec

SPEC = TargetSpec.of(["VCF FREQ", "DCO1 WF"])  # DCO1 WF: 4 positions, scaled by 1/3


@pytest.fixture
def source(captured_dataset):
    catalog = open_catalog(captured_dataset.catalog_url)
    yield CatalogSource(catalog, AudioStore(captured_dataset.store_root), "tiny")
    catalog.close()


@pytest.fixture
def test_split(source, tmp_path):
    data = FrozenDataset.open(source, StftFeatures(bins=4), tmp_path)
    return data.split("test", SPEC)


def known_report(tones=()) -> Report:
    targets = np.array([[0.2, 0], [0.4, 1], [0.6, 1]], np.float32)
    expected = np.array([[0.3, 0.5], [0.4, 2.0], [0.5, 1.0]], np.float32)
    predictions = np.array([[0.3, 0], [0.4, 3], [0.5, 1]], np.float32)
    train_targets = np.array([[0.1, 2], [0.3, 2], [0.5, 0]], np.float32)
    assert mean_vector(train_targets).tolist() == pytest.approx([0.3, 4 / 3])
    assert mode_positions(train_targets, SPEC).tolist() == [2]
    outputs = Outputs(0.5, expected, predictions, targets)
    return Report("tiny", "test", Scores.of(outputs, train_targets, SPEC), list(tones), 0.5)


def test_parameter_scores_of_known_predictions(tmp_path):
    report = known_report()
    rows = {r["parameter"]: r for r in report.parameter_rows()}
    assert rows["VCF FREQ"]["mse"] == pytest.approx(0.02 / 3)
    # The thesis measure reads the expected positions: 0.5, 2 and 1 of 3 against 0, 1, 1.
    assert rows["DCO1 WF"]["mse"] == pytest.approx((0.25 + 1 + 0) / 9 / 3)
    assert rows["VCF FREQ"]["mean_mse"] == pytest.approx((0.01 + 0.01 + 0.09) / 3)
    # The mean's position is 4/3 (between positions): the best constant under MSE.
    wf_mean = ((4 / 3) ** 2 + (1 / 3) ** 2 * 2) / 9 / 3
    assert rows["DCO1 WF"]["mean_mse"] == pytest.approx(wf_mean)
    assert rows["DCO1 WF"]["accuracy"] == pytest.approx(2 / 3)
    assert rows["DCO1 WF"]["mode_accuracy"] == 0  # position 2 is never right here
    assert rows["VCF FREQ"]["accuracy"] is None and rows["VCF FREQ"]["kind"] == "continuous"

    paths = write_report(report, tmp_path)
    assert [p.name for p in paths] == ["evaluation-test.json", "evaluation-test-parameters.csv"]
    summary = json.loads(paths[0].read_text())
    assert summary["test_mse"] == pytest.approx((0.02 / 3 + 1.25 / 27) / 2)
    assert summary["mean_mse"] == pytest.approx((0.11 / 3 + wf_mean) / 2)
    assert summary["switch_accuracy"] == pytest.approx(2 / 3)
    assert summary["mode_accuracy"] == 0
    with open(paths[1]) as f:
        table = list(csv.DictReader(f))
    assert [r["parameter"] for r in table] == ["VCF FREQ", "DCO1 WF"]
    assert float(table[1]["mse"]) == pytest.approx(1.25 / 27)


def test_no_constant_guess_beats_its_own_baseline():
    """Whatever constant a model outputs, it scores no better than the mean (MSE) and the
    mode (accuracy): the report cannot reward a network that learnt a constant."""
    rng = np.random.default_rng(0)
    train_targets = np.stack([rng.uniform(size=400), rng.integers(0, 4, 400)], axis=1)
    targets = np.stack([rng.uniform(size=300), rng.integers(0, 4, 300)], axis=1)
    for value in (0.0, 0.3, 0.5, 0.9):
        for position in (0.0, 1.0, 1.5, 2.0, 3.0):
            constant = np.tile([value, position], (300, 1)).astype(np.float32)
            scores = Scores.of(Outputs(0.0, constant, constant, targets), train_targets, SPEC)
            assert (scores.parameter_mse >= scores.mean_mse - 2e-3).all(), (value, position)
            assert scores.switch_accuracy[0] <= scores.mode_accuracy[0] + 0.05


def test_true_tones_resynthesise_exactly_and_wrong_ones_do_not(source, test_split):
    records = test_split.records[:6]
    tones = predicted_tones(test_split.targets[:6], records, SPEC)
    for tone, record in zip(tones, records, strict=True):
        assert tone.values() == record.tone.canonical().values()
    exact = resynthesise(source, records, tones)
    assert exact.take_ids == [r.take_id for r in records]
    assert exact.spectral_convergence.max() < 1e-3  # FLAC's 24-bit rounding only
    assert exact.mfcc_distance.max() < 0.5

    wrong = test_split.targets[:6].copy()
    wrong[:, 0] = 1.0 - wrong[:, 0]  # filter cutoff mirrored
    far = resynthesise(source, records, predicted_tones(wrong, records, SPEC))
    assert far.spectral_convergence.min() > 10 * exact.spectral_convergence.max()
    assert far.log_spectral_distance.mean() > exact.log_spectral_distance.mean() + 3
    assert far.mfcc_distance.mean() > 4 * exact.mfcc_distance.mean()

    init_based = predicted_tones(test_split.targets[:1], records[:1], SPEC, base="init")
    assert init_based[0]["VCA LEVEL"] == 127  # INIT's, not the take's
    assert records[0].tone["VCA LEVEL"] != 127


def audio_in(store: AudioStore):
    """Reads a take's audio from its note-on, from ``store`` (the rig's, not the dataset's)."""

    def read(record):
        audio, _ = store.read(record.audio_key)
        return audio[record.note_on_frame :, 0]

    return read


def test_a_resynthesis_job_captures_the_predicted_tones(source, test_split, tmp_path):
    records = test_split.records[:5]
    wrong = test_split.targets[:5].copy()
    wrong[:, 1] = (wrong[:, 1] + 1) % 4  # another waveform
    tones = predicted_tones(wrong, records, SPEC)
    report = known_report(tones)
    path = write_resynthesis_job(report, records, tmp_path / "resynthesis.toml")
    text = path.read_text()
    assert " ".join(str(r.take_id) for r in records) in text  # sample i <-> take id
    spec = load_spec(path)
    assert spec.source.kind == "list" and spec.count == 5
    assert spec.capture == records[0].capture

    catalog, store = open_catalog(f"sqlite:///{tmp_path / 'rig.db'}"), AudioStore(tmp_path / "a")
    job = submit_job(catalog, spec)
    Worker(catalog, store, EMULATED).run(job_id=job.id)
    takes = catalog.query_takes(TakeFilter(job_id=job.id)).items
    assert len(takes) == 5
    for take in takes:
        assert take.tone == tones[take.sample_index].data

    # Compared once captured: the right waveforms sound closer than the wrong ones.
    def captured_scores(job_tones):
        job = submit_job(catalog, resynthesis_job(job_tones, records, "rig"))
        Worker(catalog, store, EMULATED).run(job_id=job.id)
        captured = take_records(catalog, TakeFilter(job_id=job.id))
        return compare_captured(source, records, captured, audio_in(store))

    wrong_scores = captured_scores(tones)
    right_scores = captured_scores([r.tone for r in records])
    assert wrong_scores.take_ids == right_scores.take_ids == [r.take_id for r in records]
    # The same tone sounds the same, sample for sample, unless its oscillator plays noise
    # (whose samples follow the emulator's seed, and the job's seeds are not the takes').
    noise = [r.tone.labels()["DCO1 WF"] == "noise" for r in records]
    exact = right_scores.spectral_convergence < 1e-3
    assert exact.tolist() == [not n for n in noise] and sum(exact) >= 2
    assert right_scores.mfcc_distance.mean() < 0.5 * wrong_scores.mfcc_distance.mean()
    catalog.close()

    shorter = records[1].capture.model_copy(update={"hold_s": 1.0})
    mixed = [records[0], dataclasses.replace(records[1], capture=shorter)]
    with pytest.raises(ValueError, match="2 different setups"):
        write_resynthesis_job(known_report(tones[:2]), mixed, tmp_path / "mixed.toml")
    assert not (tmp_path / "mixed.toml").exists()
