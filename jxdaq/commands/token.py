"""``jxdaq token``: API tokens in the local catalog (create, list, revoke).

Works on the catalog directly (not over HTTP), so the first admin token can be made before
the server runs, by whoever can reach the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from db.catalog import Catalog

app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)

UrlOption = Annotated[
    str | None, typer.Option("--url", help="Catalog URL; default: from the settings.")
]


def _open(url: str | None) -> Catalog:
    from daq.settings import get_settings
    from db.engine import open_catalog

    return open_catalog(url or get_settings().resolved_catalog_url)


def _roles() -> list[str]:
    from db.schema import Role

    return [role.value for role in Role]


@app.command()
def create(
    role: Annotated[str, typer.Option(help="admin, operator, trainer or rig")],
    name: Annotated[str, typer.Option(help="Who holds it; a rig token is named after its rig")],
    url: UrlOption = None,
) -> None:
    """Create a token and print its secret (shown this once; only its hash is stored)."""
    from db.schema import Role

    if role not in _roles():
        typer.echo(
            f"error: --role {role!r} is not a role; allowed: {', '.join(_roles())}", err=True
        )
        raise typer.Exit(1)
    if not name.strip() or not name.isprintable() or len(name) > 200:
        typer.echo("error: --name must be 1..200 printable characters", err=True)
        raise typer.Exit(1)
    catalog = _open(url)
    try:
        token, secret = catalog.create_token(name, Role(role))
    finally:
        catalog.close()
    typer.echo(f"token {token.id} ({token.role}) for {token.name!r}; keep this secret:", err=True)
    typer.echo(secret)


@app.command("list")
def list_tokens(url: UrlOption = None) -> None:
    """Every token: id, role, name, created, last used, revoked."""
    catalog = _open(url)
    try:
        tokens = catalog.list_tokens()
    finally:
        catalog.close()
    if not tokens:
        typer.echo("no tokens (make one: jxdaq token create --role admin --name NAME)")
    for token in tokens:
        used = token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else "never"
        revoked = (
            f"  revoked {token.revoked_at.isoformat(timespec='seconds')}"
            if token.revoked_at
            else ""
        )
        typer.echo(
            f"{token.id:>4}  {token.role:<8}  {token.name}  created "
            f"{token.created_at.isoformat(timespec='seconds')}  last used {used}{revoked}"
        )


@app.command()
def revoke(
    token_id: Annotated[int, typer.Argument(help="Token id (see jxdaq token list)")],
    url: UrlOption = None,
) -> None:
    """Revoke a token at once."""
    from db.records import NotFound

    catalog = _open(url)
    try:
        token = catalog.revoke_token(token_id)
    except NotFound as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        catalog.close()
    typer.echo(f"token {token.id} ({token.role}, {token.name!r}) revoked")
