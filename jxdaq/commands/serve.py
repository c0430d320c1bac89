"""``jxdaq serve``: the REST API under uvicorn.

The catalog is upgraded to the current schema on start. A server reachable from other
machines (any host but loopback) must not run open: with no live token in the catalog it
refuses to start, naming the command that makes one. With alert channels configured, the
alerter runs alongside (one, however many server processes), on its own catalog connection.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from daq.settings import Settings
    from db.catalog import Catalog

app = typer.Typer(help="Run the REST API server.")


class Exposed(Exception):
    """Binding to ``host`` would serve the API beyond this machine with no token to guard it."""


def bind_address(host: str) -> str:
    """The address to bind for ``host``: an IPv6 literal may come in URL brackets
    (``[::1]``), which a socket does not take."""
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def is_loopback(host: str) -> bool:
    """Whether ``host`` (as given to ``--host``) reaches this machine only: ``localhost``,
    127.0.0.0/8, ``::1``, and IPv4-mapped loopback (``::ffff:127.0.0.1``)."""
    address = bind_address(host)
    if address == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # a host name: it may resolve to anything
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def check_exposure(host: str, port: int, catalog: Catalog) -> None:
    """Raise :class:`Exposed` when ``host`` is not loopback and the catalog has no live token."""
    if is_loopback(host) or any(t.revoked_at is None for t in catalog.list_tokens()):
        return
    raise Exposed(
        f"refusing to serve on {host}:{port}: the catalog has no API tokens, so the API "
        "could not be used safely from other machines; create one first with "
        "'jxdaq token create --role admin --name NAME', or bind to 127.0.0.1"
    )


@app.callback(invoke_without_command=True)
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 for every interface")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes (each has its own request-latency histograms; "
            "capture metrics come from the catalog either way)",
        ),
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the API (jobs, rigs, takes, datasets, tokens, /health, /metrics)."""
    import uvicorn

    from daq.api.app import create_app
    from daq.settings import get_settings
    from db.engine import open_catalog

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    catalog = open_catalog(settings.resolved_catalog_url, upgrade=True)
    try:
        check_exposure(host, port, catalog)
    except Exposed as error:
        catalog.close()
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    options = {"host": bind_address(host), "port": port, "log_level": log_level}
    with alerter_alongside(settings):
        if workers > 1:  # each process opens the catalog itself, from the same settings
            catalog.close()
            uvicorn.run("daq.api.app:create_app", factory=True, workers=workers, **options)
            return
        try:
            uvicorn.run(create_app(settings, catalog=catalog), **options)
        finally:
            catalog.close()


@contextmanager
def alerter_alongside(settings: Settings) -> Iterator[None]:
    """The alerter on a thread while the server runs, if any alert channel is configured."""
    if not settings.alerts.configured:
        yield
        return
    from daq.alerts.alerter import Alerter, start_alerter
    from db.engine import open_catalog

    catalog = open_catalog(settings.resolved_catalog_url)
    alerter = Alerter.from_settings(settings, catalog)
    thread = start_alerter(alerter)
    try:
        yield
    finally:
        alerter.stop.set()
        thread.join(timeout=30)
        catalog.close()
