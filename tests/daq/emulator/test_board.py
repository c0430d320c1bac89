"""The board emulator's byte-level behaviour: selects, tone state, notes, controls, blocks.

Expected sounds come from reasons outside the emulator: equal temperament for pitch, an
octave for a 12-key step, silence where no note was started, and the firmware's own
replay (another reading of the protocol) for the tone a board holds.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daq.emulator.assigner import Assigner
from daq.emulator.board import BoardEmulator, blocks, mix
from daq.emulator.render import Note, render
from firmware_protocol.parameters import lookup_os4
from firmware_protocol.soundboard import (
    Board,
    encode_bend,
    encode_hold,
    encode_note_off,
    encode_note_on,
    encode_os4_parameter,
    encode_select,
    encode_tone,
    encode_tones,
    replay,
)
from firmware_protocol.sysex import TONE_A, Device, ToneAPR
from firmware_protocol.tone import INIT_TONE

FS = 44100
MIDDLE_C = bytes([0xF9, 0xC0, 0x3C, 0x64])  # upper board, voice 0, key 60, velocity 100
SILENT = 1e-6  # peak of a board with no note: nothing but rounding


@pytest.fixture(scope="module")
def stream(shared_data: Path) -> bytes:
    return (shared_data / "soundboard/assigner-stream-two-tones.bin").read_bytes()


def played(data: bytes, seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    """Feed ``data`` to a fresh emulator, then render: float32 [2, frames] (lower, upper)."""
    emulator = BoardEmulator(FS, seed)
    emulator.feed(data)
    return emulator.process(int(seconds * FS))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def peak_hz(x: np.ndarray, fs: int = FS) -> float:
    """Frequency of the strongest spectral peak, refined by parabolic interpolation."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    i = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[i - 1 : i + 2] + 1e-30)
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * fs / len(x)


def semitones_between(low: np.ndarray, high: np.ndarray, bins_per_semitone: int = 8) -> float:
    """How far ``high``'s spectrum sits above ``low``'s, by log-frequency correlation.

    Independent of what the partials are: a sound moved up by a key slides along a
    log-frequency axis. (Octaves would be ambiguous: a harmonic comb moved an octave up
    lands on its own even partials; a semitone step is not.)
    """
    bins = 12 * bins_per_semitone

    def log_spectrum(x: np.ndarray) -> np.ndarray:
        spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        freqs = np.fft.rfftfreq(len(x), 1 / FS)
        keep = (freqs >= 40.0) & (freqs < 8000.0)
        out = np.zeros(int(np.log2(8000 / 40) * bins) + 1)
        np.add.at(out, (np.log2(freqs[keep] / 40.0) * bins).astype(int), spectrum[keep] ** 2)
        return np.sqrt(out)

    a, b = log_spectrum(low), log_spectrum(high)
    lags = range(-3 * bins_per_semitone, 3 * bins_per_semitone + 1)
    scores = [np.dot(a[max(0, -k) : len(a) - max(0, k)], b[max(0, k) : len(b) - max(0, -k)])
              for k in lags]  # fmt: skip
    return lags[int(np.argmax(scores))] / bins_per_semitone


# -- the captured stock stream ------------------------------------------------------------------


