"""Feature values against independent computations (scipy's STFT, closed forms)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import signal

from daq.features import (
    MAX_WORK_BYTES,
    THESIS_STFT,
    AuditoryFeatures,
    LogMelFeatures,
    StftFeatures,
    mel_filterbank,
    mfcc,
    parse_feature_config,
)

FS = 44100


def sine(frequency: float, seconds: float = 4.0, amplitude: float = 0.5, fs: int = FS):
    t = np.arange(round(seconds * fs)) / fs
    return amplitude * np.sin(2 * np.pi * frequency * t)


def test_thesis_stft_is_690_by_16_for_four_seconds():
    assert THESIS_STFT.shape == (690, 16)
    assert THESIS_STFT.compute(sine(440)).shape == (690, 16)


def test_stft_equals_scipy_stft_frames():
    config = StftFeatures(duration_s=0.5, bins=257)
    x = np.random.default_rng(1).uniform(-1, 1, config.samples)
    _, _, reference = signal.stft(x, FS, window="hann", nperseg=512, noverlap=256)
    # scipy divides by the window's sum and appends one frame when padding to whole hops.
    expected = np.abs(reference).T[: config.shape[0]] * signal.get_window("hann", 512).sum()
    np.testing.assert_allclose(config.compute(x), expected, rtol=1e-4, atol=1e-4)


def test_sine_on_a_bin_peaks_there_with_the_hann_amplitude():
    amplitude = 0.3
    x = sine(10 * FS / 512, amplitude=amplitude)
    spec = THESIS_STFT.compute(x)
    middle = spec[10:-10]
    assert np.all(middle.argmax(axis=1) == 10)
    # A sinusoid of amplitude A on a bin gives A * sum(window) / 2 = A * 256 / 2.
    np.testing.assert_allclose(middle[:, 10], amplitude * 128, rtol=1e-3)


def test_audio_is_cut_or_zero_padded_to_the_duration():
    config = StftFeatures(duration_s=1.0)
    long = sine(1000, seconds=1.5)
    short = long[: FS // 2]
    np.testing.assert_array_equal(config.compute(long), config.compute(long[:FS]))
    padded = config.compute(short)
    assert padded.shape == config.shape
    assert np.all(padded[-20:] == 0)


@pytest.mark.parametrize(
    ("audio", "message"),
    [(np.zeros((2, 100)), "mono"), (np.array([0.0, np.nan]), "NaN")],
)
def test_bad_audio_is_refused_by_name(audio, message):
    with pytest.raises(ValueError, match=message):
        THESIS_STFT.compute(audio)


def test_mel_triangles_sum_to_one_between_first_and_last_centre():
    bank = mel_filterbank(FS, 2048, 40, 20.0, FS / 2)
    freqs = np.fft.rfftfreq(2048, 1 / FS)
    centres = freqs[bank.argmax(axis=1)]
    inside = (freqs > centres[0]) & (freqs < centres[-1])
    np.testing.assert_allclose(bank.sum(axis=0)[inside], 1.0, atol=1e-9)
    assert bank.max() <= 1.0 and bank.min() >= 0.0
    assert np.all(np.diff(centres) > 0)


def test_log_mel_of_a_sine_peaks_in_the_band_around_it():
    config = LogMelFeatures(duration_s=1.0, n_mels=64)
    frequency = 1500.0
    bank = mel_filterbank(FS, config.n_fft, config.n_mels, config.f_min, FS / 2)
    freqs = np.fft.rfftfreq(config.n_fft, 1 / FS)
    expected_band = bank[:, np.abs(freqs - frequency).argmin()].argmax()
    features = config.compute(sine(frequency, seconds=1.0))
    assert features.shape == config.shape
    assert np.all(features[5:-5].argmax(axis=1) == expected_band)
    silent = config.compute(np.zeros(FS))
    np.testing.assert_allclose(silent, np.log(config.floor), rtol=1e-6)


def test_mfcc_of_a_flat_log_mel_is_only_c0():
    coefficients = mfcc(np.full((3, 40), 2.0))
    np.testing.assert_allclose(coefficients[:, 0], 2.0 * np.sqrt(40))
    np.testing.assert_allclose(coefficients[:, 1:], 0.0, atol=1e-12)


@pytest.mark.parametrize("frequency", [300.0, 1000.0, 3000.0])
def test_auditory_channel_of_a_pure_tone_is_near_its_frequency(frequency):
    config = AuditoryFeatures(duration_s=0.5)
    features = config.compute(sine(frequency, seconds=0.5))
    assert features.shape == config.shape == (62, 128)
    peak = features[5:].mean(axis=0).argmax()
    # 24 channels per octave: within 3 channels is within 1/8 octave, half a filter bandwidth.
    offset = 24 * np.log2(config.centre_frequencies()[peak] / frequency)
    assert abs(offset) <= 3


def test_auditory_spectrogram_is_silent_for_silence_and_grows_with_level():
    config = AuditoryFeatures(duration_s=0.25)
    assert np.abs(config.compute(np.zeros(FS // 4))).max() < 1e-6
    quiet = config.compute(sine(800, seconds=0.25, amplitude=0.02)).sum()
    loud = config.compute(sine(800, seconds=0.25, amplitude=0.2)).sum()
    assert loud > 2 * quiet > 0


def test_config_hash_is_stable_and_follows_every_field():
    assert StftFeatures().hash == THESIS_STFT.hash
    assert StftFeatures(bins=32).hash != THESIS_STFT.hash
    assert StftFeatures(dtype="float16").hash != THESIS_STFT.hash
    assert LogMelFeatures().hash != AuditoryFeatures().hash
    for config in (THESIS_STFT, LogMelFeatures(f_max=8000), AuditoryFeatures(q=3)):
        again = parse_feature_config(config.model_dump(mode="json"))
        assert again == config and again.hash == config.hash
    other_process = subprocess.run(
        [sys.executable, "-c", "from daq.features import THESIS_STFT; print(THESIS_STFT.hash)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert other_process.stdout.strip() == THESIS_STFT.hash


def test_unknown_or_impossible_configs_are_refused():
    with pytest.raises(ValueError, match="hop_length"):
        parse_feature_config({"kind": "stft", "hop_length": 128})
    with pytest.raises(ValueError, match="past the Nyquist frequency"):
        AuditoryFeatures(channels_per_octave=12)


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        (
            {"kind": "auditory", "internal_rate": 1e9},
            "internal_rate",
            "less than or equal to 48000",
        ),
        ({"kind": "auditory", "frame_ms": 0.001}, "frame_ms", "greater than or equal to 1"),
        ({"kind": "stft", "duration_s": 100}, "duration_s", "less than or equal to 60"),
        ({"kind": "stft", "sample_rate": 10**9}, "sample_rate", "less than or equal to 192000"),
        ({"kind": "logmel", "n_fft": 2**20}, "n_fft", "less than or equal to 16384"),
        ({"kind": "logmel", "f_max": 30000}, None, "past the Nyquist frequency"),
        ({"kind": "stft", "hop": 1}, None, "at most 512 MiB: raise hop"),
        ({"kind": "auditory", "duration_s": 60, "internal_rate": 48000}, None, "at most 512 MiB"),
    ],
)
def test_configs_beyond_their_bounds_are_refused_naming_field_and_bound(config, field, message):
    with pytest.raises(ValidationError) as refused:
        parse_feature_config(config)
    error = refused.value.errors(include_url=False)[0]
    assert error["loc"] == (config["kind"], *([field] if field else [])) and message in error["msg"]


def test_every_default_config_is_within_its_memory_bound():
    for config in (THESIS_STFT, LogMelFeatures(), AuditoryFeatures()):
        assert 0 < config.work_bytes() <= MAX_WORK_BYTES
