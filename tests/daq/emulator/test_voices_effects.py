"""The board-common stages: HPF positions, the chorus's BBD delay, the output limiter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from daq.emulator import mapping
from daq.emulator.voices import BoardEffects
from firmware_protocol.parameters import BY_NAME
from firmware_protocol.tone import INIT_TONE

FS = 44100


def _tone(hpf: int, chorus: int):
    return INIT_TONE.replace(
        hpf_freq=BY_NAME["HPF FREQ"].canonical(hpf), chorus=BY_NAME["CHORUS"].canonical(chorus)
    )


@pytest.mark.parametrize("position", [1, 2, 3])
def test_hpf_is_a_one_pole_high_pass_at_the_mapped_frequency(position: int) -> None:
    corner = mapping.curve("HPF FREQ")(BY_NAME["HPF FREQ"].canonical(position))
    noise = np.random.default_rng(1).normal(0, 0.05, 4 * FS)
    out = BoardEffects(FS).process(noise, _tone(position, 0))
    freqs, gain = signal.csd(noise, out, FS, nperseg=8192)
    _, power = signal.welch(noise, FS, nperseg=8192)
    response = np.abs(gain) / power
    for hz in (corner / 4, corner, 4 * corner):
        expected = (hz / corner) / np.sqrt(1 + (hz / corner) ** 2)  # 6 dB/oct below the corner
        measured = response[np.argmin(np.abs(freqs - hz))]
        assert 20 * np.log10(measured / expected) == pytest.approx(0.0, abs=0.5)


@pytest.mark.parametrize("hpf", [0, 3])
@pytest.mark.parametrize("chorus", [1, 2])
def test_chorus_echo_lies_within_the_bbd_delay_range(chorus: int, hpf: int) -> None:
    low_ms, high_ms = mapping.CHORUS_DELAY_MS[chorus]
    click = np.zeros(FS // 2)
    click[1000] = 0.5
    out = BoardEffects(FS, seed=3).process(click, _tone(hpf, chorus)).astype(np.float64)
    after = out[1000 + int(0.001 * FS) :]  # past the dry click and the HPF's own tail
    echo_ms = (np.argmax(np.abs(after)) + int(0.001 * FS)) / FS * 1000
    assert low_ms - 0.1 <= echo_ms <= high_ms + 0.3  # + the BBD filter's group delay


def test_limiter_keeps_any_level_inside_full_scale_and_small_ones_untouched() -> None:
    ramp = np.linspace(-50.0, 50.0, FS)
    out = BoardEffects(FS).process(ramp, _tone(0, 0))
    assert np.abs(out).max() <= 1.0
    assert np.all(np.diff(out) >= 0)  # monotonic: no fold-over
    quiet = np.sin(np.arange(FS) * 0.01) * (mapping.LIMITER_THRESHOLD * 0.9)
    np.testing.assert_allclose(BoardEffects(FS).process(quiet, _tone(0, 0)), quiet, atol=1e-6)


def test_effects_in_blocks_equal_effects_at_once() -> None:
    noise = np.random.default_rng(2).normal(0, 0.3, FS)
    tone = _tone(2, 2)
    whole = BoardEffects(FS, seed=9).process(noise, tone)
    blocked = BoardEffects(FS, seed=9)
    parts = [blocked.process(noise[i : i + 300], tone) for i in range(0, FS, 300)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