def test_the_stream_then_f9_c0_3c_64_sounds_the_upper_board_only(stream: bytes):
    emulator = BoardEmulator(FS)
    emulator.feed(stream + MIDDLE_C)
    lower, upper = emulator.process(FS // 2)
    assert np.max(np.abs(lower)) < SILENT, "the lower board got no note and must be silent"
    assert rms(upper) > 1e-3, f"upper board RMS {rms(upper):.2e}: its tone is not sounding"
    assert emulator.sounding(Board.UPPER).tolist() == [True] + [False] * 5
    assert not emulator.sounding(Board.LOWER).any()


def test_the_upper_tone_sounds_at_middle_c(stream: bytes):
    """Exactly the upper tone played alone at key 60, velocity 100 by the batch renderer."""
    emulator = BoardEmulator(FS, seed=3)
    emulator.feed(stream + MIDDLE_C)
    upper = emulator.process(FS // 2)[1]
    alone = render([emulator.tone(Board.UPPER)], Note(60, 100), 0.5, 0.0, FS, seed=3)[0]
    np.testing.assert_allclose(upper, alone, atol=1e-6)


def test_the_key_byte_moves_the_pitch_in_semitones(stream: bytes):
    at = {key: played(stream + MIDDLE_C[:2] + bytes([key, 0x64]))[1] for key in (59, 60, 61)}
    assert semitones_between(at[60], at[61]) == pytest.approx(1.0, abs=1 / 8)
    assert semitones_between(at[59], at[60]) == pytest.approx(1.0, abs=1 / 8)


def test_each_board_holds_the_tone_the_stream_gave_it(stream: bytes):
    emulator = BoardEmulator(FS)
    emulator.feed(stream)
    expected = replay(stream)
    for board in (Board.LOWER, Board.UPPER):
        assert emulator.tone(board) == expected[board].tone()
        assert emulator.controls(board) == expected[board].controls
    assert emulator.tone(Board.LOWER) != emulator.tone(Board.UPPER)


def test_the_cut_short_note_on_in_the_stream_starts_nothing(stream: bytes):
    """The stream holds ``F5 C0 00 F4``: a note on cut short, which the 8031 drops."""
    assert bytes.fromhex("f5c000f4") in stream
    emulator = BoardEmulator(FS)
    emulator.feed(stream)
    assert emulator.parser.dropped >= 1
    assert not emulator.sounding(Board.LOWER).any() and not emulator.sounding(Board.UPPER).any()
    assert np.max(np.abs(emulator.process(FS // 4))) < SILENT


def test_a_tone_over_midi_sysex_sounds_sample_identical(stream: bytes):
    """The upper tone as an APR (VCA LEVEL 0x7F, as PROTOCOL.md says the tone held) and a
    MIDI note on through the emulated assigner: the same samples as the board's bytes."""
    over_bytes = played(stream + MIDDLE_C, seconds=1.0, seed=7)
    assigner = Assigner()
    tone = replay(stream)[Board.UPPER].tone().replace(vca_level=0x7F)
    midi = (
        assigner.power_on()
        + assigner.midi(ToneAPR(Device.MKS70, 0, TONE_A, tone).encode())
        + assigner.midi(bytes([0x90, 60, 100]))
    )
    over_midi = played(midi, seconds=1.0, seed=7)
    assert rms(over_midi[1]) > 1e-3
    np.testing.assert_array_equal(over_midi, over_bytes)


# -- selects, notes, controls ------------------------------------------------------------------

INIT_BOTH = encode_tones({Board.LOWER: INIT_TONE, Board.UPPER: INIT_TONE})


@pytest.mark.parametrize(
    ("select", "sounding"),
    [(Board.LOWER, (True, False)), (Board.UPPER, (False, True)), (Board.BOTH, (True, True))],
)
def test_select_chooses_which_board_plays(select: Board, sounding: tuple[bool, bool]):
    lower, upper = played(INIT_BOTH + encode_select(select) + encode_note_on(2, 69, 100))
    assert (rms(lower) > 1e-3, rms(upper) > 1e-3) == sounding


def test_init_tone_plays_equal_temperament_a440():
    """INIT is one 8' saw at centre tune: key 69 is A = 440 Hz (strongest partial)."""
    upper = played(INIT_BOTH + encode_select(Board.UPPER) + encode_note_on(0, 69, 100), 1.0)[1]
    assert peak_hz(upper[FS // 4 :]) == pytest.approx(440.0, rel=0.003)


def test_voices_past_five_reach_no_voice():
    emulator = BoardEmulator(FS)
    emulator.feed(INIT_BOTH + bytes([0xF4, 0xC6, 60, 100, 0xCF, 62, 100]))
    assert emulator.ignored == 2
    assert np.max(np.abs(emulator.process(FS // 4))) < SILENT


def test_a_note_on_cut_short_by_a_status_byte_is_dropped():
    emulator = BoardEmulator(FS)
    emulator.feed(INIT_BOTH + bytes([0xF9, 0xC0, 60, 0xC1, 64, 100]))
    assert emulator.sounding(Board.UPPER).tolist() == [False, True, False, False, False, False]


def test_a_parameter_change_acts_on_a_sounding_note():
    emulator = BoardEmulator(FS)
    emulator.feed(INIT_BOTH + encode_select(Board.UPPER) + encode_note_on(0, 60, 100))
    before = emulator.process(FS // 4)[1]
    emulator.feed(bytes([0xF9, 0x97, 0x00]))  # VCF FREQ to its lowest
    emulator.process(FS // 20)
    after = emulator.process(FS // 4)[1]
    assert rms(after) < 0.1 * rms(before)
    assert emulator.tone(Board.UPPER)["VCF FREQ"] == 0


def test_bend_up_raises_the_pitch():
    note = INIT_BOTH + encode_select(Board.UPPER) + encode_note_on(0, 69, 100)
    straight = played(note, 1.0)[1][FS // 4 :]
    bent = played(note + encode_bend(127), 1.0)[1][FS // 4 :]
    assert peak_hz(bent) > peak_hz(straight) * 2 ** (1 / 24)  # more than a quarter tone


def test_hold_keeps_a_released_note_until_the_pedal_is_up():
    emulator = BoardEmulator(FS)
    emulator.feed(INIT_BOTH + encode_select(Board.UPPER) + encode_hold(True))
    emulator.feed(encode_note_on(0, 60, 100) + encode_note_off(0, 60))
    emulator.process(FS)  # INIT releases within a second; a held note must not
    assert emulator.sounding(Board.UPPER)[0]
    emulator.feed(encode_hold(False))
    emulator.process(2 * FS)
    assert not emulator.sounding(Board.UPPER)[0]


def test_silence_releases_every_voice():
    emulator = BoardEmulator(FS)
    emulator.feed(INIT_BOTH + bytes([0xF4, 0xC0, 60, 100, 0xC3, 64, 100, 0xB6, 0x7F]))
    emulator.process(2 * FS)
    assert not emulator.sounding(Board.LOWER).any() and not emulator.sounding(Board.UPPER).any()


# -- streaming ---------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(0, 1000), max_size=12))
def test_any_chunking_of_the_bytes_gives_the_same_board(stream: bytes, cuts: list[int]):
    data = stream + MIDDLE_C
    whole = BoardEmulator(FS)
    whole.feed(data)
    chunked = BoardEmulator(FS)
    edges = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    for start, end in itertools.pairwise(edges):
        chunked.feed(data[start:end])
    for board in (Board.LOWER, Board.UPPER):
        assert chunked.tone(board) == whole.tone(board)
        assert chunked.controls(board) == whole.controls(board)
    np.testing.assert_array_equal(chunked.process(2048), whole.process(2048))


def test_blocks_are_the_same_audio_in_any_block_size(stream: bytes):
    one = BoardEmulator(FS)
    one.feed(stream + MIDDLE_C)
    many = BoardEmulator(FS)
    many.feed(stream + MIDDLE_C)
    pieces = [mix(many.process(n)) for n in (1, 255, 1024, 3000, 4912)]
    np.testing.assert_allclose(np.concatenate(pieces), mix(one.process(9192)), atol=1e-6)


def test_realtime_blocks_are_not_handed_out_before_they_are_due():
    emulator = BoardEmulator(FS)
    stream = blocks(emulator, block_frames=FS // 20, realtime=True)
    start = time.monotonic()
    for _ in range(4):
        next(stream)
    assert time.monotonic() - start >= 4 / 20 - 0.005  # a lower bound: sleep is never early


def test_fast_blocks_are_mono_and_bounded():
    emulator = BoardEmulator(FS)
    emulator.feed(
        INIT_BOTH + bytes([0xF4]) + b"".join(encode_note_on(v, 60, 127) for v in range(6))
    )
    block = next(blocks(emulator, 512))
    assert block.shape == (512,) and block.dtype == np.float32
    assert np.max(np.abs(block)) <= 1.0


def test_the_board_accepts_the_os4_page_and_holds_an_os4_tone():

    emulator = BoardEmulator(FS)
    tone = INIT_TONE.replace_os4(pwm1_width=100, lfo2_rate=40)
    emulator.feed(encode_tones({Board.UPPER: tone}))
    held = emulator.tone(Board.UPPER)
    assert held.os4 is not None and emulator.ignored == 0
    assert held.os4_values()["PWM1 WIDTH"] == 100 and held.os4_values()["LFO2 RATE"] == 40
    assert held.values() == tone.values()
    # a live change, one parameter behind the prefix
    emulator.feed(encode_select(Board.UPPER) + encode_os4_parameter(lookup_os4("lfo2_rate"), 9))
    assert emulator.tone(Board.UPPER).os4_values()["LFO2 RATE"] == 9
    assert emulator.tone(Board.LOWER).os4 is None  # the lower board was not selected
    # a page or code no parameter uses is ignored, not guessed at
    emulator.feed(bytes([0xFD, 0x02, 0x80, 0x10, 0xFD, 0x01, 0xBF, 0x10]))
    assert emulator.ignored == 2
    emulator.feed(MIDDLE_C)
    assert np.abs(mix(emulator.process(4096))).max() > 0.01  # it still plays


_FIRST_NOTE = """
from numba.core.registry import CPUDispatcher
from daq.emulator import dsp
from daq.emulator.board import BoardEmulator, warm_up
from firmware_protocol.soundboard import Board, encode_note_off, encode_note_on, encode_select
from firmware_protocol.soundboard import encode_tone
from firmware_protocol.tone import INIT_TONE

def compiled():
    kernels = [k for k in vars(dsp).values() if isinstance(k, CPUDispatcher)]
    return {k.__name__: len(k.signatures) for k in kernels}

warm_up(44100, 256)
before = compiled()
board = BoardEmulator(44100, seed=7)
board.feed(encode_select(Board.LOWER) + encode_tone(INIT_TONE) + encode_note_on(2, 60, 90))
board.process(512)
board.feed(encode_select(Board.UPPER) + encode_note_on(0, 64, 30) + encode_note_off(0, 64))
board.process(512)
after = compiled()
print(sorted(name for name in after if after[name] != before[name]))
"""


def test_after_warm_up_the_first_notes_compile_no_kernel():
    """A kernel compiled (or loaded from numba's cache) by the first note stalls the real-time
    audio callback it runs in, and that note sounds late: warm_up must leave none for it.
    (A fresh process, so that kernels other tests ran here do not count.)"""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _FIRST_NOTE],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert result.stdout.strip() == "[]", result.stdout


# -- a board used before ------------------------------------------------------------------------
#: A loud, resonant, noisy tone with a slow release and chorus: it leaves every kind of state
#: behind (phases, filter, envelopes, noise sequence, glide, chorus delay line and LFO).
LOUD = INIT_TONE.replace(
    dco1_wf=0, vcf_res=120, vcf_env=100, env1_release=60, env2_release=60, chorus=64, lfo_wf=0,
    dco1_lfo=60,
)  # fmt: skip
#: A quiet tone, another pitch range, enveloped VCA: far from LOUD in every state it leaves.
QUIET = INIT_TONE.replace(
    dco1_range=96, vca_level=20, vca_mode=127, env2_attack=40, chorus=127, hpf_freq=64
)


def test_a_note_on_a_voice_and_board_used_before_sounds_as_a_fresh_render():
    emulator = BoardEmulator(FS, seed=0)  # the upper board plays render(..., seed=0)
    emulator.feed(encode_select(Board.UPPER) + encode_tone(LOUD) + encode_note_on(0, 48, 127))
    emulator.process(FS // 2)
    emulator.feed(encode_note_off(0, 48))
    while emulator.sounding(Board.UPPER).any():
        emulator.process(1024)
    emulator.process(FS // 10)  # more silence, with the chorus LFO running on
    hold, release = round(0.3 * FS), round(0.4 * FS)
    emulator.feed(encode_tone(QUIET) + encode_note_on(0, 64, 90))
    held = emulator.process(hold)[1]
    emulator.feed(encode_note_off(0, 64))
    heard = np.concatenate([held, emulator.process(release)[1]])
    fresh = render([QUIET], Note(64, 90), hold_s=0.3, release_s=0.4, sample_rate=FS, seed=0)[0]
    assert rms(fresh) > 1e-3  # the comparison is of a sound, not of two silences
    np.testing.assert_allclose(heard, fresh, atol=2e-6)
