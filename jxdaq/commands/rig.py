"""``jxdaq rig``: see the rigs' condition, measure a rig's latency at the bench, clear a fault,
ask for a new drift baseline.

``calibrate`` opens the rig's own devices, so it refuses while the rig's worker looks alive
(its heartbeat is fresh): two processes playing into one synth would spoil each other's
takes. A running worker is asked to calibrate through the API instead
(``POST /api/v1/rigs/NAME/calibrate``); it measures at its next take boundary.
``rebaseline`` goes through the worker the same way (a ``rig.calibrate`` event), since a
baseline is captured with the rig's own devices.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jxdaq.options import given

if TYPE_CHECKING:
    from collections.abc import Iterator

    from db.catalog import Catalog

app = typer.Typer(help="Rig status, calibration and faults.", no_args_is_help=True)

RigArgument = Annotated[str, typer.Argument(help="Rig name (see jxdaq rig list)")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@contextmanager
def _catalog() -> Iterator[Catalog]:
    """The local catalog; catalog errors (an unknown rig, ...) become one line."""
    from daq.settings import get_settings
    from db.engine import open_catalog
    from db.records import CatalogError

    catalog = open_catalog(get_settings().resolved_catalog_url)
    try:
        yield catalog
    except CatalogError as error:
        raise _fail(str(error)) from None
    finally:
        catalog.close()


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _table(rows: list[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell; the last one (free text) is left as it is."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]]).rstrip()
        for row in rows
    )


@app.command("list")
def list_rigs() -> None:
    """Every registered rig: status (and why), last heartbeat, latency, newest drift."""
    from daq.api.rigstate import rig_states
    from db.schema import utcnow

    with _catalog() as catalog:
        states = rig_states(catalog, utcnow())
    if not states:
        typer.echo("no rigs registered (a worker registers its rig when it starts)")
        return
    rows = [("RIG", "STATUS", "HEARTBEAT", "LATENCY", "DRIFT", "REASON")]
    for state in states:
        latency = "-" if state.latency_s is None else f"{state.latency_s * 1000:.1f} ms"
        drift = (
            "-"
            if state.drift is None or state.drift.value is None
            else f"{state.drift.value:.2f} dB"
        )
        rows.append(
            (
                state.name,
                state.status.value,
                _age(state.heartbeat_age_s),
                latency,
                drift,
                state.status_reason or "",
            )
        )
    typer.echo(_table(rows))


@app.command()
def calibrate(
    name: RigArgument,
    rigs_file: Annotated[
        Path | None, typer.Option(help="Rig definitions (TOML)", envvar="JXDAQ_RIGS_FILE")
    ] = None,
    attempts: Annotated[
        int | None,
        typer.Option(min=1, max=50, help="Notes to time; default: measure_latency's"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Calibrate even if the rig's worker looks alive")
    ] = False,
) -> None:
    """Measure the rig's round-trip latency with a test tone and store it as its compensation."""
    from daq.api.rigstate import STALE_AFTER_S
    from daq.audio.ring import AudioOverrun, AudioTimeout
    from daq.calibration import CalibrationError
    from daq.instruments.base import InstrumentError
    from daq.rigs import RigConfigError, find_rig, open_rig
    from daq.rigs.calibration import latency_record
    from db.records import NotFound
    from db.schema import utcnow

    try:
        definition = find_rig(name, rigs_file)
    except RigConfigError as error:
        raise _fail(str(error)) from None
    if definition.accelerated:
        raise _fail(f"rig {name!r} is the emulator rendered in-process: it has no latency")
    if definition.latency_s is not None:
        raise _fail(
            f"rig {name!r}: the rigs file fixes its latency (latency_s = {definition.latency_s}); "
            "remove latency_s there to calibrate"
        )
    with _catalog() as catalog:
        try:
            known = catalog.get_rig(name)
        except NotFound:
            known = None
        if known is not None and known.last_heartbeat is not None and not force:
            age = (utcnow() - known.last_heartbeat).total_seconds()
            if age < STALE_AFTER_S:
                raise _fail(
                    f"rig {name!r} is {known.status} with a heartbeat {age:.0f} s ago: its worker "
                    "looks alive and would capture while this plays; ask it to calibrate "
                    f"(POST /api/v1/rigs/{name}/calibrate), stop it, or pass --force"
                )
        rig = open_rig(definition, catalog)
        try:
            rig.open()
            typer.echo(
                f"rig {name}: timing notes through "
                f"{definition.instrument_description} and {definition.audio_description} ..."
            )
            result = rig.measure_latency(**given(attempts=attempts))
        except (
            RigConfigError,
            InstrumentError,
            CalibrationError,
            AudioTimeout,
            AudioOverrun,
        ) as error:
            raise _fail(str(error)) from None
        finally:
            rig.close()
        if known is None:
            audio = None if definition.audio_device is None else str(definition.audio_device)
            catalog.upsert_rig(name, definition.transport, audio_device=audio,
                               config=definition.model_dump(mode="json"))  # fmt: skip
        rig.record_latency(
            result.latency_s, latency_record(result, rig.sample_rate, "jxdaq rig calibrate")
        )
    typer.echo(
        f"rig {name}: latency {result.latency_s * 1000:.1f} ms "
        f"(spread {result.jitter_s * 1000:.1f} ms over {result.attempts} notes), stored"
    )


@app.command("clear-fault")
def clear_fault(
    name: RigArgument,
    reason: Annotated[
        str | None, typer.Option(help="What was fixed (kept in the rig's log)")
    ] = None,
) -> None:
    """Mark a faulted rig idle again once a person has fixed it."""
    import getpass

    from db.schema import RigStatus

    with _catalog() as catalog:
        rig = catalog.get_rig(name)
        if rig.status != RigStatus.FAULTED:
            raise _fail(f"rig {name!r} is {rig.status}, not faulted")
        why = f"fault cleared by {getpass.getuser()}" + (f": {reason}" if reason else "")
        catalog.set_rig_status(name, RigStatus.IDLE, why)
    typer.echo(f"rig {name}: fault cleared (was: {rig.status_reason or 'no reason given'})")


@app.command()
def rebaseline(
    name: RigArgument,
    reason: Annotated[
        str | None, typer.Option(help="What changed on the rig (kept in its log)")
    ] = None,
) -> None:
    """Forget the rig's drift baseline (after re-tuning it); its worker captures a new one."""
    import getpass

    from daq.rigs.calibration import request_rebaseline

    with _catalog() as catalog:
        request_rebaseline(catalog, name, getpass.getuser(), reason)
    typer.echo(
        f"rig {name}: drift baseline cleared" + (f" ({reason})" if reason else "") + "; its "
        "worker captures the reference tone as the new baseline at its next batch boundary "
        "(a worker started later: at its first drift check)"
    )
