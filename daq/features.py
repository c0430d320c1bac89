"""Audio features (thesis STFT, log-mel and MFCC, auditory spectrogram): what a take becomes
before a model reads it.

They live in ``daq``, below ``models``, because both sides need the same computation: the
dataset export (API shards, local pulls) and the trainer. Everything here is numpy/scipy, so
a server computes features without torch; their on-disk form is :mod:`daq.feature_cache`.
Each feature kind is a frozen pydantic config whose ``hash`` names the cache entry: change a
field and the cache key changes with it.

Conventions, fixed once here:

* Audio is mono float in [-1, 1] at ``sample_rate``; it is cut or zero-padded to
  ``duration_s`` so that every example of a dataset has the same shape (takes differ by a few
  samples after latency trimming).
* STFT frames are *centred*: the signal is zero-padded by ``n_fft // 2`` on both sides and a
  frame starts every ``hop`` samples, giving ``1 + samples // hop`` frames. For the thesis
  setting (4 s at 44.1 kHz = 176,400 samples, hop 256) that is 1 + 689 = 690 frames, the
  thesis's 690 (librosa's ``center=True`` convention; without centring there would be only
  ``1 + (176400 - 512) // 256 = 688``). Zero padding (librosa >= 0.10's default) rather than
  reflection, so the frames equal ``scipy.signal.stft``'s.
* The thesis keeps 16 bins and calls that "clipped at fs/16": with a 512-point FFT, 16 bins is
  ``257 // 16``, a sixteenth of the one-sided bins, i.e. 0..1292 Hz (bin 15), physically fs/32.
  ``StftFeatures.bins`` keeps the first ``bins`` bins and defaults to 16, the thesis's shape.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    TypeAdapter,
    model_validator,
)
from scipy import fft as sp_fft
from scipy import signal, special

#: Bump when a computation changes without a config field changing, so old caches are missed.
FEATURE_CODE_VERSION = 1

# Bounds every feature config keeps, checked when it is made (before any work), so the API,
# the CLI and training refuse the same configs with the same message.
#: Longest stretch of a take one example may analyse.
MAX_DURATION_S = 60.0
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000
MAX_N_FFT = 16384
MAX_BANDS = 1024
#: The cochlear filters need the top channel (about 7.2 kHz) below Nyquist; more is waste.
MIN_INTERNAL_RATE, MAX_INTERNAL_RATE = 16000, 48000
#: Estimated working memory of computing one example (see ``work_bytes``).
MAX_WORK_BYTES = 512 * 2**20


class _FeatureConfig(BaseModel):
    """Fields and helpers common to every feature kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample_rate: int = Field(default=44100, ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE)
    duration_s: float = Field(default=4.0, gt=0, le=MAX_DURATION_S)
    dtype: Literal["float32", "float16"] = "float32"

    @model_validator(mode="after")
    def _affordable(self) -> _FeatureConfig:
        """Refuse, before any work, a config whose one example would not fit a server."""
        frames, _ = self.shape
        if frames < 1:
            raise ValueError(f"duration_s {self.duration_s:g} is shorter than one frame")
        need = self.work_bytes()
        if need > MAX_WORK_BYTES:
            raise ValueError(
                f"one example of these {self.kind} features needs about {need / 2**20:,.0f} MiB "
                f"of working memory, at most {MAX_WORK_BYTES / 2**20:.0f} MiB: "
                f"{self._work_hint}"
            )
        return self

    _work_hint: ClassVar[str] = "lower duration_s"

    def work_bytes(self) -> int:
        """Estimated peak working memory of :meth:`compute` on one example, in bytes."""
        raise NotImplementedError

    @property
    def samples(self) -> int:
        return round(self.duration_s * self.sample_rate)

    @property
    def hash(self) -> str:
        """Stable across processes and versions of Python: sha256 of the sorted JSON."""
        payload = {"code_version": FEATURE_CODE_VERSION, **self.model_dump(mode="json")}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def shape(self) -> tuple[int, int]:
        """(frames, bins) of one example."""
        raise NotImplementedError

    def compute(self, audio: np.ndarray) -> np.ndarray:
        """Features of one example, [frames, bins] in ``dtype``."""
        raise NotImplementedError

    def _fit(self, audio: np.ndarray) -> np.ndarray:
        x = np.asarray(audio, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"audio must be mono, one dimension; got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("audio holds NaN or infinite samples")
        n = self.samples
        return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def note_on_frame(pre_roll_s: float, sample_rate: int) -> int:
    """Where a take's first note starts in its stored audio (the capture's pre-roll)."""
    return round(pre_roll_s * sample_rate)


def feature_input(audio: np.ndarray, note_on: int) -> np.ndarray:
    """What features are computed from: a stored take [frames, channels] from its first
    note-on (frame ``note_on``), averaged to mono float32. Every caller (export, trainer)
    goes through here, so their features agree."""
    if audio.ndim != 2:
        raise ValueError(f"a stored take is [frames, channels], got shape {audio.shape}")
    return audio[note_on:].mean(axis=1, dtype=np.float32)


def hann(n: int) -> np.ndarray:
    """Periodic Hann window (the DFT-even form every STFT library uses)."""
    return signal.get_window("hann", n, fftbins=True)


def stft_work_bytes(frames: int, n_fft: int) -> int:
    """What :func:`stft_magnitude` holds at its peak: windowed float64 frames and their
    complex spectrum (the strided view of the signal itself costs nothing)."""
    return frames * (n_fft * 8 + (n_fft // 2 + 1) * 16)


def stft_magnitude(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| with centred, zero-padded frames: [1 + len(x) // hop, n_fft // 2 + 1]."""
    padded = np.pad(x, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.abs(np.fft.rfft(frames * hann(n_fft), axis=-1))


class StftFeatures(_FeatureConfig):
    """The thesis input: |STFT| (Hann 512, hop 256), low bins only; 690 x 16 for 4 s."""

    kind: Literal["stft"] = "stft"
    n_fft: int = Field(default=512, ge=16, le=MAX_N_FFT)
    hop: PositiveInt = 256
    bins: int = Field(default=16, ge=1, le=MAX_N_FFT // 2 + 1)

    _work_hint: ClassVar[str] = "raise hop, or lower n_fft or duration_s"

    @property
    def shape(self) -> tuple[int, int]:
        return 1 + self.samples // self.hop, min(self.bins, self.n_fft // 2 + 1)

    def work_bytes(self) -> int:
        return stft_work_bytes(self.shape[0], self.n_fft)

    def compute(self, audio: np.ndarray) -> np.ndarray:
        spec = stft_magnitude(self._fit(audio), self.n_fft, self.hop)
        return spec[:, : self.bins].astype(self.dtype)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=16)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float
) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangles with peak 1, centres equally spaced in mel.

    Unnormalised on purpose: adjacent triangles cross at 0.5 and sum to exactly 1 between the
    first and last centre, so a mel band's value is a weighted share of the spectrum.
    """
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"mel range {f_min}..{f_max} Hz must lie in 0..{sample_rate / 2} Hz")
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    bank = np.maximum(0.0, np.minimum(rising, falling))
    bank.flags.writeable = False
    return bank


class LogMelFeatures(_FeatureConfig):
    """log(mel power + floor); the usual input of modern sound-matching models."""

    kind: Literal["logmel"] = "logmel"
    n_fft: int = Field(default=2048, ge=16, le=MAX_N_FFT)
    hop: PositiveInt = 512
    n_mels: int = Field(default=128, ge=1, le=MAX_BANDS)
    f_min: float = Field(default=20.0, ge=0)
    f_max: PositiveFloat | None = None
    floor: PositiveFloat = 1e-6

    _work_hint: ClassVar[str] = "raise hop, or lower n_fft or duration_s"

    @model_validator(mode="after")
    def _band_inside_nyquist(self) -> LogMelFeatures:
        nyquist = self.sample_rate / 2
        if self.f_max is not None and self.f_max > nyquist:
            raise ValueError(f"f_max {self.f_max:g} Hz is past the Nyquist frequency {nyquist:g}")
        if self.f_min >= (self.f_max or nyquist):
            raise ValueError(f"f_min {self.f_min:g} Hz must lie below f_max")
        return self

    @property
    def shape(self) -> tuple[int, int]:
        return 1 + self.samples // self.hop, self.n_mels

    def work_bytes(self) -> int:
        frames = self.shape[0]
        return stft_work_bytes(frames, self.n_fft) + frames * self.n_mels * 8

    def compute(self, audio: np.ndarray) -> np.ndarray:
        return self.from_audio(self._fit(audio)).astype(self.dtype)

    def from_audio(self, x: np.ndarray) -> np.ndarray:
        """log-mel of audio of any length (no cutting or padding); used by the metrics too."""
        power = stft_magnitude(x, self.n_fft, self.hop) ** 2
        f_max = self.f_max or self.sample_rate / 2
        bank = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.f_min, f_max)
        return np.log(np.maximum(power @ bank.T, self.floor))


def mfcc(logmel: np.ndarray, n_mfcc: int = 13) -> np.ndarray:
    """MFCCs from log-mel frames [..., n_mels]: orthonormal DCT-II, first ``n_mfcc`` kept."""
    return sp_fft.dct(logmel, type=2, norm="ortho", axis=-1)[..., :n_mfcc]


class AuditoryFeatures(_FeatureConfig):
    """A 128-channel auditory spectrogram in the spirit of the NSL toolbox's ``wav2aud``.

    The stages follow NSL (Chi, Ru & Shamma 2005) as MirrorNet uses it: audio resampled to
    16 kHz; a bank of 129 constant-Q cochlear band-pass filters, 24 per octave, centred at
    ``440 * 2 ** ((k - 31) / 24)`` Hz (k = 0..128, about 180 Hz to 7.2 kHz, NSL's grid);
    hair cell: sigmoid compression then a membrane low-pass (0.5 ms); lateral inhibition: the
    difference between adjacent channels (129 -> 128) and half-wave rectification; a leaky
    integrator (``integration_ms``) sampled at the end of every ``frame_ms`` frame.

    Simplifications: NSL's cochlear filters are measured asymmetric IIR filters loaded from
    a table; here each is a 2nd-order Butterworth band-pass of ``1 / q`` octave (constant Q)
    followed by a 4th-order Butterworth low-pass a quarter-tone above the centre, which gives
    the same shape in outline (shallow low side, steep high side). The sigmoid acts on the
    audio's absolute scale (``compression`` = the amplitude where it starts to bend) rather
    than on unit-variance audio, so that loudness (VCA level) stays in the features. Because
    lateral inhibition acts on the filtered waveforms, the phase lag between neighbouring
    filters shows up too: a pure tone peaks about two channels (1/12 octave) above its
    frequency.
    """

    kind: Literal["auditory"] = "auditory"
    internal_rate: int = Field(default=16000, ge=MIN_INTERNAL_RATE, le=MAX_INTERNAL_RATE)
    frame_ms: float = Field(default=8.0, ge=1.0, le=1000.0)
    integration_ms: float = Field(default=8.0, ge=0.1, le=1000.0)
    hair_cell_ms: float = Field(default=0.5, ge=0.01, le=100.0)
    channels_per_octave: int = Field(default=24, ge=12, le=96)
    q: float = Field(default=4.0, ge=0.5, le=64.0)
    compression: PositiveFloat = 0.1

    CHANNELS: ClassVar[int] = 128
    _work_hint: ClassVar[str] = "lower duration_s or internal_rate"

    def work_bytes(self) -> int:
        """129 filtered float64 signals at ``internal_rate``, twice (a stage and its input)."""
        internal = round(self.duration_s * self.internal_rate)
        return 2 * (self.CHANNELS + 1) * internal * 8 + self.samples * 8

    @property
    def frame_samples(self) -> int:
        return round(self.frame_ms * self.internal_rate / 1000)

    @property
    def shape(self) -> tuple[int, int]:
        internal = round(self.duration_s * self.internal_rate)
        return internal // self.frame_samples, self.CHANNELS

    @model_validator(mode="after")
    def _filters_below_nyquist(self) -> AuditoryFeatures:
        top = self.filter_centres()[-1]
        if top >= 0.99 * self.internal_rate / 2:
            raise ValueError(
                f"the top cochlear filter is centred at {top:.0f} Hz, past the Nyquist frequency "
                f"of internal_rate {self.internal_rate}; raise channels_per_octave or internal_rate"
            )
        return self

    def filter_centres(self) -> np.ndarray:
        """Centres of the 129 cochlear filters (NSL's grid, one below the first channel)."""
        k = np.arange(self.CHANNELS + 1)
        return 440.0 * 2.0 ** ((k - 31) / self.channels_per_octave)

    def centre_frequencies(self) -> np.ndarray:
        """Centre of each of the 128 output channels (the upper filter of each LIN pair)."""
        return self.filter_centres()[1:]

    def compute(self, audio: np.ndarray) -> np.ndarray:
        x = _resample(self._fit(audio), self.sample_rate, self.internal_rate)
        x = x.astype(np.float32)
        y = np.stack([signal.sosfilt(sos, x) for sos in _cochlear_filters(self)])
        y = special.expit(y / np.float32(self.compression))
        y = _leaky(y, self.hair_cell_ms, self.internal_rate)
        y = np.maximum(np.diff(y, axis=0), 0.0)
        y = _leaky(y, self.integration_ms, self.internal_rate)
        frames = self.shape[0]
        step = self.frame_samples
        return y[:, step - 1 : frames * step : step].T.astype(self.dtype)


def _resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return x
    g = np.gcd(rate, target)
    return signal.resample_poly(x, target // g, rate // g)


def _leaky(y: np.ndarray, time_constant_ms: float, rate: int) -> np.ndarray:
    """First-order leaky integrator along time with unit DC gain."""
    decay = np.exp(-1000.0 / (time_constant_ms * rate))
    return signal.lfilter([1.0 - decay], [1.0, -decay], y, axis=-1)


@lru_cache(maxsize=4)
def _cochlear_filters(config: AuditoryFeatures) -> tuple[np.ndarray, ...]:
    """Second-order sections of the 129 cochlear filters (one below channel 0 for LIN)."""
    nyquist = config.internal_rate / 2
    half_band = 2.0 ** (1.0 / (2 * config.q))
    sections = []
    for cf in config.filter_centres():
        upper = min(cf * half_band, 0.99 * nyquist)
        band = signal.butter(
            2, [cf / half_band, upper], "bandpass", fs=config.internal_rate, output="sos"
        )
        edge = min(cf * 2.0 ** (1.0 / 24), 0.99 * nyquist)
        steep = signal.butter(4, edge, "lowpass", fs=config.internal_rate, output="sos")
        sections.append(np.concatenate([band, steep]).astype(np.float32))
    return tuple(sections)


#: Any feature config; pydantic picks the class by ``kind``.
FeatureConfig = Annotated[
    StftFeatures | LogMelFeatures | AuditoryFeatures, Field(discriminator="kind")
]
_ADAPTER: TypeAdapter[FeatureConfig] = TypeAdapter(FeatureConfig)


def parse_feature_config(data: dict) -> StftFeatures | LogMelFeatures | AuditoryFeatures:
    """A feature config from its JSON form (as stored in a cache index)."""
    return _ADAPTER.validate_python(data)


#: The thesis's input, 690 x 16 for 4 s at 44.1 kHz.
THESIS_STFT = StftFeatures()
