"""Vecoven OS4 tones in the emulator: what OS4_EFFECTS promises is audible is, the rest is
carried (held by the board, reported in the table) without changing the sound."""

from __future__ import annotations

import numpy as np
import pytest

from daq.emulator import mapping
from daq.emulator.render import render
from firmware_protocol.parameters import OS4_ADDED
from firmware_protocol.tone import INIT_TONE

#: DCO1 alone, a pulse wave through an open filter.
PULSE = INIT_TONE.replace(dco1_wf=64, mix_dco1=127, mix_dco2=0)


def _even_harmonic_share(y: np.ndarray, fs: int = 44100, key_hz: float = 261.63) -> float:
    """Energy at the 2nd harmonic over the fundamental's: 0 for a square wave."""
    spectrum = np.abs(np.fft.rfft(y[fs // 4 : fs // 4 + fs // 2] * np.hanning(fs // 2)))
    bin_of = lambda f: round(f * (fs // 2) / fs)  # noqa: E731
    return float(spectrum[bin_of(2 * key_hz)] / spectrum[bin_of(key_hz)])


def test_every_os4_addition_is_in_the_effects_table_and_audible_ones_have_curves():
    assert set(mapping.OS4_EFFECTS) == {p.name for p in OS4_ADDED}
    audible = {n for n, why in mapping.OS4_EFFECTS.items() if why.startswith("audible")}
    assert audible == {c.parameter.name for c in mapping.OS4_CURVES}
    assert all(
        why.startswith(("audible", "carried but silent")) for why in mapping.OS4_EFFECTS.values()
    )


def test_a_stock_tone_and_its_os4_conversion_sound_the_same():
    stock, converted = render([PULSE, PULSE.to_os4()], 60, hold_s=0.5, release_s=0.1)
    np.testing.assert_array_equal(stock, converted)
    assert mapping.pwm_width(64) == mapping.PULSE_WIDTH


def test_pwm_width_changes_the_pulse_and_zero_is_a_square():
    narrow, square = render(
        [PULSE.replace_os4(pwm1_width=120), PULSE.replace_os4(pwm1_width=0)], 60, hold_s=1.0
    )
    # A square wave has no even harmonics; a narrow pulse has a strong second one.
    assert _even_harmonic_share(square) < 0.05 < 0.5 < _even_harmonic_share(narrow)


@pytest.mark.parametrize("name", ["PWM1 LFO", "LFO2 RATE", "ENV1 SUSTAIN", "VCF LFO2"])
def test_carried_but_silent_additions_leave_the_sound_unchanged(name):
    assert mapping.OS4_EFFECTS[name].startswith("carried but silent")
    key = name.lower().replace(" ", "_")
    plain, changed = render([PULSE.to_os4(), PULSE.replace_os4(**{key: 99})], 60, hold_s=0.3)
    np.testing.assert_array_equal(plain, changed)
