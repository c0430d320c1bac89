"""``jxdaq catalog``: check that every take has its audio, repair what does not, back up and
restore."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from daq.settings import Settings
    from db.store import AudioStore

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


@app.command()
def backup(
    dest: str = typer.Argument(..., help="Backup folder (created; earlier backups' audio reused)."),
    url: str | None = typer.Option(None, "--url", help="Catalog URL; default: from settings."),
    store_url: str | None = typer.Option(
        None, "--store", help="Audio store root (path or fsspec URL); default: from settings."
    ),
) -> None:
    """Snapshot the catalog and copy the audio it names into DEST, while workers run.

    SQLite is copied with its online backup API, PostgreSQL with pg_dump; audio files already
    in DEST are not copied again. Every file written is read back and hashed.
    """
    from db.backup import BackupError
    from db.backup import backup as take_backup

    settings, store = _settings_and_store(store_url)
    with _progress("backing up audio") as (listed, advance):
        try:
            report = take_backup(
                url or settings.resolved_catalog_url,
                store,
                dest,
                on_listed=listed,
                on_file=advance,
            )
        except BackupError as error:
            _fail(error)
    typer.echo(
        f"snapshot {report.snapshot}: {report.takes} takes, {report.files} audio files; "
        f"copied {report.copied} new files ({report.copied_bytes:,} bytes), "
        f"catalog {report.catalog_bytes:,} bytes"
    )


@app.command()
def restore(
    src: str = typer.Argument(..., help="Backup folder (its newest snapshot) or one snapshot."),
    url: str | None = typer.Option(None, "--url", help="Catalog URL; default: from settings."),
    store_url: str | None = typer.Option(
        None, "--store", help="Audio store root (path or fsspec URL); default: from settings."
    ),
) -> None:
    """Restore a snapshot into an empty catalog and an empty store, then verify them.

    Refuses a catalog or a store that holds anything. The whole snapshot is checked against
    its manifest before anything is written.
    """
    from db.backup import BackupError
    from db.backup import restore as restore_backup
    from db.engine import open_catalog
    from db.verify import verify as walk

    settings, store = _settings_and_store(store_url)
    catalog_url = url or settings.resolved_catalog_url
    with _progress("checking and restoring audio") as (listed, advance):
        try:
            report = restore_backup(src, catalog_url, store, on_listed=listed, on_file=advance)
        except BackupError as error:
            _fail(error)
    typer.echo(f"restored {report.snapshot}: {report.takes} takes, {report.files} audio files")
    catalog = open_catalog(catalog_url)
    try:
        check = walk(catalog, store)
    finally:
        catalog.close()
    if not check.clean:
        typer.echo(
            f"verify after restore: {len(check.missing)} missing, {len(check.corrupt)} corrupt, "
            f"{len(check.orphans)} orphans; run `jxdaq catalog verify`",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"verify: clean ({check.takes_checked} takes checked)")


def _settings_and_store(store_url: str | None) -> tuple[Settings, AudioStore]:
    from daq.settings import get_settings
    from db.store import AudioStore

    settings = get_settings()
    return settings, AudioStore(store_url or settings.resolved_store_url)


@contextmanager
def _progress(description: str) -> Iterator[tuple[Callable[[int], None], Callable[[], None]]]:
    """(set the total, advance by one) of a progress bar with ETA."""
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield (
            lambda total: progress.update(task, total=total),
            lambda: progress.advance(task),
        )


def _fail(error: Exception) -> NoReturn:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(1)
