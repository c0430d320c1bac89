"""``jxdaq db``: migrate the catalog's schema (services also upgrade on start)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Catalog schema migrations.", no_args_is_help=True)

URL_OPTION = typer.Option(None, "--url", help="Catalog URL; default: from the settings.")


def _engine(url: str | None):
    from daq.settings import get_settings
    from db.engine import make_engine

    return make_engine(url or get_settings().resolved_catalog_url)


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
    url: str | None = URL_OPTION,
) -> None:
    """Bring the catalog's schema up to REVISION (creates it in an empty database)."""
    from db import migrate

    engine = _engine(url)
    try:
        migrate.upgrade(engine, revision)
        typer.echo(f"catalog at revision {migrate.current_revision(engine)}")
    finally:
        engine.dispose()


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision; 'base' drops every table."),
    url: str | None = URL_OPTION,
) -> None:
    """Take the catalog's schema back to REVISION."""
    from db import migrate

    engine = _engine(url)
    try:
        migrate.downgrade(engine, revision)
        typer.echo(f"catalog at revision {migrate.current_revision(engine) or 'base (empty)'}")
    finally:
        engine.dispose()


@app.command()
def current(url: str | None = URL_OPTION) -> None:
    """Print the catalog's revision and whether it is the newest this release knows."""
    from db import migrate

    engine = _engine(url)
    try:
        revision = migrate.current_revision(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    state = "up to date" if revision == head else f"behind head {head}; run `jxdaq db upgrade`"
    typer.echo(f"{revision or 'none (empty database)'} ({state})")
