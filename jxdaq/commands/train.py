"""``jxdaq train`` and ``jxdaq evaluate``: models from a frozen dataset, and their scores.

The dataset comes from the catalog on this machine or, with ``--server URL`` (default:
``JXDAQ_API_URL``, token ``JXDAQ_API_TOKEN``, as for ``jxdaq dataset``), from a jx-daq server:
its export tar is pulled (resumably) into ``var_dir/pulled/<server>/`` and read from there
(:mod:`models.remote`); the features cache is the same either way.

torch and :mod:`models` are imported inside the commands, so ``jxdaq --help`` and every other
command work on machines without the training extra.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from jxdaq.options import given

if TYPE_CHECKING:
    from daq.features import FeatureConfig
    from daq.settings import Settings
    from models.data import CatalogSource, FrozenDataset, TakeSource

app = typer.Typer(help="Train and evaluate models on frozen datasets.")

FEATURE_KINDS = ("stft", "logmel", "compact", "auditory")
TRAIN_DEFAULT = "default: models.train.TrainConfig's"
#: What the validation split is called (datasets frozen before it was validation say val).
VALIDATION_NAMES = ("validation", "val")
DatasetOption = Annotated[str, typer.Option(help="Frozen dataset name (catalog.freeze_dataset)")]
DeviceOption = Annotated[
    str | None, typer.Option(help="cpu or cuda (default: cuda when present, else cpu)")
]
CacheOption = Annotated[
    Path | None, typer.Option(help="Feature cache directory (default: var_dir/features)")
]
ServerOption = Annotated[
    str | None,
    typer.Option(
        help="Pull the dataset from this jx-daq server (default: JXDAQ_API_URL if set, "
        "else read the local catalog); token: JXDAQ_API_TOKEN"
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _source(name: str, server: str | None) -> TakeSource:
    """The server's dataset if one is given or configured, else the local catalog's."""
    from daq.settings import get_settings

    settings = get_settings()
    url = server or settings.api_url
    return _pulled(name, url, settings) if url else _catalog_source(name)


def _pulled(name: str, url: str, settings: Settings) -> TakeSource:
    """The server's export tar, pulled (or resumed) under var_dir/pulled/<host_port>/."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from daq.client import ApiClient, ApiError
    from models.remote import pull_source

    server = re.sub(r"[^A-Za-z0-9.-]+", "_", url.partition("://")[2] or url).strip("_")
    directory = settings.var_dir / "pulled" / server
    bars = Progress(
        "{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    try:
        with ApiClient(url, settings.api_token) as client, bars:
            task = bars.add_task(f"pulling {name} from {url}", total=None)
            source = pull_source(
                client,
                name,
                directory,
                lambda done, total: bars.update(task, completed=done, total=total),
            )
    except (ApiError, OSError) as error:
        raise _fail(str(error)) from None
    typer.echo(f"dataset {name!r} from {url}: {source.path}")
    return source


def _catalog_source(name: str) -> CatalogSource:
    from daq.settings import get_settings
    from db.engine import open_catalog
    from db.store import AudioStore
    from models.data import CatalogSource

    settings = get_settings()
    catalog = open_catalog(settings.resolved_catalog_url)
    return CatalogSource(catalog, AudioStore(settings.resolved_store_url), name)


def _open(
    source: TakeSource, features: FeatureConfig, cache: Path | None, splits: tuple[str, ...]
) -> FrozenDataset:
    from daq.settings import get_settings
    from models.data import FrozenDataset

    root = cache or get_settings().var_dir / "features"
    return FrozenDataset.open(source, features, root, progress=True, splits=splits)


def _device(name: str | None) -> str | None:
    import torch

    if name not in (None, "cpu", "cuda"):
        raise _fail(f"--device {name!r}: use cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise _fail("--device cuda: no CUDA device is available here (torch sees none)")
    return name


def _feature_config(kind: str) -> FeatureConfig:
    from daq.features import THESIS_STFT, AuditoryFeatures, LogMelFeatures
    from models.methods import COMPACT_LOGMEL

    configs = {
        "stft": THESIS_STFT,
        "logmel": LogMelFeatures(),
        "compact": COMPACT_LOGMEL,
        "auditory": AuditoryFeatures(),
    }
    if kind not in configs:
        raise _fail(f"--features {kind!r}: use one of {', '.join(FEATURE_KINDS)}")
    return configs[kind]


def _targets(names: str):
    from models.targets import TargetSpec

    if names == "thesis":
        return TargetSpec.thesis()
    if names == "all":
        return TargetSpec.of()
    try:
        return TargetSpec.of([n.strip() for n in names.split(",") if n.strip()])
    except (KeyError, ValueError) as error:
        raise _fail(f"--targets: {error.args[0]}") from None


@app.command()
def train(
    dataset: DatasetOption,
    out: Annotated[Path, typer.Option(help="Run directory: checkpoints, metrics.csv, curves.png")],
    model: Annotated[
        str, typer.Option(help="lstm1-3, cnn1-3, lcnn1-2 (the thesis's) or convpool")
    ] = "lstm1",
    features: Annotated[
        str, typer.Option(help="stft (thesis 690x16), logmel, compact (convpool's), auditory")
    ] = "stft",
    head: Annotated[
        str, typer.Option(help="mixed (switches as classes) or mse (thesis)")
    ] = "mixed",
    targets: Annotated[str, typer.Option(help="thesis (26), all (44) or comma-separated names")] = (
        "thesis"
    ),
    epochs: Annotated[int | None, typer.Option(min=1, help=TRAIN_DEFAULT)] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help=TRAIN_DEFAULT)] = None,
    learning_rate: Annotated[float | None, typer.Option(min=0.0, help=TRAIN_DEFAULT)] = None,
    patience: Annotated[
        int | None, typer.Option(min=1, help=f"epochs without improvement; {TRAIN_DEFAULT}")
    ] = None,
    seed: Annotated[int | None, typer.Option(help=TRAIN_DEFAULT)] = None,
    train_split: str = "train",
    val_split: Annotated[
        str | None, typer.Option(help="default: validation, or val if that is what it is called")
    ] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in --out")] = False,
    device: DeviceOption = None,
    cache: CacheOption = None,
    server: ServerOption = None,
) -> None:
    """Train a model on a frozen dataset; early-stopped on its validation split."""
    from db.records import NotFound
    from models.nets import BODIES, HEADS, build_model
    from models.train import TrainConfig, fit, seed_everything

    if model not in BODIES:
        raise _fail(f"--model {model!r}: unknown model; known: {', '.join(BODIES)}")
    if head not in HEADS:
        raise _fail(f"--head {head!r}: unknown head; known: {', '.join(HEADS)}")
    config = _feature_config(features)
    spec = _targets(targets)
    train_config = TrainConfig(
        **given(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            patience=patience,
            seed=seed,
        ),
        device=_device(device),
    )
    try:
        source = _source(dataset, server)
        if val_split is None:
            found = [n for n in VALIDATION_NAMES if n in source.split_names]
            val_split = found[0] if found else VALIDATION_NAMES[0]
        data = _open(source, config, cache, (train_split, val_split))
        train_set, val_set = data.split(train_split, spec), data.split(val_split, spec)
        seed_everything(train_config.seed)
        net = build_model(model, *config.shape, spec, head)
        typer.echo(
            f"{model} ({net.parameter_count():,} weights, {head} head, {len(spec)} targets) on "
            f"{dataset}: {len(train_set)} {train_split} / {len(val_set)} {val_split} takes"
        )
        result = fit(
            net, train_set, val_set, out, train_config, resume=resume, meta=data.describe()
        )
    except (NotFound, FileExistsError, FileNotFoundError, ValueError) as error:
        raise _fail(str(error)) from None
    best = result.history[result.best_epoch - 1] if result.best_epoch else None
    stopped = "stopped early" if result.stopped_early else "done"
    typer.echo(f"{stopped} after {result.epochs_run} epochs; best epoch {result.best_epoch}")
    if best is not None:
        typer.echo(
            f"validation loss {best['val_loss']:.4f}, parameter MSE "
            f"{best['val_parameter_mse']:.4f}, switch accuracy {best['val_switch_accuracy']:.3f}"
        )
    typer.echo(f"checkpoint: {out / 'best.pt'}  metrics: {out / 'metrics.csv'}")


