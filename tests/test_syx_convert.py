"""``jxdaq syx convert``: JX-8P banks to voice-board streams and back."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from daq.commands.syx import app
from firmware_protocol.soundboard import Board, decode_tones, parse
from firmware_protocol.sysex import read_syx

runner = CliRunner()


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
