"""The JX voice DSP measured like a bench synth: pitch, aliasing, filter, envelopes, LFO, sync.

Expectations come from physics and from the mapping table's stated curves (equal temperament,
a 4-pole low-pass, 60 dB times), never from the renderer's own output.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from daq.emulator import mapping
from daq.emulator.render import Note, render
from firmware_protocol.parameters import BY_NAME
from firmware_protocol.tone import INIT_TONE, Tone

FS = 44100
CENT = 2 ** (1 / 1200)


def _switch(name: str, label: str) -> int:
    """Stock byte of a switch position, found by its label in the parameter table."""
    parameter = BY_NAME[name]
    return parameter.canonical(parameter.labels.index(label))


#: One saw on DCO1, filter wide open, VCA gated: a clean oscillator on the bench.
BENCH = INIT_TONE.replace(
    dco1_wf=_switch("DCO1 WF", "saw"),
    mix_dco2=0,
    vcf_freq=127,
    vca_mode=_switch("VCA MODE", "gate"),
)


def _spectrum(x: np.ndarray, fs: int = FS) -> tuple[np.ndarray, np.ndarray]:
    window = signal.windows.blackmanharris(len(x))
    power = np.abs(np.fft.rfft(x * window)) ** 2
    return np.fft.rfftfreq(len(x), 1 / fs), power


def _peak_hz(x: np.ndarray, fs: int = FS) -> float:
    """Strongest spectral line, refined by a parabola through the log magnitudes."""
    freqs, power = _spectrum(x, fs)
    i = int(np.argmax(power[1:])) + 1
    a, b, c = np.log(power[i - 1 : i + 2])
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * freqs[1]


def _harmonic_mask(freqs: np.ndarray, f0: float, width_hz: float) -> np.ndarray:
    mask = np.zeros(freqs.shape, dtype=bool)
    for k in range(1, int(freqs[-1] / f0) + 1):
        mask |= np.abs(freqs - k * f0) < width_hz
    return mask


def _inharmonic_db(x: np.ndarray, f0: float, fs: int = FS) -> float:
    """Energy away from the harmonics of ``f0`` relative to the fundamental, in dB."""
    freqs, power = _spectrum(x, fs)
    width = 8 * fs / len(x)
    fundamental = power[np.abs(freqs - f0) < width].sum()
    stray = power[~_harmonic_mask(freqs, f0, width) & (freqs > 20)].sum()
    return 10 * np.log10(stray / fundamental)


def _steady(y: np.ndarray, start_s: float = 0.25, n: int = 1 << 15) -> np.ndarray:
    start = int(start_s * FS)
    return y[start : start + n]


# -- pitch -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dco", [1, 2])
def test_every_range_and_tune_step_is_equal_tempered_within_a_cent(dco: int) -> None:
    range_name, tune_name = f"DCO{dco} RANGE", f"DCO{dco} TUNE"
    bench = BENCH if dco == 1 else BENCH.replace(mix_dco1=0, mix_dco2=127, dco2_wf=96)
    tones, expected = [], []
    for position, footage in enumerate(BY_NAME[range_name].labels):
        octave = {"16'": -1, "8'": 0, "4'": 1, "2'": 2}[footage]
        for raw in range(128):
            values = {range_name: BY_NAME[range_name].canonical(position), tune_name: raw}
            tones.append(Tone.from_values(values, base=bench))
            expected.append((octave, raw))
    audio = render(tones, 69, hold_s=1.0, release_s=0.0)
    steps: dict[int, set[int]] = {}
    for (octave, raw), y in zip(expected, audio, strict=True):
        hz = _peak_hz(_steady(y))
        semitones = 12 * np.log2(hz / (440.0 * 2**octave))
        nearest = round(semitones)
        assert abs(semitones - nearest) * 100 <= 1.0, (octave, raw, hz)
        steps.setdefault(octave, set()).add(nearest)
        if raw == 64:
            assert nearest == 0
    for found in steps.values():
        assert found == set(range(-12, 13))  # the panel's -12..+12, every step reachable


def test_fine_tune_detunes_dco2_by_up_to_half_a_semitone() -> None:
    tone = BENCH.replace(mix_dco1=0, mix_dco2=127, dco2_wf=96)
    low, mid, high = render([tone.replace(dco2_ftune=v) for v in (0, 64, 127)], 69, 1.0, 0.0)
    cents = [1200 * np.log2(_peak_hz(_steady(y)) / 440.0) for y in (low, mid, high)]
    assert abs(cents[1]) < 1.0
    assert -51 < cents[0] < -40 and 40 < cents[2] < 51


def test_48_khz_plays_the_same_pitch() -> None:
    (y,) = render([BENCH], 69, hold_s=1.0, release_s=0.0, sample_rate=48000)
    assert abs(1200 * np.log2(_peak_hz(y[12000 : 12000 + (1 << 15)], 48000) / 440.0)) < 1.0


# -- band-limiting ----------------------------------------------------------------------------
@pytest.mark.parametrize("waveform", ["saw", "square", "pulse"])
def test_a_2_khz_dco_has_aliases_below_minus_60_db(waveform: str) -> None:
    # key 95 is B6, 1975.5 Hz: the tempered note nearest 2 kHz
    tone = BENCH.replace(dco1_wf=_switch("DCO1 WF", waveform))
    (y,) = render([tone], 95, hold_s=1.0, release_s=0.0)
    assert _inharmonic_db(_steady(y), 440.0 * 2 ** (26 / 12)) < -60.0


# -- filter ------------------------------------------------------------------------------------
def _noise_response(tone: Tone, seconds: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Filter response to DCO1's white noise: Welch PSD of the output (input is flat)."""
    noise = tone.replace(dco1_wf=_switch("DCO1 WF", "noise"), vcf_key=0, vcf_env=0, vcf_lfo=0)
    (y,) = render([noise], 60, hold_s=seconds, release_s=0.0)
    return signal.welch(y[FS // 4 :], FS, nperseg=8192)


def _at(freqs: np.ndarray, psd: np.ndarray, hz: float) -> float:
    """PSD in dB around ``hz`` (a 1/12-octave average, to steady the estimate)."""
    band = (freqs > hz * 2 ** (-1 / 24)) & (freqs < hz * 2 ** (1 / 24))
    return 10 * np.log10(psd[band].mean())


def test_lowpass_falls_24_db_per_octave() -> None:
    freq_raw = 80
    cutoff = mapping.curve("VCF FREQ")(freq_raw)
    freqs, psd = _noise_response(BENCH.replace(vcf_freq=freq_raw, vcf_res=0))
    drop = _at(freqs, psd, cutoff / 4) - _at(freqs, psd, 2 * cutoff)
    assert 21.0 <= drop <= 27.0, drop


def test_resonance_raises_the_response_at_cutoff() -> None:
    cutoff = mapping.curve("VCF FREQ")(80)
    flat = _noise_response(BENCH.replace(vcf_freq=80, vcf_res=0))
    peaked = _noise_response(BENCH.replace(vcf_freq=80, vcf_res=100))
    lift = _at(*peaked, cutoff) - _at(*flat, cutoff)
    assert lift > 6.0, lift
    # ... and the peak sits at the cutoff, not elsewhere
    freqs, psd = peaked
    assert abs(np.log2(freqs[np.argmax(psd)] / cutoff)) < 0.25


def test_highest_resonance_self_oscillates_near_cutoff() -> None:
    """A short blip into the filter, then no input at all: only an oscillator keeps ringing."""
    blip = BENCH.replace(
        mix_dco1=0,
        mix_dco2=0,
        mix_env=127,
        mix_mode=_switch("MIX MODE", "ENV1"),
        env1_attack=0,
        env1_decay=10,
        env1_sustain=0,
        vcf_freq=70,
    )
    singing, damped = render([blip.replace(vcf_res=127), blip.replace(vcf_res=95)], 48, 3.0, 0.0)
    rms = lambda y, a, b: np.sqrt(np.mean(y[int(a * FS) : int(b * FS)] ** 2))  # noqa: E731
    assert rms(singing, 2.0, 2.5) > 10 ** (-30 / 20)
    assert abs(20 * np.log10(rms(singing, 2.0, 2.5) / rms(singing, 1.0, 1.5))) < 1.0
    assert rms(damped, 2.0, 2.5) < 1e-6
    cutoff = mapping.curve("VCF FREQ")(70)
    assert abs(np.log2(_peak_hz(singing[2 * FS : 2 * FS + (1 << 14)]) / cutoff)) < 0.15


# -- envelopes and LFO ------------------------------------------------------------------------
#: An 8 Hz square (16', key 0) through an open filter: half a second of constant level at a
#: time, so |output| is the amplifier's gain except right at the edges (median-filtered out).
ENVELOPE_BENCH = BENCH.replace(
    dco1_wf=_switch("DCO1 WF", "square"),
    dco1_range=_switch("DCO1 RANGE", "16'"),
    vca_mode=_switch("VCA MODE", "ENV2"),
    env2_key=0,
)


def _gain(tone: Tone, hold_s: float, release_s: float, key: int = 0) -> np.ndarray:
    (y,) = render([tone], Note(key, 127), hold_s=hold_s, release_s=release_s)
    return signal.medfilt(np.abs(y.astype(np.float64)), 129)


def _fall_time(gain: np.ndarray) -> float:
    """Seconds from the peak of ``gain`` until it is 60 dB below it."""
    peak = int(np.argmax(gain))
    return _crossing(gain, gain[peak] * 1e-3, after=peak, falling=True) - peak / FS


def _crossing(gain: np.ndarray, level: float, after: int = 0, falling: bool = False) -> float:
    hits = np.flatnonzero(gain[after:] <= level if falling else gain[after:] >= level)
    return (after + hits[0]) / FS


@pytest.mark.parametrize("raw", [60, 90])
def test_attack_time_follows_the_mapping(raw: int) -> None:
    gain = _gain(ENVELOPE_BENCH.replace(env2_attack=raw, env2_sustain=127), 3.0, 0.0)
    plateau = np.median(gain[int(2.7 * FS) :])
    # the segment heads for ATTACK_TARGET and stops at the peak; 0.999 of it comes 0.2 % early
    measured = _crossing(gain, 0.999 * plateau)
    assert measured == pytest.approx(mapping.curve("ENV2 ATTACK")(raw), rel=0.05)


@pytest.mark.parametrize("raw", [50, 75])
def test_decay_time_is_a_60_db_fall(raw: int) -> None:
    fall = _fall_time(_gain(ENVELOPE_BENCH.replace(env2_decay=raw, env2_sustain=0), 3.0, 0.0))
    assert fall == pytest.approx(mapping.curve("ENV2 DECAY")(raw), rel=0.05)


@pytest.mark.parametrize("raw", [50, 75])
def test_release_time_is_a_60_db_fall(raw: int) -> None:
    gain = _gain(ENVELOPE_BENCH.replace(env2_release=raw, env2_sustain=127), 0.4, 3.0)
    held = np.median(gain[int(0.2 * FS) : int(0.4 * FS)])
    fall = _crossing(gain, held * 1e-3, after=int(0.4 * FS), falling=True) - 0.4
    assert fall == pytest.approx(mapping.curve("ENV2 RELEASE")(raw), rel=0.05)


def test_env_key_follow_shortens_high_notes() -> None:
    tone = ENVELOPE_BENCH.replace(env2_decay=70, env2_sustain=0, env2_key=96)
    seconds = mapping.curve("ENV2 DECAY")(70)
    low, high = (_fall_time(_gain(tone, 3.0, 0.0, key=key)) for key in (48, 72))
    # position 3 follows 1 octave of time per octave of key, around middle C
    follow = mapping.curve("ENV2 KEY")(96)
    assert low == pytest.approx(seconds * 2**follow, rel=0.05)
    assert high == pytest.approx(seconds * 2**-follow, rel=0.05)


@pytest.mark.parametrize("raw", [64, 100])
def test_lfo_rate_follows_the_mapping(raw: int) -> None:
    """A square LFO flips DCO1 between two pitches; time the flips from zero crossings."""
    tone = BENCH.replace(
        lfo_wf=_switch("LFO WF", "square"), lfo_rate=raw, lfo_delay=0, dco1_lfo=64, vcf_freq=60
    )
    (y,) = render([tone], 69, hold_s=4.0, release_s=0.0)
    rising = np.flatnonzero((y[:-1] < 0) & (y[1:] >= 0))
    periods = np.diff(rising)
    high = periods < periods.mean()  # the upper pitch has the shorter periods
    flips = rising[1:][np.flatnonzero(np.diff(high.astype(int)) == 1) + 1]
    rate = FS / np.median(np.diff(flips))
    assert rate == pytest.approx(mapping.curve("LFO RATE")(raw), rel=0.05)


def test_lfo_delay_fades_vibrato_in() -> None:
    tone = BENCH.replace(lfo_wf=_switch("LFO WF", "triangle"), lfo_rate=90, dco1_lfo=90)
    depth = {}  # vibrato depth in semitones, early and late, without and with delay
    for delay in (0, 100):
        (y,) = render([tone.replace(lfo_delay=delay)], 69, hold_s=4.0, release_s=0.0)
        for name, a in (("early", 0.0), ("late", 3.5)):
            seg = y[int(a * FS) : int((a + 0.3) * FS)]
            periods = np.diff(np.flatnonzero((seg[:-1] < 0) & (seg[1:] >= 0)))
            depth[delay, name] = 12 * np.log2(periods.max() / periods.min())
    assert depth[100, "early"] < depth[0, "early"] / 3
    assert depth[100, "late"] == pytest.approx(depth[0, "late"], rel=0.2)


# -- sync and cross-mod -----------------------------------------------------------------------
def _two_dcos(xmod: str, dco2_tune: int = 64 + 7 * 5) -> Tone:
    """DCO2 a fifth-ish above DCO1 (an inharmonic ratio), both saws."""
    return BENCH.replace(
        dco2_wf=_switch("DCO2 WF", "saw"),
        dco2_tune=dco2_tune,
        dco_xmod=_switch("DCO XMOD", xmod),
        vcf_freq=110,
    )


def test_sync1_locks_dco2_to_the_period_of_dco1() -> None:
    dco1_hz = 440.0 * 2 ** ((57 - 69) / 12)
    only_dco2 = dict(mix_dco1=0, mix_dco2=127)
    free, synced = render(
        [_two_dcos("off").replace(**only_dco2), _two_dcos("sync 1").replace(**only_dco2)],
        57,
        1.0,
        0.0,
    )
    assert _inharmonic_db(_steady(free), dco1_hz) > -10.0  # DCO2 alone: not DCO1's harmonics
    assert _inharmonic_db(_steady(synced), dco1_hz) < -60.0


def test_sync2_locks_dco1_to_the_period_of_dco2() -> None:
    dco2_tune = 64 + 7 * 5
    dco2_hz = 440.0 * 2 ** ((57 - 69 + mapping.tune_semitones(dco2_tune)) / 12)
    (synced,) = render([_two_dcos("sync 2", dco2_tune).replace(mix_dco2=0)], 57, 1.0, 0.0)
    assert _inharmonic_db(_steady(synced), dco2_hz) < -60.0


def test_cross_mod_changes_the_spectrum() -> None:
    only_dco2 = dict(mix_dco1=0, mix_dco2=127)
    plain, crossed = render(
        [_two_dcos("off").replace(**only_dco2), _two_dcos("xmod").replace(**only_dco2)],
        57,
        1.0,
        0.0,
    )
    dco2_hz = 440.0 * 2 ** ((57 - 69 + 7) / 12)
    assert _inharmonic_db(_steady(plain), dco2_hz) < -60.0
    assert _inharmonic_db(_steady(crossed), dco2_hz) > -20.0
