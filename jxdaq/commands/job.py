"""``jxdaq job``: submit capture jobs, list, watch, pause, resume, cancel, delete them, or run
one here.

With ``JXDAQ_API_URL`` (and ``JXDAQ_API_TOKEN``) set, every command but ``run`` goes through
the API; without, through the catalog on this machine (see :mod:`daq.job_backends`).
``run`` always captures here, on a local rig.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from daq.job_backends import JobsBackend
    from db.catalog import Catalog
    from db.store import AudioStore

app = typer.Typer(help="Submit, watch and run capture jobs.", no_args_is_help=True)

SpecArgument = Annotated[Path, typer.Argument(help="Job spec (TOML), e.g. examples/job-prior.toml")]
JobArgument = Annotated[int, typer.Argument(help="Job id (see jxdaq job list)")]
ReasonOption = Annotated[str | None, typer.Option(help="Why (kept in the job's history)")]


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


@contextmanager
def _backend() -> Iterator[JobsBackend]:
    """The API if one is configured, else the local catalog; user errors become one line."""
    from daq.client import ApiClient, ApiError
    from daq.job_backends import HttpJobs, LocalJobs
    from db.records import CatalogError

    try:
        client = ApiClient.from_settings()
        if client is not None:
            with client:
                yield HttpJobs(client)
        else:
            catalog, store = _open()
            try:
                yield LocalJobs(catalog, store)
            finally:
                catalog.close()
    except (ApiError, CatalogError, ValueError) as error:
        raise _fail(str(error)) from None


def _load(path: Path):
    from daq.spec import SpecError, load_spec

    try:
        return load_spec(path)
    except SpecError as error:
        raise _fail(str(error)) from None


@app.command()
def submit(
    spec: SpecArgument,
    watch_it: Annotated[bool, typer.Option("--watch", help="Then watch it until it ends")] = False,
) -> None:
    """Validate a job spec and queue it; rig workers pick it up."""
    job_spec = _load(spec)
    with _backend() as jobs:
        job = jobs.submit(job_spec)
        typer.echo(f"job {job.id} queued: {job.count} samples ({job.name}) at {jobs.where}")
        if watch_it:
            _watch(jobs, job.id, 1.0)


@app.command("list")
def list_jobs(
    state: Annotated[
        list[str] | None, typer.Option(help="Only jobs in this state (repeat)")
    ] = None,
) -> None:
    """Every job, one line each: id, state, priority, progress, name."""
    from db.schema import JobState

    allowed = [s.value for s in JobState]
    for wanted in state or []:
        if wanted not in allowed:
            raise _fail(f"--state {wanted!r} is not a job state; allowed: {', '.join(allowed)}")
    with _backend() as jobs:
        found = jobs.list([JobState(s) for s in state] if state else None)
    if not found:
        typer.echo("no jobs")
    for job in found:
        typer.echo(
            f"{job.id:>5}  {job.state:<9}  {job.priority:>4}  "
            f"{job.done:>7}/{job.count:<7}  {job.name}"
        )


@app.command()
def status(
    job_id: Annotated[int | None, typer.Argument(help="Job id; default: jobs not over")] = None,
) -> None:
    """Progress, rate and ETA of one job, or of every job still queued, running or paused."""
    with _backend() as jobs:
        ids = [job_id] if job_id is not None else [j.id for j in jobs.list() if not j.over]
        for one in ids:
            job = jobs.get(one)
            typer.echo(job.line())
            for line in job.failure_lines():
                typer.echo(line)
    if not ids:
        typer.echo("no job is queued, running or paused")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--:--"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _watch(jobs: JobsBackend, job_id: int, interval: float) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    job = jobs.get(job_id)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} takes/s  ETA {task.fields[eta]}  [{task.fields[state]}]"),
    )
    with Progress(*columns) as bar:
        task = bar.add_task(f"job {job.id}", total=job.count, rate="-", eta="-", state="")
        while True:
            bar.update(
                task,
                completed=job.done,
                rate=f"{job.rate_per_s or 0:.1f}",
                eta=_clock(job.eta_s),
                state=job.state,
            )
            if job.over:
                break
            time.sleep(interval)
            job = jobs.get(job_id)
    typer.echo(job.line())
    if job.state != "completed":
        raise typer.Exit(1)


@app.command()
def watch(
    job_id: JobArgument,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls")] = 1.0,
) -> None:
    """A progress bar with rate and ETA until the job ends (exit 1 unless it completed)."""
    with _backend() as jobs:
        _watch(jobs, job_id, interval)


def _change(action: str, doc: str) -> None:
    def command(job_id: JobArgument, reason: ReasonOption = None) -> None:
        with _backend() as jobs:
            typer.echo(jobs.change(job_id, action, reason).line())

    command.__doc__ = doc
    app.command(action)(command)


_change("pause", "Pause a job: rigs finish the take in hand, then claim no more of it.")
_change("resume", "Resume a paused job.")
_change("cancel", "Cancel a job for good; the takes so far are kept.")


@app.command()
def priority(
    job_id: JobArgument,
    to: Annotated[int, typer.Option(help="New priority; higher runs first")],
) -> None:
    """Change a job's priority (from the rigs' next claim): ``priority 3 --to -5``."""
    with _backend() as jobs:
        typer.echo(jobs.set_priority(job_id, to).line())


@app.command()
def delete(
    job_id: JobArgument,
    takes: Annotated[
        str,
        typer.Option(
            help="remove: its takes go too (their audio unless another take shares it); "
            "keep: its takes stay, the job only as their provenance (gone from job lists)"
        ),
    ],
) -> None:
    """Delete a job that is over, for good (admin; recorded as an event). Refused while a
    frozen dataset holds its takes."""
    from db.deletion import TAKE_CHOICES

    if takes not in TAKE_CHOICES:
        raise _fail(f"--takes {takes!r}: allowed: {', '.join(TAKE_CHOICES)}")
    with _backend() as jobs:
        typer.echo(jobs.delete(job_id, takes))  # type: ignore[arg-type]


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
        task = bar.add_task(f"job {job.id} on {rig}", total=job.count)
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
