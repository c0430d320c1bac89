"""``jxdaq dataset``: freeze a selection of takes with splits, list them, pull one.

With ``JXDAQ_API_URL`` (and ``JXDAQ_API_TOKEN``) set, everything goes through the API;
without, through the catalog and store on this machine. Both give the same bytes (see
:mod:`daq.pull`), and an interrupted pull resumes where it stopped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from daq.pull import DatasetSource

app = typer.Typer(
    help="Freeze datasets (selection + splits) and pull them: a tar, NPZ feature shards, "
    "WebDataset shards or a Hugging Face audio folder.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="Dataset name (letters, digits, . _ -)")]
DEFAULT_SPLIT_NAMES = ("train", "validation", "test")
FORMATS = ("tar", "npz", "webdataset", "hf")
_PARAMETER = re.compile(r"^([a-z0-9_ ]+)=(\d{1,3})(?:\.\.(\d{1,3}))?$", re.IGNORECASE)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@contextmanager
def _source() -> Iterator[DatasetSource]:
    """The API if one is configured, else this machine's catalog; errors become one line."""
    from pydantic import ValidationError

    from daq.client import ApiClient, ApiError
    from daq.export import ExportChanged
    from daq.pull import LocalDatasets
    from daq.settings import get_settings
    from db.engine import open_catalog
    from db.records import CatalogError
    from db.store import AudioStore, StoreIntegrityError

    try:
        client = ApiClient.from_settings()
        if client is not None:
            with client:
                yield client
            return
        settings = get_settings()
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        catalog = open_catalog(settings.resolved_catalog_url)
        try:
            store = AudioStore(settings.resolved_store_url)
            yield LocalDatasets(catalog, store, settings.var_dir / "export-cache")
        finally:
            catalog.close()
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _fail(f"--feature-config {where}: {first['msg']}") from None
    except (
        ApiError,
        CatalogError,
        ExportChanged,
        StoreIntegrityError,
        ValueError,
        KeyError,
        OSError,
    ) as error:
        raise _fail(str(error.args[0] if isinstance(error, KeyError) else error)) from None


