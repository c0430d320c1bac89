"""``jxdaq bench``: every method on one table, from nothing to ``results.json``.

The data: N takes of the thesis's setup from the accelerated emulated rig, captured once into
a catalog of their own and frozen as train / validation / test. The setup is Vecoven's (see
``../shared/RESEARCH.md``): tones drawn from the preset prior with the thesis's 26 parameters
varying (the others at the INIT tone), one note, A4, held 4 s. A root directory holds one
catalog (``catalog.db``), one audio store and one feature cache for every size and seed; a
dataset ``thesis-<N>-s<seed>`` is captured the first time it is asked for and reused after,
so a learning curve over several sizes captures each size once.

Each method (:mod:`models.methods`) is trained within the budget, scored on the test split by
:mod:`models.evaluate` (each score beside its best constant guess), and its predictions for
the real tones of ``--real-banks`` are resynthesised beside the mean tone's.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from daq.emulator.render import Note, render
from daq.features import FeatureConfig
from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.spec import JobSpec
from daq.worker import Worker
from db.catalog import Catalog
from db.engine import open_catalog
from db.records import NotFound, TakeFilter
from db.store import AudioStore
from firmware_protocol.parameters import THESIS_SUBSET
from firmware_protocol.sysex import read_syx
from firmware_protocol.tone import INIT_TONE, Tone
from models.data import CatalogSource, FrozenDataset
from models.evaluate import Resynthesis, mean_tone_vector, report_of, write_report
from models.methods import RECOMMENDED, Trained, method, train_method
from models.metrics import log_spectral_distance, parameter_mse, spectral_convergence
from models.targets import TargetSpec

SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
#: The thesis's note (A4, 440 Hz) and hold.
THESIS_NOTE, THESIS_HOLD_S, THESIS_RATE = 69, 4.0, 44100


def thesis_job(takes: int, seed: int) -> JobSpec:
    """The thesis's capture setup as a job of ``takes`` samples."""
    return JobSpec.model_validate(
        {
            "name": f"thesis setup: prior, 26 parameters, A4 {THESIS_HOLD_S:g} s, {takes} takes",
            "source": {"kind": "prior"},
            "vary": list(THESIS_SUBSET),
            "count": takes,
            "seed": seed,
            "capture": {"hold_s": THESIS_HOLD_S, "notes": THESIS_NOTE},
        }
    )


def dataset_name(takes: int, seed: int) -> str:
    return f"thesis-{takes}-s{seed}"


@dataclass
class BenchData:
    """A catalog and store holding the benchmark's frozen datasets."""

    catalog: Catalog
    store: AudioStore

    @classmethod
    def open(cls, root: str | Path) -> BenchData:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        return cls(open_catalog(f"sqlite:///{root / 'catalog.db'}"), AudioStore(root / "audio"))

    def close(self) -> None:
        self.catalog.close()

    def thesis_dataset(self, takes: int, seed: int = 0, log: Callable[[str], None] = print) -> str:
        """The frozen dataset of ``takes`` thesis-setup takes, captured now if missing."""
        return self.dataset(dataset_name(takes, seed), thesis_job(takes, seed), log)

    def dataset(self, name: str, job: JobSpec, log: Callable[[str], None] = print) -> str:
        """Frozen dataset ``name`` of ``job``'s takes (split by :data:`SPLITS` with the job's
        seed), captured now on the accelerated emulated rig if missing."""
        if (job.count or 0) < 10:
            raise ValueError(f"--takes {job.count}: at least 10, so that every split holds takes")
        try:
            self.catalog.get_dataset(name)
            log(f"reusing dataset {name!r}")
            return name
        except NotFound:
            pass
        submitted = submit_job(self.catalog, job)
        start = time.perf_counter()
        Worker(self.catalog, self.store, EMULATED).run(job_id=submitted.id)
        seconds = time.perf_counter() - start
        done = self.catalog.get_job(submitted.id)
        log(
            f"captured {done.captured} takes ({done.failed} failed QC: silent tones) in "
            f"{seconds:.0f} s, {done.captured / seconds:.1f} takes/s"
        )
        self.catalog.freeze_dataset(name, TakeFilter(job_id=submitted.id), SPLITS, seed=job.seed)
        return name


# -- real tones ---------------------------------------------------------------------------------


