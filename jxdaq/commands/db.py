"""``jxdaq db``: migrate the catalog's schema (services also upgrade on start)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(help="Catalog schema migrations.", no_args_is_help=True)

URL_OPTION = typer.Option(None, "--url", help="Catalog URL; default: from the settings.")


@contextmanager
def _engine(url: str | None) -> Iterator[Engine]:
    """An engine on the catalog at ``url`` (default: the settings'), disposed afterwards."""
    from daq.settings import get_settings
    from db.engine import make_engine

    engine = make_engine(url or get_settings().resolved_catalog_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _migrate(step: Callable[[Engine, str], None], revision: str, url: str | None) -> None:
    """Run a migration ``step`` to ``revision`` and say where the catalog is now."""
    from db.migrate import current_revision

    with _engine(url) as engine:
        step(engine, revision)
        typer.echo(f"catalog at revision {current_revision(engine) or 'base (empty)'}")


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
    url: str | None = URL_OPTION,
) -> None:
    """Bring the catalog's schema up to REVISION (creates it in an empty database)."""
    from db import migrate

    _migrate(migrate.upgrade, revision, url)


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision; 'base' drops every table."),
    url: str | None = URL_OPTION,
) -> None:
    """Take the catalog's schema back to REVISION."""
    from db import migrate

    _migrate(migrate.downgrade, revision, url)


@app.command()
def current(url: str | None = URL_OPTION) -> None:
    """Print the catalog's revision and whether it is the newest this release knows."""
    from db import migrate

    with _engine(url) as engine:
        revision = migrate.current_revision(engine)
    head = migrate.head_revision()
    state = "up to date" if revision == head else f"behind head {head}; run `jxdaq db upgrade`"
    typer.echo(f"{revision or 'none (empty database)'} ({state})")
