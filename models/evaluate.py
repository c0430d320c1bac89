"""Judging a trained model on a split: parameter error, and how its tones sound.

Two kinds of scores:

* parameters, each beside the constant guess that does best on that very measure, fitted on
  the training split, so that no score rewards a constant guess: the thesis's number (every
  output on [0, 1], squared error, switches at their expected position) and the same per
  parameter against predicting the training mean (the best constant under MSE); switch
  accuracy (decided positions) against always guessing the most frequent position (the best
  constant under accuracy). A model that does not beat them has learnt nothing from the sound;
* resynthesis: the predicted tones are rendered by the emulator's batch renderer playing the
  take's own notes (same hold, same release window, same emulator seed, so only the tone
  differs) and compared with the take's audio from its note-on over the hold plus the
  release tail (``capture.hold_s + capture.tail.max_s``; the take is zero-padded where its
  recording stopped at silence) by spectral convergence, log-spectral distance and MFCC
  distance, beside the same scores of the *mean tone* (continuous parameters at the training
  mean, switches at their mode) played the same way.

Parameters the model does not predict come from the take's own tone (``base="take"``), so a
resynthesis measures only what the model predicts; ``base="init"`` puts them at the INIT tone.

The same predictions become a resynthesis job (:func:`resynthesis_job`): an explicit-list
source with every tone written out in full, and the takes' capture setup, which a rig (real
or emulated) captures like any other job.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from daq.spec import JobSpec
from daq.spec_toml import dump_spec
from firmware_protocol.tone import Tone
from models.data import SplitDataset, TakeRecord, TakeSource
from models.metrics import (
    log_spectral_distance,
    mfcc_distance,
    parameter_mse,
    spectral_convergence,
    switch_accuracy,
)
from models.nets import ParameterNet
from models.progress import progress_bars
from models.targets import TargetSpec

#: Tones rendered per call of the batch renderer (bounds memory: 64 x 6 s x 4 B = 68 MB).
RENDER_CHUNK = 64


# -- running a model over a split -----------------------------------------------------------
@dataclass
class Outputs:
    """What a model says about every example of a split, as target vectors [n, params].

    ``expected`` holds each switch at its expected (fractional) position, the reading the
    thesis's MSE judges; ``predictions`` holds decided positions (tones are made of these).
    :class:`Scores` judges them; methods without a network produce the same arrays.
    """

    loss: float
    expected: np.ndarray
    predictions: np.ndarray
    targets: np.ndarray

    def thesis_mse(self, spec: TargetSpec) -> float:
        """The thesis's measure: every output on [0, 1], squared error, averaged."""
        return float(parameter_mse(self.expected, self.targets, spec).mean())

    def mean_switch_accuracy(self, spec: TargetSpec) -> float:
        """Decided switch positions right, averaged over switches (NaN without switches)."""
        accuracy = switch_accuracy(self.predictions, self.targets, spec)
        return float(accuracy.mean()) if accuracy.size else math.nan


