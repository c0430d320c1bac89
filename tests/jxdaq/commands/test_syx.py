"""``jxdaq syx show`` and ``jxdaq syx convert``: real dumps in, one clear line on bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firmware_protocol.soundboard import Board, decode_tones, parse
from firmware_protocol.sysex import read_syx
from jxdaq.commands.syx import app

runner = CliRunner()


@pytest.fixture(scope="session")
def stock_dump(shared_data: Path) -> Path:
    return shared_data / "mks70" / "mks70-bulk-dump-stock.syx"


# -- show -----------------------------------------------------------------------------------


def test_show_lists_a_jx8p_bank_with_switch_labels(jx8p_banks):
    factory = next(p for p in jx8p_banks if p.name.startswith("factory"))
    result = runner.invoke(app, ["show", str(factory)])
    assert result.exit_code == 0, result.output
    assert "PIANO 1" in result.output and "32 tones" in result.output
    tone = read_syx(factory).entries[0].item
    assert tone.labels()["DCO1 RANGE"] in result.output


def test_show_lists_mks70_patches_with_their_tones(stock_dump):
    result = runner.invoke(app, ["show", str(stock_dump)])
    assert result.exit_code == 0, result.output
    assert "64 patches" in result.output and "HEAVEN BRASS" in result.output
    assert "A-1" in result.output and "H-8" in result.output


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["missing.syx", "garbage.syx", "fifo.syx", "zero", "big.syx"])
def test_show_fails_with_one_line_and_no_traceback(tmp_path, name):
    """Nor hangs on a FIFO, nor reads a device or a huge file without end (issue 11, 8)."""
    path = tmp_path / name
    if name == "garbage.syx":
        path.write_bytes(b"\xf0\x41\x35\x00\x21\x20\x01 PIANO")
    elif name == "fifo.syx":
        os.mkfifo(path)
    elif name == "zero":
        path = Path("/dev/zero")
    elif name == "big.syx":
        with open(path, "wb") as big:
            big.truncate(1 << 30)
    result = runner.invoke(app, ["show", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "Traceback" not in result.output


# -- convert --------------------------------------------------------------------------------


@pytest.mark.parametrize(("upper", "lower"), [(1, None), (3, 5), (32, 1)])
def test_bank_to_stream_loads_the_chosen_tones(jx8p_banks, tmp_path, upper, lower):
    bank = jx8p_banks[0]
    stream = tmp_path / "load.bin"
    args = ["convert", str(bank), str(stream), "--upper", str(upper)]
    args += ["--lower", str(lower)] if lower else []
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    tones = [entry.item for entry in read_syx(bank).tones]
    held = decode_tones(stream.read_bytes())
    assert held[Board.UPPER].values() == tones[upper - 1].values()
    if lower:
        assert held[Board.LOWER].values() == tones[lower - 1].values()
    assert parse(stream.read_bytes()).dropped == 0


def test_stream_to_bank_and_back_keeps_every_parameter(shared_data, tmp_path):
    captured = shared_data / "soundboard" / "assigner-stream-two-tones.bin"
    bank = tmp_path / "boards.syx"
    assert runner.invoke(app, ["convert", str(captured), str(bank)]).exit_code == 0
    held = decode_tones(captured.read_bytes())
    written = [entry.item for entry in read_syx(bank).tones]
    assert [t.values() for t in written] == [held[Board.UPPER].values(), held[Board.LOWER].values()]


def test_out_of_range_tone_number_is_a_clear_error(jx8p_banks, tmp_path):
    result = runner.invoke(
        app, ["convert", str(jx8p_banks[0]), str(tmp_path / "x.bin"), "--upper", "33"]
    )
    assert result.exit_code == 1
    assert "--upper 33: the bank has tones 1..32" in result.output
    assert not (tmp_path / "x.bin").exists()


def test_a_stream_without_a_whole_tone_is_refused(tmp_path):
    partial = tmp_path / "partial.bin"
    partial.write_bytes(bytes([0xF9, 0x80, 0x20, 0x97, 0x40]))
    result = runner.invoke(app, ["convert", str(partial), str(tmp_path / "out.syx")])
    assert result.exit_code == 1
    assert "no board received a whole tone" in result.output


# -- between the stock and the Vecoven OS4 formats ------------------------------------------


def test_os4_dump_to_stock_names_each_loss_and_keeps_every_stock_setting(shared_data, tmp_path):
    source = shared_data / "mks70" / "mks70-bulk-dump-vecoven-os4.syx"
    target = tmp_path / "stock.syx"
    result = runner.invoke(app, ["convert", str(source), str(target), "--to", "stock"])
    assert result.exit_code == 0, result.output
    lost = [line for line in result.output.splitlines() if line.startswith("lost: ")]
    # 62 of 64 patches hold a 49th byte stock has no place for; 5 tones a pulse width of 0
    assert len(lost) == 62 + 5 and "Traceback" not in result.output
    assert "lost: byte 4576: tone 5 'SAXOPHONES': PWM2 WIDTH: 0 (stock has none" in result.output
    original, converted = read_syx(source), read_syx(target)
    assert [e.item.values() for e in converted.tones] == [e.item.values() for e in original.tones]
    assert [e.item.name for e in converted.patches] == [e.item.name for e in original.patches]
    assert all(e.item.os4 is None for e in converted.tones)
    # and back: what stock could hold comes back byte for byte
    again = tmp_path / "os4.syx"
    result = runner.invoke(app, ["convert", str(target), str(again), "--to", "os4"])
    assert result.exit_code == 0 and "0 settings lost" in result.output
    back = [e.item.os4 for e in read_syx(again).tones]
    kept = [e.item.os4 for e in original.tones if not e.item.stock_losses()]
    assert len(kept) == 45 and all(body in back for body in kept)


def test_stock_dump_to_os4_reads_back_as_the_same_tones(shared_data, tmp_path):
    source = shared_data / "mks70" / "mks70-bulk-dump-stock.syx"
    target = tmp_path / "os4.syx"
    result = runner.invoke(app, ["convert", str(source), str(target), "--to", "os4"])
    assert result.exit_code == 0, result.output
    converted = read_syx(target)
    assert all(e.firmware.name == "OS4" for e in converted.entries)
    original = read_syx(source)
    # the same settings; an OS4 BLD keeps a switch as its position (off-grid bytes go canonical)
    assert [e.item.labels() for e in converted.tones] == [e.item.labels() for e in original.tones]
    assert [e.item.upper_tone for e in converted.patches] == [
        e.item.upper_tone for e in original.patches
    ]


@pytest.mark.parametrize(
    ("to", "expected"),
    [("os5", "--to os5: unknown format; allowed stock, os4"), ("os4", "JX-10/MKS-70 only")],
)
def test_a_conversion_that_cannot_be_done_is_one_error_line(jx8p_banks, tmp_path, to, expected):
    target = tmp_path / "out.syx"
    result = runner.invoke(app, ["convert", str(jx8p_banks[0]), str(target), "--to", to])
    assert result.exit_code == 1 and expected in result.output
    assert result.output.count("\n") == 1 and not target.exists()


def test_show_lists_os4_tones_with_what_os4_adds(shared_data):
    source = shared_data / "mks70" / "mks70-bulk-dump-vecoven-os4.syx"
    result = runner.invoke(app, ["show", str(source)])
    assert result.exit_code == 0, result.output
    assert "Vecoven OS4" in result.output and "OS4 ADDED" in result.output
    assert "50 tones" in result.output and "64 patches" in result.output
    assert "SAXOPHONES" in result.output and "PWM2 WIDTH 0" in result.output