@app.command()
def evaluate(
    checkpoint: Annotated[Path, typer.Option(help="best.pt (or last.pt) of a jxdaq train run")],
    dataset: DatasetOption,
    split: str = "test",
    train_split: Annotated[str, typer.Option(help="split the mean baseline is fitted on")] = (
        "train"
    ),
    resynthesis: Annotated[
        int, typer.Option(min=0, help="takes to resynthesise on the emulator (0: none)")
    ] = 100,
    base: Annotated[
        str, typer.Option(help="parameters the model does not predict: from the take or INIT")
    ] = "take",
    report: Annotated[
        Path | None, typer.Option(help="Report directory (default: the checkpoint's)")
    ] = None,
    as_job: Annotated[
        Path | None, typer.Option(help="Also write the predicted tones as a job spec (TOML)")
    ] = None,
    device: DeviceOption = None,
    cache: CacheOption = None,
    server: ServerOption = None,
) -> None:
    """Score a trained model on a split: parameter error and emulator resynthesis."""
    from daq.features import parse_feature_config
    from db.records import NotFound
    from models.evaluate import evaluate_split, write_report, write_resynthesis_job
    from models.train import load_model, resolve_device

    if base not in ("take", "init"):
        raise _fail(f"--base {base!r}: use take or init")
    resolved_base: Literal["take", "init"] = "take" if base == "take" else "init"
    try:
        net, meta = load_model(checkpoint, resolve_device(_device(device)))
        if "features" not in meta:
            raise ValueError(f"{checkpoint} does not say which features it was trained on")
        config = parse_feature_config(meta["features"])
        data = _open(_source(dataset, server), config, cache, (split, train_split))
        test_set = data.split(split, net.spec)
        scores = evaluate_split(
            net,
            test_set,
            data.split(train_split, net.spec),
            resynthesis=resynthesis,
            base=resolved_base,
            device=device,
            progress=True,
        )
        written = write_report(scores, report or checkpoint.parent)
        if as_job is not None:
            written.append(write_resynthesis_job(scores, test_set.records, as_job))
    except (NotFound, FileNotFoundError, ValueError) as error:
        raise _fail(str(error)) from None
    typer.echo(f"{dataset}/{split}: {len(scores.tones)} takes")
    for line in scores.lines():
        typer.echo(line)
    for path in written:
        typer.echo(f"wrote {path}")


