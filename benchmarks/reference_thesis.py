"""Reference results: the thesis's lstm1 and cnn3 on a dataset captured from the emulated rig.

The thesis (F. Vecoven, Liège 2020) trained on the 690 x 16 STFT of 4 s of note 69 and
reported a validation parameter MSE of 0.0262 for lstm1 and 0.0270-0.0287 for its CNNs. This
script does the same on the emulated rig, at a size this machine's CPU can afford:

1. captures ``--takes`` takes from the preset prior (the 26 thesis parameters vary, the
   others stay at the INIT tone; A4 held 4 s, then the release tail) into a SQLite catalog;
2. freezes them as a dataset (train / validation / test = 0.8 / 0.1 / 0.1) and caches the
   thesis STFT of every take;
3. trains each model as the thesis did (MSE head over all 26 parameters, switches scaled to
   [0, 1], Adam at 1e-3), early-stopped on the validation split (``lstm1:8:mixed`` trains
   with the classification head for switches instead);
4. reports on the validation split: the loss (the thesis's measure: MSE of the raw outputs),
   the parameter MSE of the decoded predictions (switches rounded to a position), switch
   accuracy, and the spectral convergence of emulator resynthesis, next to a
   predict-the-mean baseline.

    .venv/bin/python benchmarks/reference_thesis.py --takes 3000 --models lstm1:8 cnn3:4

Torch runs on ``--threads`` (default 1: on a shared machine a second intra-op thread mostly
spins). The script prints wall time and the process's CPU time.

``--root DIR`` keeps the catalog, audio, feature cache and runs; run again with the same root
and the capture and features are reused.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

THESIS = {"lstm1": "0.0262", "cnn3": "0.0270-0.0287 (its CNNs)"}
SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
DATASET = "reference-thesis"


def job_spec(takes: int, seed: int):
    from daq.spec import JobSpec
    from firmware_protocol.parameters import THESIS_SUBSET

    return JobSpec.model_validate(
        {
            "name": "reference: prior, thesis 26, A4 4 s",
            "source": {"kind": "prior"},
            "vary": list(THESIS_SUBSET),
            "count": takes,
            "seed": seed,
            "capture": {"hold_s": 4.0, "notes": 69},
        }
    )


def capture(root: Path, takes: int, seed: int):
    """The catalog with the frozen dataset, captured now unless ``root`` already holds it."""
    from daq.jobs import submit_job
    from daq.rigs import EMULATED
    from daq.worker import Worker
    from db.engine import open_catalog
    from db.records import NotFound, TakeFilter
    from db.store import AudioStore

    catalog, store = open_catalog(f"sqlite:///{root / 'catalog.db'}"), AudioStore(root / "audio")
    try:
        catalog.get_dataset(DATASET)
        print(f"reusing dataset {DATASET!r} in {root}")
        return catalog, store
    except NotFound:
        pass
    job = submit_job(catalog, job_spec(takes, seed))
    start = time.perf_counter()
    Worker(catalog, store, EMULATED).run(job_id=job.id)
    seconds = time.perf_counter() - start
    done = catalog.get_job(job.id)
    print(
        f"capture: {done.captured} takes stored, {done.failed} failed QC (silent tones), "
        f"{seconds:.0f} s ({done.captured / seconds:.1f} takes/s)"
    )
    catalog.freeze_dataset(DATASET, TakeFilter(job_id=job.id), SPLITS, seed=seed)
    return catalog, store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=3000)
    parser.add_argument("--models", nargs="+", default=["lstm1:8", "cnn3:4"],
                        help="name:max_epochs[:head], head mse (default) or mixed")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--resynthesis", type=int, default=100, help="validation takes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", type=Path, help="working directory (default: a temporary one)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        run(args, args.root or Path(tmp))


def run(args: argparse.Namespace, root: Path) -> None:
    import numpy as np

    from models.data import CatalogSource, FrozenDataset
    from models.evaluate import evaluate_split, mean_prediction, predicted_tones, resynthesise
    from models.features import THESIS_STFT
    from models.nets import build_model
    from models.train import TrainConfig, fit, seed_everything

    root.mkdir(parents=True, exist_ok=True)
    began, cpu = time.perf_counter(), time.process_time()
    catalog, store = capture(root, args.takes, args.seed)
    source = CatalogSource(catalog, store, DATASET)
    start = time.perf_counter()
    data = FrozenDataset.open(source, THESIS_STFT, root / "features", progress=True)
    sizes = data.split_sizes()
    print(
        f"dataset: {len(data.records)} takes ({', '.join(f'{k} {v}' for k, v in sizes.items())}),"
        f" thesis STFT {THESIS_STFT.shape[0]} x {THESIS_STFT.shape[1]}; features "
        f"{time.perf_counter() - start:.0f} s"
    )
    train, val = data.split("train"), data.split("validation")
    n = min(args.resynthesis, len(val))
    spec = train.spec

    baseline = np.tile(mean_prediction(train.targets, spec), (len(val), 1))
    baseline_tones = predicted_tones(baseline[:n], val.records[:n], spec)
    baseline_sc = resynthesise(source, val.records[:n], baseline_tones).summary()
    # What an MSE head that always outputs the training mean would score as its loss.
    scaled_mean = (train.targets * spec.scale).mean(axis=0)
    mean_loss = f"{((val.targets * spec.scale - scaled_mean) ** 2).mean():.4f}"
    rows = [("predict the mean", "-", mean_loss, *_scores(baseline, val), baseline_sc, "-")]

    for item in args.models:
        name, epochs, head = [*item.split(":"), "", ""][:3]
        head = head or "mse"
        label = name if head == "mse" else f"{name} ({head} head)"
        config = TrainConfig(
            epochs=int(epochs or 20),
            batch_size=args.batch_size,
            learning_rate=1e-3,
            patience=args.patience,
            seed=args.seed,
        )
        seed_everything(args.seed)
        model = build_model(name, *THESIS_STFT.shape, spec, head=head)
        run_dir = root / "runs" / f"{name}-{head}"
        shutil.rmtree(run_dir, ignore_errors=True)  # each run of the script trains afresh
        start, cpu_start = time.perf_counter(), time.process_time()
        result = fit(model, train, val, run_dir, config, progress=True, meta=data.describe())
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        report = evaluate_split(model, val, train, resynthesis=n)
        summary = report.summary()
        print(
            f"{label}: {model.parameter_count():,} weights, {result.epochs_run} epochs "
            f"(best {result.best_epoch}) in {seconds / 60:.1f} min ({cpu_seconds / 60:.1f} min CPU)"
        )
        rows.append(
            (
                label,
                THESIS.get(name, "-") if head == "mse" else "-",
                f"{report.evaluation.loss:.4f}",
                summary["parameter_mse"],
                summary["switch_accuracy"],
                report.resynthesis.summary(),
                f"{result.epochs_run} ({seconds / 60:.1f} min)",
            )
        )
    _table(rows, n)
    total, cpu = time.perf_counter() - began, time.process_time() - cpu
    print(
        f"dataset size {len(data.records)} takes; total time {total / 60:.1f} min "
        f"({cpu / 60:.1f} min CPU)"
    )
    catalog.close()


def _scores(predictions, data) -> tuple[float, float]:
    from models.metrics import parameter_mse, switch_accuracy

    return (
        float(parameter_mse(predictions, data.targets, data.spec).mean()),
        float(switch_accuracy(predictions, data.targets, data.spec).mean()),
    )


def _table(rows, resynthesised: int) -> None:
    print()
    print(
        "| model | thesis val MSE | val loss (MSE of outputs) | val parameter MSE (decoded) "
        f"| switch accuracy | spectral convergence, {resynthesised} takes: median (mean) "
        "| epochs (time) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, thesis, loss, mse, accuracy, sc, epochs in rows:
        convergence = (
            f"{sc['spectral_convergence_median']:.3f} ({sc['spectral_convergence_mean']:.2f})"
        )
        print(
            f"| {name} | {thesis} | {loss} | {mse:.4f} | {accuracy:.3f} | {convergence} "
            f"| {epochs} |"
        )


if __name__ == "__main__":
    main()