def parse_splits(text: str) -> dict[str, float]:
    """``0.8,0.1,0.1`` (train, validation, test) or ``train=0.9,test=0.1``."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        if all("=" in part for part in parts):
            pairs = [part.split("=", 1) for part in parts]
            splits = {name.strip(): float(value) for name, value in pairs}
        elif len(parts) <= len(DEFAULT_SPLIT_NAMES):
            splits = {n: float(v) for n, v in zip(DEFAULT_SPLIT_NAMES, parts, strict=False)}
        else:
            raise ValueError("more than three unnamed fractions")
    except ValueError as error:
        raise ValueError(
            f"--split {text!r}: give fractions like 0.8,0.1,0.1 or train=0.9,test=0.1 ({error})"
        ) from None
    if not splits or abs(sum(splits.values()) - 1) > 1e-9 or min(splits.values()) < 0:
        raise ValueError(f"--split {text!r}: fractions must be >= 0 and sum to 1")
    return splits


def parse_parameter(text: str) -> tuple[str, list[int]]:
    """``vcf_freq=10..90`` (or ``vcf_freq=64``) as (key, [low, high])."""
    match = _PARAMETER.match(text.strip())
    if match is None:
        raise ValueError(f"--param {text!r}: write KEY=LOW..HIGH, e.g. vcf_freq=10..90")
    key, low, high = match.groups()
    return key.strip(), [int(low), int(high or low)]


@app.command()
def freeze(
    name: NameArgument,
    job: Annotated[int | None, typer.Option(help="Takes of this job only")] = None,
    qc: Annotated[list[str] | None, typer.Option(help="QC verdicts to keep (repeat)")] = None,
    rig: Annotated[str | None, typer.Option(help="Takes of this rig only")] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Parameter range KEY=LOW..HIGH (repeat)")
    ] = None,
    split: Annotated[
        str,
        typer.Option(help="Fractions: 0.8,0.1,0.1 (train,validation,test) or name=fraction,..."),
    ] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the split assignment")] = 0,
) -> None:
    """Freeze the takes matching the filters now, with deterministic splits."""
    try:
        splits = parse_splits(split)
        parameters = dict(parse_parameter(p) for p in param or [])
    except ValueError as error:
        raise _fail(str(error)) from None
    filters: dict[str, Any] = {"job_id": job, "rig": rig, "parameters": parameters}
    if qc:
        filters["qc_verdicts"] = qc
    with _source() as source:
        dataset = source.freeze_dataset(name, filters, splits, seed)
    _show(dataset)


def _show(dataset: dict[str, Any]) -> None:
    counts = dataset.get("counts") or {}
    split_text = ", ".join(
        f"{split} {fraction:g}" + (f" ({counts[split]} takes)" if split in counts else "")
        for split, fraction in dataset["splits"].items()
    )
    takes = "" if dataset.get("takes") is None else f"{dataset['takes']} takes; "
    typer.echo(f"dataset {dataset['name']!r}: {takes}{split_text}; seed {dataset['seed']}")


@app.command("list")
def list_datasets() -> None:
    """Every frozen dataset."""
    with _source() as source:
        datasets = source.list_datasets()
    if not datasets:
        typer.echo("no datasets (freeze one: jxdaq dataset freeze NAME --job ID)")
    for dataset in datasets:
        _show(dataset)


@app.command()
def show(name: NameArgument) -> None:
    """One dataset with its takes per split."""
    with _source() as source:
        _show(source.get_dataset(name))


@app.command()
def pull(
    name: NameArgument,
    out: Annotated[Path, typer.Option(help="Directory to write into")],
    format: Annotated[
        str,
        typer.Option(
            help="tar (FLAC + parameters.csv), npz (features), webdataset (shards of "
            "<take>.flac + <take>.json) or hf (a Hugging Face audio folder)"
        ),
    ] = "tar",
    split: Annotated[str | None, typer.Option(help="Only this split")] = None,
    features: Annotated[
        str | None, typer.Option(help="npz: stft, logmel or auditory; default: the export's")
    ] = None,
    feature_config: Annotated[
        str | None, typer.Option(help='npz: JSON of feature fields, e.g. {"duration_s": 2}')
    ] = None,
    shard_size: Annotated[
        int | None,
        typer.Option(min=1, help="npz, webdataset: takes per shard; default: the export's"),
    ] = None,
) -> None:
    """Download a dataset with a progress bar and ETA; run it again to resume."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from daq.pull import pull_hf, pull_shards, pull_tar, pull_webdataset

    if format not in FORMATS:
        raise _fail(f"--format {format!r}: choose {', '.join(FORMATS)}")
    if feature_config is not None:
        try:
            json.loads(feature_config)
        except json.JSONDecodeError as error:
            raise _fail(f"--feature-config is not JSON: {error}") from None
    if format == "tar":
        counter: tuple[Any, ...] = (DownloadColumn(), TransferSpeedColumn())
    else:
        counter = (MofNCompleteColumn(),)
    columns = ("{task.description}", BarColumn(), *counter, TimeRemainingColumn())
    with _source() as source, Progress(*columns) as bar:
        task = bar.add_task(f"{name} ({split or 'all'})", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        if format == "tar":
            path = pull_tar(source, name, out, split, progress)
        elif format == "webdataset":
            path = pull_webdataset(source, name, out, progress, split=split, shard_size=shard_size)
        elif format == "hf":
            path = pull_hf(source, name, out, progress, split=split)
        else:
            path = pull_shards(
                source,
                name,
                out,
                progress,
                split=split,
                shard_size=shard_size,  # None: the export's default, here or on the server
                features=features,
                feature_config=feature_config,
            )
    typer.echo(f"dataset {name!r} pulled to {path}")
