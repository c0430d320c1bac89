"""``jxdaq job``: submit capture jobs, watch them, or run one here on a local rig."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from db.catalog import Catalog
    from db.store import AudioStore

app = typer.Typer(help="Submit, watch and run capture jobs.", no_args_is_help=True)

SpecArgument = Annotated[Path, typer.Argument(help="Job spec (TOML), e.g. examples/job-prior.toml")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _open() -> tuple[Catalog, AudioStore]:
    from daq.settings import get_settings
    from db.engine import open_catalog
    from db.store import AudioStore

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return open_catalog(settings.resolved_catalog_url), AudioStore(settings.resolved_store_url)


def _load(path: Path):
    from daq.spec import SpecError, load_spec

    try:
        return load_spec(path)
    except SpecError as error:
        raise _fail(str(error)) from None


@app.command()
def submit(spec: SpecArgument) -> None:
    """Validate a job spec and queue it; rig workers pick it up."""
    from daq.jobs import submit_job

    job_spec = _load(spec)
    catalog, _ = _open()
    job = submit_job(catalog, job_spec)
    typer.echo(f"job {job.id} queued: {job.sample_count} takes ({job.name})")


@app.command()
def status(
    job_id: Annotated[int | None, typer.Argument(help="Job id; default: all")] = None,
) -> None:
    """Progress, rate and ETA of one job or of every job."""
    from daq.jobs import describe
    from db.records import NotFound

    catalog, _ = _open()
    try:
        jobs = [catalog.get_job(job_id)] if job_id is not None else catalog.list_jobs()
    except NotFound as error:
        raise _fail(str(error)) from None
    for job in jobs:
        typer.echo(f"job {job.id} {job.name!r}: {describe(catalog.job_progress(job.id))}")


@app.command()
def run(
    spec: SpecArgument,
    rig: Annotated[str, typer.Option(help="Rig to capture on")] = "emulated",
    rigs_file: Annotated[Path | None, typer.Option(help="Rig definitions (TOML)")] = None,
) -> None:
    """Submit a job and capture it here, on one rig, with a progress bar, until it is done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from daq.jobs import describe, submit_job
    from daq.rigs import RigConfigError, find_rig
    from daq.worker import Worker

    job_spec = _load(spec)
    try:
        rig_definition = find_rig(rig, rigs_file)
    except RigConfigError as error:
        raise _fail(str(error)) from None
    catalog, store = _open()
    job = submit_job(catalog, job_spec)
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns) as bar:
        task = bar.add_task(f"job {job.id} on {rig}", total=job.sample_count)
        worker = Worker(
            catalog,
            store,
            rig_definition,
            on_take=lambda submitted: bar.update(task, completed=submitted),
        )
        worker.run(job_id=job.id)
        bar.update(task, completed=catalog.get_job(job.id).captured)
    typer.echo(f"job {job.id}: {describe(catalog.job_progress(job.id))}")
    typer.echo(f"catalog: {catalog.engine.url.render_as_string()}  audio: {store.root}")