@dataclass
class RealTones:
    """The tones of real banks played as the thesis played them: the thesis's 26 parameters
    from each tone, the others at the INIT tone (as its jobs' ``vary`` leaves them), A4 held
    4 s and the release tail, rendered by the emulator."""

    names: list[str]
    tones: list[Tone]
    audio: np.ndarray  #: [n, samples] from the note-on
    skipped: list[str]

    @classmethod
    def of(cls, paths: Sequence[Path], spec: TargetSpec) -> RealTones:
        names, tones, skipped = [], [], []
        for path in paths:
            for entry in read_syx(path).tones:
                where = f"{path.name}:{entry.position if entry.position is not None else '-'}"
                label = f"{where} {entry.name.strip()}"
                try:
                    vector = spec.encode(entry.item)
                    tones.append(spec.decode(vector, base=INIT_TONE))
                except (ValueError, KeyError) as error:  # e.g. a 0x80 byte where 0..127 fits
                    skipped.append(f"{label}: {error}")
                    continue
                names.append(label)
        audio = play_like_thesis(tones) if tones else np.zeros((0, 1))
        keep = [i for i, clip in enumerate(audio) if np.abs(clip).max() >= SILENCE]
        skipped += [f"{names[i]}: silent as the thesis plays it" for i in range(len(tones))
                    if i not in keep]  # fmt: skip
        if not keep:
            raise ValueError(f"no playable tones in {', '.join(str(p) for p in paths)}")
        return cls([names[i] for i in keep], [tones[i] for i in keep], audio[keep], skipped)


#: A real tone whose render never reaches this peak is silent (a capture's QC drops it too).
SILENCE = 1e-3


def play_like_thesis(tones: Sequence[Tone]) -> np.ndarray:
    capture = thesis_job(1, 0).capture
    melody = [Note(n.key, n.velocity, n.start_s, n.duration_s) for n in capture.notes]
    clips = [
        render(tones[i : i + 64], melody, capture.hold_s, capture.tail.max_s, THESIS_RATE, 0)
        for i in range(0, len(tones), 64)
    ]
    return np.concatenate(clips)


def bank_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob("*.syx"))
    if not files:
        raise ValueError(f"--real-banks {directory}: no .syx files there")
    return files


def real_scores(
    trained: Trained, real: RealTones, spec: TargetSpec, mean_tone: np.ndarray
) -> dict[str, float]:
    """Median spectral convergence and log-spectral distance of the model's resyntheses of the
    real tones, and of the mean tone, against the real tones' own renders."""
    config = trained.method.features
    features = np.stack([config.compute(clip) for clip in real.audio])
    targets = np.stack([spec.encode(t) for t in real.tones])
    outputs = trained.outputs_of(features, targets)
    tones = [spec.decode(v, base=INIT_TONE) for v in outputs.predictions]
    estimates = play_like_thesis(tones)
    mean = play_like_thesis([spec.decode(mean_tone, base=INIT_TONE)])[0]
    sc = [spectral_convergence(r, e) for r, e in zip(real.audio, estimates, strict=True)]
    lsd = [log_spectral_distance(r, e) for r, e in zip(real.audio, estimates, strict=True)]
    mean_sc = [spectral_convergence(r, mean) for r in real.audio]
    mean_lsd = [log_spectral_distance(r, mean) for r in real.audio]
    return {
        "real_tones": len(real.tones),
        "real_sc_median": float(np.median(sc)),
        "mean_tone_real_sc_median": float(np.median(mean_sc)),
        "real_lsd_median": float(np.median(lsd)),
        "mean_tone_real_lsd_median": float(np.median(mean_lsd)),
        "real_mse": float(parameter_mse(outputs.expected, targets, spec).mean()),
    }


# -- the benchmark ------------------------------------------------------------------------------


