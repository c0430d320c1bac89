"""``jxdaq syx``: look into Roland SysEx (.syx) banks of the JX-8P and JX-10/MKS-70.

``show`` prints a bank as tables; ``convert`` turns a bank into a board stream and back, or
a JX-10/MKS-70 bank between the stock format and Vecoven OS4's.
The codecs are :mod:`firmware_protocol.sysex` and :mod:`firmware_protocol.soundboard`; every
parameter name, label and position comes from :mod:`firmware_protocol.parameters`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from firmware_protocol.sysex import BankEntry
    from firmware_protocol.tone import Tone

app = typer.Typer(
    help="Read Roland SysEx (.syx) banks of the JX-8P and JX-10/MKS-70.",
    no_args_is_help=True,
)

#: Tone table columns: heading -> the tone parameters shown together in that cell.
TONE_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DCO1", ("DCO1 RANGE", "DCO1 WF")),
    ("DCO2", ("DCO2 RANGE", "DCO2 WF")),
    ("XMOD", ("DCO XMOD",)),
    ("VCF", ("VCF FREQ",)),
    ("RES", ("VCF RES",)),
    ("ENV", ("VCF ENV",)),
    ("LFO", ("LFO WF",)),
    ("CHORUS", ("CHORUS",)),
)
#: Patch table columns after the two tones: heading -> patch parameter.
PATCH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("BAL", "A/B BALANCE"),
    ("VOL", "TOTAL VOLUME"),
    ("BEND", "BEND RANGE"),
    ("CHASE", "CHASE PLAY"),
)
#: Tone numbers from here on are the JX-10/MKS-70's ROM tones, never in a dump.
FIRST_ROM_TONE = 50
PATCH_BANKS = "ABCDEFGH"


def _tone_position(position: int | None) -> str:
    """Panel numbering starts at 1; an APR without a PGR is an edit buffer."""
    return "edit" if position is None else str(position + 1)


def _patch_position(entry: BankEntry) -> str:
    """Patches as on the panel: A-1 .. H-8 (internal), cart A-1 .. (cartridge)."""
    from firmware_protocol.sysex import CARTRIDGE

    if entry.position is None:
        return "edit"
    cartridge = entry.position >= 64 or entry.group == CARTRIDGE
    number = entry.position % 64
    label = f"{PATCH_BANKS[number // 8]}-{number % 8 + 1}"
    return f"cart {label}" if cartridge else label


def _os4_cell(tone: Tone) -> str:
    """The OS4-added settings a stock tone would not have, e.g. ``PWM2 WIDTH 0``."""
    from firmware_protocol.parameters import OS4_ADDED

    assert tone.os4 is not None
    changed = [p for p in OS4_ADDED if tone.os4[p.apr_index] != p.neutral]
    return ", ".join(f"{p.name} {p.label(tone.os4[p.apr_index])}" for p in changed) or "-"


def _tone_table(title: str, entries: list[BankEntry]) -> Table:
    from rich import box
    from rich.table import Table

    from firmware_protocol.parameters import lookup

    os4 = any(entry.item.os4 is not None for entry in entries)
    table = Table(title=title, box=box.SIMPLE_HEAD)
    headings = ("#", "NAME", *(heading for heading, _ in TONE_COLUMNS))
    for heading in (*headings, "OS4 ADDED") if os4 else headings:
        table.add_column(heading, no_wrap=True)
    for entry in entries:
        tone = entry.item
        cells = [
            " ".join(lookup(name).label(tone[name]) for name in names) for _, names in TONE_COLUMNS
        ]
        if os4:
            cells.append(_os4_cell(tone) if tone.os4 is not None else "")
        table.add_row(_tone_position(entry.position), tone.name, *cells)
    return table


def _patch_table(title: str, entries: list[BankEntry], tone_names: dict[int, str]) -> Table:
    from rich import box
    from rich.table import Table

    from firmware_protocol.parameters import lookup_patch

    def tone_cell(number: int) -> str:
        if number >= FIRST_ROM_TONE:
            return f"{number + 1} (ROM)"
        return f"{number + 1} {tone_names.get(number, '?')}"

    table = Table(title=title, box=box.SIMPLE_HEAD)
    for heading in ("#", "NAME", "UPPER TONE", "LOWER TONE", *(h for h, _ in PATCH_COLUMNS)):
        table.add_column(heading, no_wrap=True)
    for entry in entries:
        patch = entry.item
        cells = []
        for _, name in PATCH_COLUMNS:
            parameter = lookup_patch(name)
            value = patch.value(parameter)
            cells.append("?" if value is None else parameter.label(value))
        table.add_row(
            _patch_position(entry),
            patch.name,
            tone_cell(patch.upper_tone),
            tone_cell(patch.lower_tone),
            *cells,
        )
    return table


@app.callback()
def syx() -> None:
    """Read Roland SysEx (.syx) banks of the JX-8P and JX-10/MKS-70."""


@app.command()
def show(
    file: Annotated[Path, typer.Argument(help="A .syx file: JX-8P bank, MKS-70 bulk dump, ...")],
) -> None:
    """Print the tones (and MKS-70 patches) of a .syx file as tables."""
    from rich.console import Console

    from daq.banks import BankError, read_syx_file
    from firmware_protocol.sysex import SysExError, parse_syx

    try:
        parsed = parse_syx(read_syx_file(file), str(file))
    except (SysExError, BankError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    tones, patches = list(parsed.tones), list(parsed.patches)
    if not tones and not patches:
        typer.echo(f"error: {file}: no tones or patches (only IPR/PGR messages)", err=True)
        raise typer.Exit(1)
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the tables into 80 columns
        console = Console(width=120)
    first = parsed.entries[0]
    firmware = " Vecoven OS4" if first.firmware.name == "OS4" else ""
    origin = f"{first.device.label}{firmware}, MIDI channel {first.channel + 1}"
    if tones:
        console.print(_tone_table(f"{file.name}: {len(tones)} tones ({origin})", tones))
    if patches:
        tone_names = {e.position: e.name for e in tones if e.position is not None}
        title = f"{file.name}: {len(patches)} patches ({origin})"
        console.print(_patch_table(title, patches, tone_names))


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="A .syx bank, or a voice-board byte stream")],
    target: Annotated[Path, typer.Argument(help="Output: .syx bank or board stream (.bin)")],
    upper: Annotated[int, typer.Option(help="Bank tone (from 1) for the upper board")] = 1,
    lower: Annotated[
        int | None, typer.Option(help="Bank tone (from 1) for the lower board")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(help="From .syx to .syx: the target format, 'stock' or 'os4' (Vecoven)"),
    ] = None,
) -> None:
    """Convert between a .syx bank and a voice-board byte stream, by the target's suffix.

    To a stream (any suffix but .syx): the chosen tones as whole-board loads, the way the
    stock assigner sends them. To a .syx: the tones the boards hold at the end of the
    stream, as a JX-8P bank (upper board first, then lower). From a .syx to a .syx with
    ``--to``: the JX-10/MKS-70 bank in the stock or the Vecoven OS4 format, with one line
    per setting the target format cannot hold.
    """
    from daq.banks import BankError, read_syx_file
    from firmware_protocol.soundboard import Board, decode_tones, encode_init, encode_tones
    from firmware_protocol.sysex import SysExError, jx8p_bank, parse_syx

    if to is not None:
        _convert_format(source, target, to)
        return
    if target.suffix.lower() == ".syx":
        try:
            data = source.read_bytes()
        except OSError as error:
            raise _fail(str(error)) from None
        tones = decode_tones(data)
        if not tones:
            raise _fail(f"{source}: no board received a whole tone (44 parameters)")
        ordered = [tones[b] for b in (Board.UPPER, Board.LOWER) if b in tones]
        target.write_bytes(jx8p_bank(ordered))
        typer.echo(f"{target}: {len(ordered)} tones")
        return
    try:
        bank = [entry.item for entry in parse_syx(read_syx_file(source), str(source)).tones]
    except (SysExError, BankError) as error:
        raise _fail(str(error)) from None
    chosen = {Board.UPPER: upper} | ({Board.LOWER: lower} if lower is not None else {})
    for board, number in chosen.items():
        if not 1 <= number <= len(bank):
            raise _fail(f"--{board.name.lower()} {number}: the bank has tones 1..{len(bank)}")
    stream = encode_init() + encode_tones({b: bank[n - 1] for b, n in chosen.items()})
    target.write_bytes(stream)
    typer.echo(f"{target}: {len(stream)} bytes")


def _convert_format(source: Path, target: Path, to: str) -> None:
    """``convert --to``: every message in the other firmware's format; losses one a line."""
    from daq.banks import BankError, read_syx_file
    from firmware_protocol.convert import ConversionError, convert
    from firmware_protocol.sysex import Firmware, SysExError, parse_syx, write_syx

    formats = {"stock": Firmware.STOCK, "os4": Firmware.OS4}
    if to.lower() not in formats:
        raise _fail(f"--to {to}: unknown format; allowed stock, os4")
    try:
        parsed = parse_syx(read_syx_file(source), str(source))
        messages, lost = convert(parsed.messages, formats[to.lower()])
    except (SysExError, BankError, ConversionError) as error:
        message = f"{source}: {error}" if isinstance(error, ConversionError) else str(error)
        raise _fail(message) from None
    target.write_bytes(write_syx(messages))
    for line in lost:
        typer.echo(f"lost: {line}", err=True)
    typer.echo(f"{target}: {len(messages)} messages ({to.lower()}), {len(lost)} settings lost")
