"""``jxdaq catalog``: check that every take has its audio, and repair what does not."""

from __future__ import annotations

import typer

app = typer.Typer(help="Catalog maintenance.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Catalog maintenance (a callback keeps ``verify`` a sub-command)."""


#: How many entries of each kind of problem are listed before "... and N more".
LISTED = 20


@app.command()
def verify(
    repair: bool = typer.Option(
        False, "--repair", help="Quarantine orphans and debris; requeue takes with bad audio."
    ),
    url: str | None = typer.Option(None, "--url", help="Catalog URL; default: from settings."),
    store_url: str | None = typer.Option(
        None, "--store", help="Audio store root (path or fsspec URL); default: from settings."
    ),
    grace_s: float = typer.Option(
        600.0, "--grace", help="Leave files younger than this many seconds (live writers)."
    ),
) -> None:
    """Walk catalog and store: missing files, hash mismatches, orphan files.

    Exits 1 when the catalog has takes without valid audio (after --repair: when anything
    could not be repaired).
    """
    from rich.progress import Progress

    from daq.settings import get_settings
    from db.engine import open_catalog
    from db.store import BUCKETS, AudioStore
    from db.verify import verify as walk

    settings = get_settings()
    catalog = open_catalog(url or settings.resolved_catalog_url)
    store = AudioStore(store_url or settings.resolved_store_url)
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("verifying", total=len(BUCKETS))
            report = walk(
                catalog,
                store,
                repair=repair,
                grace_s=grace_s,
                on_bucket=lambda _bucket: progress.advance(task),
            )
    finally:
        catalog.close()
    typer.echo(f"{report.takes_checked} takes checked, {report.files_seen} files seen")
    _list("missing audio (take, key)", report.missing)
    _list("corrupt audio (take, key)", report.corrupt)
    _list("orphan files", report.orphans)
    _list("debris (interrupted writes)", report.debris)
    if repair:
        typer.echo(
            f"repaired: {len(report.broken_takes)} takes requeued, "
            f"{len(report.quarantined)} entries moved to quarantine/"
        )
        unrepaired = (
            len(report.orphans)
            + len(report.debris)
            - (len(report.quarantined) - len({k for _, k in report.corrupt}))
        )
        if unrepaired > 0:
            typer.echo(f"{unrepaired} entries younger than --grace were left alone")
        raise typer.Exit(0)
    if report.clean:
        typer.echo("clean")
    raise typer.Exit(0 if report.catalog_ok else 1)


def _list(title: str, entries: list) -> None:
    if not entries:
        return
    typer.echo(f"{title}: {len(entries)}")
    for entry in entries[:LISTED]:
        typer.echo(f"  {entry}")
    if len(entries) > LISTED:
        typer.echo(f"  ... and {len(entries) - LISTED} more")
