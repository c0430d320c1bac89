"""``jxdaq worker --rig NAME``: a rig worker daemon (one process per rig).

It captures whatever jobs the catalog hands its rig until SIGTERM / SIGINT (or, with
``--job``, until that job is over), logging one structured line per event on stderr.
SIGTERM finishes the take in hand, stores what was captured, gives back unfinished claims and
exits 0; after SIGKILL, the claims come back to the queue when their leases run out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jxdaq.options import LogFormatOption, LogLevelOption, configure_logs, given

app = typer.Typer(help="Run a rig worker: capture jobs on one rig until stopped.")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@app.callback(invoke_without_command=True)
def worker(
    rig: Annotated[str, typer.Option(help="Rig to capture on ('emulated' or one of --rigs-file)")],
    rigs_file: Annotated[
        Path | None, typer.Option(help="Rig definitions (TOML)", envvar="JXDAQ_RIGS_FILE")
    ] = None,
    job: Annotated[int | None, typer.Option(help="Exit once this job is over")] = None,
    lease_s: Annotated[
        float | None, typer.Option(min=1.0, help="Lease per claim, seconds; default: Worker's")
    ] = None,
    batch: Annotated[int | None, typer.Option(min=1, help="Claims per batch")] = None,
    silent_takes: Annotated[
        int | None,
        typer.Option(
            min=1, help="Silent takes in a row before the rig is probed; default: FaultPolicy's"
        ),
    ] = None,
    backoff_max_s: Annotated[
        float | None,
        typer.Option(
            min=0.1, help="Longest wait between reopening a faulted rig; default: FaultPolicy's"
        ),
    ] = None,
    drift_every: Annotated[
        int | None, typer.Option(min=1, help="Check drift every N takes (enables drift checks)")
    ] = None,
    drift_minutes: Annotated[
        float | None, typer.Option(min=0.1, help="... or every M minutes, whichever first")
    ] = None,
    drift_threshold_db: Annotated[
        float | None,
        typer.Option(
            min=0.01, help="Spectral distance that pauses the job; default: DriftPolicy's"
        ),
    ] = None,
    log_format: LogFormatOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Capture jobs on one rig until SIGTERM/SIGINT (or until --job is over)."""
    import logging
    import signal
    import threading

    from daq.logs import log_event
    from daq.rigs import RigConfigError, find_rig
    from daq.rigs.calibration import DriftPolicy
    from daq.settings import get_settings
    from daq.worker import FaultPolicy, Worker
    from db.engine import open_catalog
    from db.records import NotFound
    from db.store import AudioStore

    configure_logs(log_format, log_level)
    try:
        rig_definition = find_rig(rig, rigs_file)
    except RigConfigError as error:
        raise _fail(str(error)) from None
    drift = None
    if drift_every is not None or drift_minutes is not None:
        drift = DriftPolicy(
            every_takes=drift_every or 10**9,
            every_s=(drift_minutes or 10**9) * 60.0,
            **given(threshold_db=drift_threshold_db),
        )
    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    catalog = open_catalog(settings.resolved_catalog_url)  # unreachable: one line (jxdaq.cli)
    if job is not None:
        try:
            catalog.get_job(job)
        except NotFound as error:
            catalog.close()
            raise _fail(str(error)) from None
    store = AudioStore(settings.resolved_store_url)
    stop = threading.Event()
    logger = logging.getLogger("jxdaq.worker")

    def on_signal(signum: int, _frame: object) -> None:
        log_event(logger, "worker.stopping", rig=rig, signal=signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    worker_ = Worker(
        catalog,
        store,
        rig_definition,
        batch=batch,
        stop=stop,
        faults=FaultPolicy(**given(silent_takes=silent_takes, backoff_max_s=backoff_max_s)),
        drift=drift,
        **given(lease_s=lease_s),
    )
    try:
        worker_.run(job_id=job)
    finally:
        catalog.close()