def hardware() -> str:
    """The machine in words: CPU model and cores, torch threads, or the GPU."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"CPU {model}, {os.cpu_count()} cores, torch on {torch.get_num_threads()} threads"


def run_bench(
    names: Sequence[str],
    takes: int,
    budget_s: float,
    out: Path,
    *,
    data_root: Path,
    real_banks: Path | None,
    features: FeatureConfig | None = None,
    resynthesis: int = 100,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict:
    """Capture (or reuse) the data, train and score every named method; write and return
    ``out/results.json``."""
    chosen = [method(RECOMMENDED if n == "recommended" else n) for n in names]
    if features is not None:
        chosen = [replace(m, features=features) for m in chosen]
    spec = TargetSpec.thesis()
    real = RealTones.of(bank_files(real_banks), spec) if real_banks is not None else None
    if real is not None:
        log(f"real tones: {len(real.tones)} from {real_banks} ({len(real.skipped)} unplayable)")
    bench = BenchData.open(data_root)
    try:
        name = bench.thesis_dataset(takes, seed, log)
        source = CatalogSource(bench.catalog, bench.store, name)
        results: dict = {
            "recommended": RECOMMENDED,
            "dataset": {"name": name, "takes": 0, "splits": {}},
            "models": {},
        }
        for m in chosen:
            began = time.perf_counter()
            data = FrozenDataset.open(source, m.features, data_root / "features", progress=True)
            sizes = data.split_sizes()
            results["dataset"] |= {"takes": len(data.records), "splits": sizes}
            run_dir = out / m.name
            shutil.rmtree(run_dir, ignore_errors=True)
            log(f"{m.name}: training on {sizes['train']} takes, budget {budget_s:g} s")
            trained = train_method(m, data, run_dir, budget_s=budget_s, seed=seed)
            train_split, test = data.split("train"), data.split("test")
            report = report_of(
                trained.outputs(test), test, train_split.targets, resynthesis=resynthesis
            )
            write_report(report, run_dir)
            row = {
                **report.scores.summary(),
                "test_sc_median": _median(report.resynthesis, "spectral_convergence"),
                "mean_tone_test_sc_median": _median(
                    report.mean_resynthesis, "spectral_convergence"
                ),
                "test_lsd_median": _median(report.resynthesis, "log_spectral_distance"),
                "mean_tone_test_lsd_median": _median(
                    report.mean_resynthesis, "log_spectral_distance"
                ),
                "real_sc_median": None,
                "mean_tone_real_sc_median": None,
                "train_examples": trained.train_examples,
                "epochs": trained.epochs,
                "examples_per_s": trained.examples_per_s,
                "train_s": trained.wall_s,
                "wall_s": time.perf_counter() - began,
                "features": m.features.model_dump(mode="json"),
                "hardware": hardware(),
            }
            if real is not None:
                mean_tone = mean_tone_vector(train_split.targets, spec)
                row |= real_scores(trained, real, spec, mean_tone)
            row["wall_s"] = time.perf_counter() - began
            results["models"][m.name] = row
            log(_line(m.name, row))
            _write_json(out / "results.json", results)
        return results
    finally:
        bench.close()


def _median(resynthesis: Resynthesis | None, metric: str) -> float | None:
    return None if resynthesis is None else float(np.median(getattr(resynthesis, metric)))


def _line(name: str, row: dict) -> str:
    def f(value: object, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    return (
        f"{name}: test MSE {f(row['test_mse'])} (mean {f(row['mean_mse'])}), switch accuracy "
        f"{f(row['switch_accuracy'], 3)} (mode {f(row['mode_accuracy'], 3)}), real SC median "
        f"{f(row['real_sc_median'], 3)} (mean tone {f(row['mean_tone_real_sc_median'], 3)}), "
        f"{row['epochs']} epochs, {row['examples_per_s']:.0f} examples/s, {row['wall_s']:.0f} s"
    )


def table(results: dict) -> str:
    """results.json as a Markdown table."""
    lines = [
        "| model | test MSE | mean MSE | ratio | switch acc. | mode acc. | real SC median "
        "| mean tone real SC | train takes | epochs | examples/s | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["models"].items():

        def f(value: object, digits: int = 4) -> str:
            return "-" if value is None else f"{value:.{digits}f}"

        lines.append(
            f"| {name} | {f(r['test_mse'])} | {f(r['mean_mse'])} | {f(r['mse_ratio'], 3)} "
            f"| {f(r['switch_accuracy'], 3)} | {f(r['mode_accuracy'], 3)} "
            f"| {f(r['real_sc_median'], 3)} | {f(r['mean_tone_real_sc_median'], 3)} "
            f"| {r['train_examples']} | {r['epochs']} | {r['examples_per_s']:.0f} "
            f"| {r['wall_s']:.0f} |"
        )
    return "\n".join(lines)


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)