@torch.no_grad()
def run_split(
    model: ParameterNet,
    data: Dataset | DataLoader,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> Outputs:
    """The model's loss and outputs over a whole split (in eval mode)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size)
    model.eval()
    total, count = 0.0, 0
    expected, predictions, targets = [], [], []
    for features, target in loader:
        features, target = to_device(features, device), to_device(target, device)
        output = model(features)
        total += float(model.loss(output, target)) * len(target)
        count += len(target)
        expected.append(model.expected(output).cpu().numpy())
        predictions.append(model.predict(output).cpu().numpy())
        targets.append(target.cpu().numpy())
    if count == 0:
        raise ValueError("cannot evaluate on an empty split")
    return Outputs(
        total / count,
        np.concatenate(expected),
        np.concatenate(predictions),
        np.concatenate(targets),
    )


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch as the networks take it: float32 on ``device`` (training's batches too)."""
    return tensor.to(device, dtype=torch.float32, non_blocking=True)


# -- parameter scores ----------------------------------------------------------------------
def mean_vector(train_targets: np.ndarray) -> np.ndarray:
    """The best constant guess under MSE: the training mean of every entry (switch positions
    averaged too, so a switch may sit between positions)."""
    return np.asarray(train_targets, dtype=np.float64).mean(axis=0).astype(np.float32)


def mode_positions(train_targets: np.ndarray, spec: TargetSpec) -> np.ndarray:
    """The best constant guess under accuracy: each switch's most frequent training position."""
    return np.array(
        [
            np.bincount(np.round(train_targets[:, i]).astype(int), minlength=p.ways).argmax()
            for i, p in ((i, spec.parameters[i]) for i in spec.switch_index)
        ],
        dtype=np.float32,
    )


def mean_tone_vector(train_targets: np.ndarray, spec: TargetSpec) -> np.ndarray:
    """A playable mean tone: continuous parameters at the mean, switches at their mode."""
    vector = mean_vector(train_targets)
    vector[list(spec.switch_index)] = mode_positions(train_targets, spec)
    return vector


@dataclass
class Scores:
    """Parameter scores of one split, each beside its best constant guess."""

    spec: TargetSpec
    parameter_mse: np.ndarray  #: [params] thesis measure (expected positions)
    mean_mse: np.ndarray  #: [params] the same measure of predicting the training mean
    switch_accuracy: np.ndarray  #: [switches] decided positions
    mode_accuracy: np.ndarray  #: [switches] always guessing the training mode

    @classmethod
    def of(cls, outputs: Outputs, train_targets: np.ndarray, spec: TargetSpec) -> Scores:
        targets = outputs.targets
        mean = np.tile(mean_vector(train_targets), (len(targets), 1))
        modes = np.tile(mean_tone_vector(train_targets, spec), (len(targets), 1))
        return cls(
            spec,
            parameter_mse(outputs.expected, targets, spec),
            parameter_mse(mean, targets, spec),
            switch_accuracy(outputs.predictions, targets, spec),
            switch_accuracy(modes, targets, spec),
        )

    @property
    def thesis_mse(self) -> float:
        return float(self.parameter_mse.mean())

    def summary(self) -> dict[str, float | None]:
        return {
            "test_mse": self.thesis_mse,
            "mean_mse": float(self.mean_mse.mean()),
            "mse_ratio": self.thesis_mse / float(self.mean_mse.mean()),
            "switch_accuracy": _mean_or_none(self.switch_accuracy),
            "mode_accuracy": _mean_or_none(self.mode_accuracy),
        }

    def parameter_rows(self) -> list[dict[str, object]]:
        spec = self.spec
        accuracy = dict(zip(spec.switch_index, self.switch_accuracy, strict=True))
        modes = dict(zip(spec.switch_index, self.mode_accuracy, strict=True))
        return [
            {
                "parameter": name,
                "kind": "switch" if spec.is_switch[i] else "continuous",
                "mse": float(self.parameter_mse[i]),
                "mean_mse": float(self.mean_mse[i]),
                "mse_ratio": float(self.parameter_mse[i] / max(self.mean_mse[i], 1e-12)),
                "accuracy": float(accuracy[i]) if i in accuracy else None,
                "mode_accuracy": float(modes[i]) if i in modes else None,
            }
            for i, name in enumerate(spec.names)
        ]


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def predicted_tones(
    predictions: np.ndarray,
    records: Sequence[TakeRecord],
    spec: TargetSpec,
    base: Literal["take", "init"] = "take",
) -> list[Tone]:
    """The tone each predicted target vector stands for (see the module doc for ``base``)."""
    if len(predictions) != len(records):
        raise ValueError(f"{len(predictions)} predictions for {len(records)} takes")
    return [
        spec.decode(vector, base=record.tone if base == "take" else None)
        for vector, record in zip(predictions, records, strict=True)
    ]


def window_frames(record: TakeRecord) -> int:
    """Length of the compared audio: the hold and the whole release tail."""
    capture = record.capture
    return round((capture.hold_s + capture.tail.max_s) * record.sample_rate)


def render_like(tones: Sequence[Tone], records: Sequence[TakeRecord]) -> list[np.ndarray]:
    """Each tone played as its take was: the take's notes, durations, rate and emulator seed."""
    from daq.emulator.render import Note, render

    out: list[np.ndarray | None] = [None] * len(tones)
    groups: dict[tuple[str, int], list[int]] = {}
    for i, record in enumerate(records):
        groups.setdefault((record.capture.model_dump_json(), record.sample_rate), []).append(i)
    for indexes in groups.values():
        capture, rate = records[indexes[0]].capture, records[indexes[0]].sample_rate
        melody = [Note(n.key, n.velocity, n.start_s, n.duration_s) for n in capture.notes]
        for start in range(0, len(indexes), RENDER_CHUNK):
            chunk = indexes[start : start + RENDER_CHUNK]
            audio = render(
                [tones[i] for i in chunk],
                melody,
                capture.hold_s,
                capture.tail.max_s,
                rate,
                [records[i].render_seed for i in chunk],
            )
            for i, clip in zip(chunk, audio, strict=True):
                out[i] = clip
    return out  # type: ignore[return-value]


def fit_length(audio: np.ndarray, frames: int) -> np.ndarray:
    return audio[:frames] if len(audio) >= frames else np.pad(audio, (0, frames - len(audio)))


@dataclass
class Resynthesis:
    """Input-vs-resynthesis distances, one per take."""

    take_ids: list[int]
    spectral_convergence: np.ndarray
    log_spectral_distance: np.ndarray
    mfcc_distance: np.ndarray

    METRICS = ("spectral_convergence", "log_spectral_distance", "mfcc_distance")

    def summary(self) -> dict[str, float]:
        out: dict[str, float] = {"resynthesised": len(self.take_ids)}
        for name in self.METRICS:
            values = getattr(self, name)
            out[f"{name}_mean"] = float(values.mean())
            out[f"{name}_median"] = float(np.median(values))
        return out

    def rows(self) -> list[dict[str, float]]:
        columns = [getattr(self, name) for name in self.METRICS]
        return [
            {
                "take_id": take,
                **{n: float(c[i]) for n, c in zip(self.METRICS, columns, strict=True)},
            }
            for i, take in enumerate(self.take_ids)
        ]


def resynthesise(
    source: TakeSource,
    records: Sequence[TakeRecord],
    tones: Sequence[Tone],
    *,
    progress: bool = False,
) -> Resynthesis:
    """Render ``tones`` as their takes were played and compare them with the takes' audio."""
    if len(tones) != len(records) or not records:
        raise ValueError(
            f"resynthesis needs one tone per take, got {len(tones)} for {len(records)}"
        )
    scores = np.empty((len(records), 3))
    with progress_bars(progress) as bars:
        task = bars.add_task("resynthesis", total=len(records))
        for start in range(0, len(records), RENDER_CHUNK):
            chunk = slice(start, start + RENDER_CHUNK)
            rendered = render_like(tones[chunk], records[chunk])
            for row, (record, estimate) in enumerate(zip(records[chunk], rendered, strict=True)):
                reference = fit_length(source.audio(record), len(estimate))
                scores[start + row] = _distances(reference, estimate, record.sample_rate)
                bars.advance(task)
    return Resynthesis([r.take_id for r in records], *scores.T)


def _distances(reference: np.ndarray, estimate: np.ndarray, rate: int) -> tuple[float, ...]:
    return (
        spectral_convergence(reference, estimate),
        log_spectral_distance(reference, estimate),
        mfcc_distance(reference, estimate, rate),
    )


def compare_captured(
    source: TakeSource,
    originals: Sequence[TakeRecord],
    captured: Sequence[TakeRecord],
    captured_audio: Callable[[TakeRecord], np.ndarray],
) -> Resynthesis:
    """A rig's takes of a resynthesis job against the takes they resynthesise.

    Sample i of the job resynthesises ``originals[i]`` (as :func:`resynthesis_job` lays it
    out). Samples that failed QC (a predicted tone that is silent) have no take and are left
    out. Both sides are compared from their note-on over the original's window.
    """
    if not captured:
        raise ValueError("the resynthesis job has no captured takes yet")
    beyond = [r.sample_index for r in captured if r.sample_index >= len(originals)]
    if beyond:
        raise ValueError(
            f"sample {beyond[0]} of the job has no take to compare with: the split holds "
            f"{len(originals)} takes (is this the job written for this dataset and split?)"
        )
    ordered = sorted(captured, key=lambda r: r.sample_index)
    scores = np.empty((len(ordered), 3))
    for row, record in enumerate(ordered):
        original = originals[record.sample_index]
        if record.sample_rate != original.sample_rate:
            raise ValueError(
                f"take {record.take_id} is at {record.sample_rate} Hz, the take it resynthesises "
                f"({original.take_id}) at {original.sample_rate} Hz; capture at the same rate"
            )
        frames = window_frames(original)
        reference = fit_length(source.audio(original), frames)
        estimate = fit_length(captured_audio(record), frames)
        scores[row] = _distances(reference, estimate, original.sample_rate)
    return Resynthesis([originals[r.sample_index].take_id for r in ordered], *scores.T)


@dataclass
class Report:
    """A model's scores on one split of a dataset, and the mean tone's beside them."""

    dataset: str
    split: str
    scores: Scores
    tones: list[Tone]
    loss: float | None = None
    resynthesis: Resynthesis | None = None
    mean_resynthesis: Resynthesis | None = None

    def summary(self) -> dict[str, object]:
        """Everything as plain JSON values."""
        out: dict[str, object] = {
            "dataset": self.dataset,
            "split": self.split,
            "takes": len(self.tones),
            "loss": self.loss,
            **self.scores.summary(),
            "per_parameter": self.scores.parameter_rows(),
        }
        if self.resynthesis is not None:
            out["resynthesis"] = self.resynthesis.summary()
        if self.mean_resynthesis is not None:
            out["mean_tone_resynthesis"] = self.mean_resynthesis.summary()
        return out

    def parameter_rows(self) -> list[dict[str, object]]:
        return self.scores.parameter_rows()

    def lines(self) -> list[str]:
        """The headline scores, each beside its constant guess, as lines for a terminal."""
        s = self.scores.summary()
        out = [
            f"parameter MSE (thesis measure) {s['test_mse']:.4f}, predicting the mean "
            f"{s['mean_mse']:.4f} (ratio {s['mse_ratio']:.3f})"
        ]
        if s["switch_accuracy"] is not None:
            out.append(
                f"switch accuracy {s['switch_accuracy']:.3f}, always the mode "
                f"{s['mode_accuracy']:.3f}"
            )
        pairs = ((self.resynthesis, "model"), (self.mean_resynthesis, "mean tone"))
        for resynthesis, who in pairs:
            if resynthesis is not None:
                r = resynthesis.summary()
                out.append(
                    f"resynthesis of {r['resynthesised']:.0f} takes, {who}: spectral convergence "
                    f"median {r['spectral_convergence_median']:.3f}, log-spectral distance "
                    f"median {r['log_spectral_distance_median']:.2f} dB, MFCC distance median "
                    f"{r['mfcc_distance_median']:.2f}"
                )
        return out


def report_of(
    outputs: Outputs,
    data: SplitDataset,
    train_targets: np.ndarray,
    *,
    resynthesis: int = 100,
    base: Literal["take", "init"] = "take",
    progress: bool = False,
) -> Report:
    """Scores of any method's ``outputs`` on ``data``; the first ``resynthesis`` takes (in
    take-id order) are resynthesised, and so is the mean tone in their place (0: none)."""
    spec = data.spec
    tones = predicted_tones(outputs.predictions, data.records, spec, base)
    report = Report(
        data.dataset.source.dataset,
        data.name,
        Scores.of(outputs, train_targets, spec),
        tones,
        outputs.loss,
    )
    if resynthesis > 0:
        n = min(resynthesis, len(data))
        source, records = data.dataset.source, data.records[:n]
        report.resynthesis = resynthesise(source, records, tones[:n], progress=progress)
        mean = np.tile(mean_tone_vector(train_targets, spec), (n, 1))
        mean_tones = predicted_tones(mean, records, spec, base)
        report.mean_resynthesis = resynthesise(source, records, mean_tones, progress=progress)
    return report


def evaluate_split(
    model: ParameterNet,
    data: SplitDataset,
    train: SplitDataset,
    *,
    resynthesis: int = 100,
    base: Literal["take", "init"] = "take",
    batch_size: int = 256,
    device: str | None = None,
    progress: bool = False,
) -> Report:
    """Scores of ``model`` on ``data``; ``train`` fits the constant guesses (see
    :func:`report_of`)."""
    if data.spec != model.spec or train.spec != model.spec:
        raise ValueError("the datasets' targets must be the model's")
    outputs = run_split(model, data, batch_size=batch_size, device=device)
    return report_of(
        outputs, data, train.targets, resynthesis=resynthesis, base=base, progress=progress
    )


def write_report(report: Report, out_dir: str | Path) -> list[Path]:
    """``evaluation-<split>.json`` (everything), ``-parameters.csv`` and, with a resynthesis,
    ``-resynthesis.csv`` (one row per take). Returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"evaluation-{report.split}"
    paths = [out / f"{stem}.json"]
    _write(paths[0], json.dumps(report.summary(), indent=1))
    paths.append(write_rows(report.parameter_rows(), out / f"{stem}-parameters.csv"))
    if report.resynthesis is not None:
        paths.append(write_rows(report.resynthesis.rows(), out / f"{stem}-resynthesis.csv"))
    if report.mean_resynthesis is not None:
        rows = report.mean_resynthesis.rows()
        paths.append(write_rows(rows, out / f"{stem}-resynthesis-mean-tone.csv"))
    return paths


def write_rows(rows: Sequence[dict[str, object]], path: str | Path) -> Path:
    """Rows of one kind as a CSV file (written whole, then renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, _csv(rows))
    return path


def _csv(rows: Sequence[dict[str, object]]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def resynthesis_job(
    tones: Sequence[Tone], records: Sequence[TakeRecord], name: str, seed: int = 0
) -> JobSpec:
    """A job capturing ``tones`` (sample i = tone i) the way their takes were captured."""
    setups = {r.capture.model_dump_json() for r in records}
    if len(setups) != 1:
        raise ValueError(
            f"the takes were captured with {len(setups)} different setups; a resynthesis job "
            "has one (evaluate takes of one job, or of jobs with the same capture settings)"
        )
    return JobSpec.model_validate(
        {
            "name": name[:200],
            "source": {"kind": "list", "tones": [tone.values() for tone in tones]},
            "capture": records[0].capture.model_dump(mode="json"),
            "seed": seed,
        }
    )


def write_resynthesis_job(report: Report, records: Sequence[TakeRecord], path: str | Path) -> Path:
    """The report's predicted tones as a TOML job spec; a comment maps samples to take ids."""
    path = Path(path)
    spec = resynthesis_job(report.tones, records, f"resynthesis of {report.dataset}/{report.split}")
    ids = textwrap.fill(" ".join(str(r.take_id) for r in records), 90)
    comment = (
        f"Resynthesis of the {len(records)} takes of split {report.split!r} of dataset "
        f"{report.dataset!r} as a model predicted them.\nSubmit with: jxdaq job submit "
        f"{path.name}\nSample i resynthesises the i-th of these take ids:\n{ids}"
    )
    _write(path, dump_spec(spec, comment))
    return path
