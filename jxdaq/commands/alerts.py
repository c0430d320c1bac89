"""``jxdaq alerts``: list the channels and open conditions, send a test alert, run the alerter.

Channels and thresholds are the ``[alerts]`` table of the config file (``JXDAQ_CONFIG``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from jxdaq.options import LogFormatOption, configure_logs

if TYPE_CHECKING:
    from daq.settings import Settings

app = typer.Typer(help="Operator alerts over webhooks and email.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _settings(*, configured: bool = True) -> Settings:
    """The settings, a bad config file as one line per mistake (naming where)."""
    from pydantic import ValidationError

    from daq.settings import get_settings

    try:
        settings = get_settings()
    except ValidationError as error:
        where = ".".join
        lines = [f"{where(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        raise _fail("the configuration is invalid:\n  " + "\n  ".join(lines)) from None
    if configured and not settings.alerts.configured:
        raise _fail(
            "no alert channels are configured: add [[alerts.webhooks]] or [[alerts.email]] "
            "to the config file that JXDAQ_CONFIG names"
        )
    return settings


@app.command("list")
def list_alerts() -> None:
    """The channels, the thresholds, and the conditions alerted that have not cleared."""
    from db.engine import open_catalog

    settings = _settings(configured=False)
    alerts = settings.alerts
    for hook in alerts.webhooks:
        signed = "signed" if hook.secret.get_secret_value() else "unsigned"
        typer.echo(f"webhook {hook.name}: {hook.url.scheme}://{hook.url.host} ({signed})")
    for mail in alerts.email:
        tls = "STARTTLS" if mail.starttls else "no TLS"
        typer.echo(f"email {mail.name}: {mail.host}:{mail.port} ({tls}) to {', '.join(mail.to)}")
    if not alerts.configured:
        typer.echo("no channels configured")
    floor = alerts.disk_floor_mb(settings.store_min_free_mb)
    rate = f"{alerts.min_rate_per_s:g} takes/s" if alerts.min_rate_per_s else "off"
    typer.echo(
        f"thresholds: rig silent after {alerts.heartbeat_s:g} s, disk below {floor} MB, "
        f"job rate below {rate}"
    )
    catalog = open_catalog(settings.resolved_catalog_url, upgrade=True)
    try:
        conditions = catalog.open_conditions()
    finally:
        catalog.close()
    typer.echo(f"open conditions: {len(conditions)}")
    for condition in conditions:
        typer.echo(f"  {condition.raised_at:%Y-%m-%d %H:%M:%S}  {condition.message}")


@app.command()
def test() -> None:
    """Send a test alert through every channel (exit 1 if any failed)."""
    from daq.alerts.alerter import Alerter, trial_alert
    from db.engine import open_catalog
    from db.schema import utcnow

    settings = _settings()
    catalog = open_catalog(settings.resolved_catalog_url, upgrade=True)
    try:
        deliveries = Alerter.from_settings(settings, catalog).send(trial_alert(utcnow()))
    finally:
        catalog.close()
    for delivery in deliveries:
        outcome = "sent" if delivery.ok else f"FAILED ({delivery.error})"
        typer.echo(f"{delivery.channel}: {outcome} after {delivery.attempts} attempt(s)")
    if not all(d.ok for d in deliveries):
        raise typer.Exit(1)


@app.command()
def run(
    once: Annotated[bool, typer.Option(help="Check once and exit")] = False,
    log_format: LogFormatOption = None,
) -> None:
    """Watch the catalog and alert until SIGTERM/SIGINT."""
    import signal
    import threading

    from daq.alerts.alerter import Alerter
    from db.engine import open_catalog

    configure_logs(log_format)
    settings = _settings()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    catalog = open_catalog(settings.resolved_catalog_url, upgrade=True)
    try:
        alerter = Alerter.from_settings(settings, catalog, stop)
        if once:
            typer.echo(f"{alerter.check()} alert(s) sent")
        else:
            alerter.run()
    finally:
        catalog.close()
