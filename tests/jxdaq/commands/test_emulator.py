"""`jxdaq emulator render`: a tone of a .syx file to WAV, the batch renderer's audio exactly;
a tone the file does not hold, or a file that is no SysEx, is one line naming it."""

from __future__ import annotations

import re

import numpy as np
import soundfile
from typer.testing import CliRunner

from daq.emulator.render import Note, render
from firmware_protocol.sysex import jx8p_bank
from firmware_protocol.tone import INIT_TONE
from jxdaq.commands.emulator import app

TONES = [INIT_TONE, INIT_TONE.replace(vcf_freq=30)]


def test_render_writes_the_chosen_tone_as_the_renderer_plays_it(tmp_path):
    bank = tmp_path / "bank.syx"
    bank.write_bytes(jx8p_bank(TONES))
    out = tmp_path / "takes" / "second.wav"
    args = ["render", "--syx", bank, "--tone", 2, "--note", 57, "--hold", 0.2, "--release", 0.1,
            "--sample-rate", 48000, "--seed", 3, "--out", out]  # fmt: skip
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "key 57: 0.30 s" in result.output and str(out) in result.output
    audio, rate = soundfile.read(out, dtype="float32")
    expected = render([TONES[1]], Note(57, 100), 0.2, 0.1, 48000, seed=3)[0]
    assert rate == 48000
    np.testing.assert_array_equal(audio, expected)


def test_a_tone_past_the_end_and_a_file_that_is_no_sysex_are_named(tmp_path):
    bank = tmp_path / "bank.syx"
    bank.write_bytes(jx8p_bank(TONES))
    past = CliRunner().invoke(app, ["render", "--syx", str(bank), "--tone", "3",
                                    "--out", str(tmp_path / "x.wav")])  # fmt: skip
    said = re.sub(r"[\s│]+", " ", past.output)  # rich wraps the message in a box
    assert past.exit_code == 2 and "--tone" in said and "holds 2 tones; got 3" in said
    junk = tmp_path / "junk.syx"
    junk.write_bytes(b"not sysex")
    bad = CliRunner().invoke(app, ["render", "--syx", str(junk), "--out", str(tmp_path / "x.wav")])
    assert bad.exit_code == 1 and bad.output.startswith("error: ")
    assert not (tmp_path / "x.wav").exists()
