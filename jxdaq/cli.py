"""``jxdaq``: the single command line entry point for every jx-daq process.

Each group lives in its own module under :mod:`jxdaq.commands`; heavy libraries are imported
inside the commands so that ``jxdaq --help`` stays instant.
"""

from __future__ import annotations

import sys

import typer

from jxdaq.commands import (
    alerts,
    bench,
    catalog,
    dataset,
    db,
    emulator,
    job,
    rig,
    serve,
    syx,
    token,
    train,
    worker,
)

app = typer.Typer(
    name="jxdaq",
    help="Capture Roland Super JX sounds for machine learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(syx.app, name="syx")
app.add_typer(emulator.app, name="emulator")
app.add_typer(db.app, name="db")
app.add_typer(catalog.app, name="catalog")
app.add_typer(job.app, name="job")
app.add_typer(dataset.app, name="dataset")
app.add_typer(serve.app, name="serve")
app.add_typer(token.app, name="token")
app.add_typer(worker.app, name="worker")
app.add_typer(rig.app, name="rig")
app.add_typer(bench.app)  # unnamed: jxdaq bench
app.add_typer(alerts.app, name="alerts")
app.add_typer(train.app)  # unnamed: jxdaq train, evaluate and evaluate-rig at the top level


def main() -> None:
    """``jxdaq``: a catalog that cannot be reached is a one-line error naming it, from any
    command (the worker, the server, the job and dataset commands), not a driver traceback."""
    try:
        app()
    except Exception as error:
        # db.records is loaded by then if a catalog was opened; importing it here would cost
        # every command (``jxdaq --help`` included) the import of SQLAlchemy.
        records = sys.modules.get("db.records")
        if records is None or not isinstance(error, records.CatalogUnreachable):
            raise
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