@app.command("evaluate-rig")
def evaluate_rig(
    job: Annotated[int, typer.Option(help="The captured resynthesis job (from --as-job)")],
    dataset: DatasetOption,
    split: str = "test",
    report: Annotated[Path, typer.Option(help="Report directory")] = Path("."),
) -> None:
    """Compare the takes of a captured resynthesis job with the takes they resynthesise."""
    from db.records import NotFound, TakeFilter
    from models.data import take_records
    from models.evaluate import compare_captured, write_rows

    try:
        source = _catalog_source(dataset)  # the captured job is in this catalog
        catalog = source.catalog
        originals = [r for r in source.records() if r.split == split]
        samples = catalog.get_job(job, include_deleted=True).count  # its takes stay
        if samples != len(originals):
            raise ValueError(
                f"job {job} has {samples} samples but split {split!r} of dataset {dataset!r} "
                f"holds {len(originals)} takes; it is not this split's resynthesis job"
            )
        captured = take_records(catalog, TakeFilter(job_id=job))
        scores = compare_captured(source, originals, captured, source.audio)
    except (NotFound, ValueError) as error:
        raise _fail(str(error)) from None
    path = write_rows(scores.rows(), report / f"rig-resynthesis-{split}-job{job}.csv")
    r = scores.summary()
    typer.echo(
        f"job {job}: {r['resynthesised']} of {len(originals)} takes captured; spectral "
        f"convergence {r['spectral_convergence_mean']:.3f}, log-spectral distance "
        f"{r['log_spectral_distance_mean']:.2f} dB, MFCC distance {r['mfcc_distance_mean']:.2f}"
    )
    typer.echo(f"wrote {path}")
