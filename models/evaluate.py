"""Judging a trained model on a split: parameter error, and how its tones sound.

Two kinds of scores:

* parameters: normalised MSE per parameter and switch accuracy (:mod:`models.metrics`), next
  to a predict-the-mean baseline fitted on the training split (the mean of each continuous
  parameter, the most frequent position of each switch): a model that does not beat it has
  learnt nothing from the sound;
* resynthesis: the predicted tones are rendered by the emulator's batch renderer playing the
  take's own notes (same hold, same release window, same emulator seed, so only the tone
  differs) and compared with the take's audio from its note-on over the hold plus the
  release tail (``capture.hold_s + capture.tail.max_s``; the take is zero-padded where its
  recording stopped at silence) by spectral convergence, log-spectral distance and MFCC
  distance.

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

from daq.spec import JobSpec
from daq.spec_toml import dump_spec
from firmware_protocol.tone import Tone
from models.data import SplitDataset, TakeRecord, TakeSource
from models.metrics import (
    log_spectral_distance,
    mfcc_distance,
    parameter_mse,
    spectral_convergence,
)
from models.nets import ParameterNet
from models.targets import TargetSpec
from models.train import Evaluation, evaluate, progress_bars

#: Tones rendered per call of the batch renderer (bounds memory: 64 x 6 s x 4 B = 68 MB).
RENDER_CHUNK = 64


def mean_prediction(train_targets: np.ndarray, spec: TargetSpec) -> np.ndarray:
    """The predict-the-mean baseline: continuous means, each switch's most frequent position."""
    vector = np.asarray(train_targets, dtype=np.float64).mean(axis=0)
    for i in spec.switch_index:
        positions = np.round(train_targets[:, i]).astype(int)
        vector[i] = np.bincount(positions, minlength=spec.parameters[i].ways).argmax()
    return vector.astype(np.float32)


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
    """A model's scores on one split of a dataset."""

    dataset: str
    split: str
    evaluation: Evaluation
    baseline_mse: np.ndarray
    tones: list[Tone]
    resynthesis: Resynthesis | None = None

    def summary(self) -> dict[str, object]:
        """Everything as plain JSON values."""
        scores = self.evaluation.summary()
        out: dict[str, object] = {
            "dataset": self.dataset,
            "split": self.split,
            "takes": len(self.tones),
            "loss": scores["loss"],
            "parameter_mse": scores["parameter_mse"],
            "baseline_parameter_mse": float(self.baseline_mse.mean()),
            "switch_accuracy": _json_number(scores["switch_accuracy"]),
            "per_parameter": self.parameter_rows(),
        }
        if self.resynthesis is not None:
            out["resynthesis"] = self.resynthesis.summary()
        return out

    def parameter_rows(self) -> list[dict[str, object]]:
        spec = self.evaluation.spec
        accuracy = dict(zip(spec.switch_index, self.evaluation.switch_accuracy, strict=True))
        return [
            {
                "parameter": name,
                "kind": "switch" if spec.is_switch[i] else "continuous",
                "mse": float(self.evaluation.parameter_mse[i]),
                "baseline_mse": float(self.baseline_mse[i]),
                "accuracy": float(accuracy[i]) if i in accuracy else None,
            }
            for i, name in enumerate(spec.names)
        ]


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else value


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
    """Scores of ``model`` on ``data``; ``train`` fits the baseline; the first ``resynthesis``
    takes (in take-id order) are resynthesised (0: none)."""
    if data.spec != model.spec or train.spec != model.spec:
        raise ValueError("the datasets' targets must be the model's")
    evaluation = evaluate(model, data, batch_size=batch_size, device=device)
    spec = model.spec
    baseline = np.tile(mean_prediction(train.targets, spec), (len(data), 1))
    tones = predicted_tones(evaluation.predictions, data.records, spec, base)
    report = Report(
        data.dataset.source.dataset,
        data.name,
        evaluation,
        parameter_mse(baseline, evaluation.targets, spec),
        tones,
    )
    if resynthesis > 0:
        n = min(resynthesis, len(data))
        source = data.dataset.source
        report.resynthesis = resynthesise(source, data.records[:n], tones[:n], progress=progress)
    return report


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
