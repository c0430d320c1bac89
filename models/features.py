"""Audio features for the models (thesis STFT, log-mel and MFCC, auditory spectrogram) and
their on-disk cache.

Everything here is numpy/scipy so that features can be computed and cached without torch.
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
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
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

from db.store import fsync_directory, write_atomically

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


# -- on-disk cache ------------------------------------------------------------------------------

#: Target shard size: large enough for few files, small enough to write and fsync in pieces.
SHARD_BYTES = 256 * 1024 * 1024
INDEX_NAME = "index.json"
_PARTIAL = ".partial-"


class FeatureCache:
    """Features computed once per (dataset key, feature config), kept as memory-mapped shards.

    An entry is a directory ``<root>/<key>--<kind>-<hash>/`` holding ``shard-NNNNN.npy`` files
    and ``index.json``. It is built under a ``.partial-<pid>-<nonce>`` name, with the index
    written last, then renamed into place: a directory with the final name is always complete,
    and a crash leaves only a partial directory that ``open`` ignores and the next ``build``
    removes.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, key: str, config: FeatureConfig) -> Path:
        if not key or not _KEY_CHARS.fullmatch(key):
            raise ValueError(f"cache key {key!r} must be letters, digits, '.', '_' or '-'")
        return self.root / f"{key}--{config.kind}-{config.hash}"

    def is_complete(self, key: str, config: FeatureConfig) -> bool:
        return (self.path(key, config) / INDEX_NAME).is_file()

    def open(self, key: str, config: FeatureConfig) -> CachedFeatures:
        """The cached features [n, frames, bins]; an error if no complete build exists."""
        path = self.path(key, config)
        if not (path / INDEX_NAME).is_file():
            raise FileNotFoundError(
                f"no complete feature cache for key {key!r} and {config.kind} config "
                f"{config.hash} under {self.root} (build it first)"
            )
        return CachedFeatures(path)

    def build(
        self,
        key: str,
        config: FeatureConfig,
        audio_iter: Iterable[np.ndarray],
        count: int,
        *,
        shard_size: int | None = None,
        on_example: Callable[[int], None] | None = None,
    ) -> CachedFeatures:
        """Compute ``config`` over exactly ``count`` clips from ``audio_iter`` and cache them.

        Returns the existing entry untouched if it is already complete. ``on_example(i)`` is
        called after each example (for progress bars).
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        final = self.path(key, config)
        if (final / INDEX_NAME).is_file():
            return CachedFeatures(final)
        self.root.mkdir(parents=True, exist_ok=True)
        _remove_dead_partials(final)
        partial = final.with_name(f"{final.name}{_PARTIAL}{os.getpid()}-{secrets.token_hex(4)}")
        partial.mkdir()
        try:
            index = _write_shards(partial, config, audio_iter, count, shard_size, on_example)
            write_atomically(partial / INDEX_NAME, json.dumps(index, indent=1).encode())
            fsync_directory(partial)
            try:
                partial.rename(final)
            except OSError:
                if not (final / INDEX_NAME).is_file():
                    raise
                shutil.rmtree(partial)  # another builder finished first; keep theirs
            fsync_directory(self.root)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return CachedFeatures(final)


_KEY_CHARS = re.compile(r"[A-Za-z0-9._-]+")


def _write_shards(
    directory: Path,
    config: FeatureConfig,
    audio_iter: Iterable[np.ndarray],
    count: int,
    shard_size: int | None,
    on_example: Callable[[int], None] | None,
) -> dict:
    frames, bins = config.shape
    dtype = np.dtype(config.dtype)
    per_shard = shard_size or max(1, SHARD_BYTES // (frames * bins * dtype.itemsize))
    shards: list[dict] = []
    shard = None
    written = 0
    for audio in audio_iter:
        if written == count:
            raise ValueError(f"audio_iter yields more than count={count} clips")
        offset = written % per_shard
        if offset == 0:
            shard = _close_shard(shard)
            rows = min(per_shard, count - written)
            name = f"shard-{len(shards):05d}.npy"
            shard = np.lib.format.open_memmap(
                directory / name, mode="w+", dtype=dtype, shape=(rows, frames, bins)
            )
            shards.append({"file": name, "rows": rows})
        try:
            shard[offset] = config.compute(audio)
        except ValueError as error:
            raise ValueError(f"clip {written} of cache {directory.name}: {error}") from error
        written += 1
        if on_example is not None:
            on_example(written)
    _close_shard(shard)
    if written < count:
        raise ValueError(f"audio_iter ended after {written} of count={count} clips")
    return {
        "format": 1,
        "count": count,
        "shape": [count, frames, bins],
        "dtype": dtype.name,
        "rows_per_shard": per_shard,
        "shards": shards,
        "config": config.model_dump(mode="json"),
        "config_hash": config.hash,
    }


def _close_shard(shard: np.memmap | None) -> None:
    if shard is not None:
        shard.flush()
        with open(shard.filename, "rb+") as f:
            os.fsync(f.fileno())
        del shard


def _remove_dead_partials(final: Path) -> None:
    """Delete partial builds of this entry left by processes that no longer run."""
    for partial in final.parent.glob(f"{final.name}{_PARTIAL}*"):
        pid = int(partial.name.rsplit(_PARTIAL, 1)[1].split("-")[0])
        if pid == os.getpid() or not _process_alive(pid):
            shutil.rmtree(partial, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CachedFeatures:
    """Read-only array-like [n, frames, bins] over a complete cache entry.

    Indexing with an int gives one example; with a slice, a list or an integer array, a
    stacked batch (reads grouped by shard). Copies are returned, so callers may hand them to
    torch without holding the memory maps. Picklable (for DataLoader workers): the maps are
    reopened lazily in each process.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        index = json.loads((self.path / INDEX_NAME).read_text())
        self.config = parse_feature_config(index["config"])
        self.shape: tuple[int, ...] = tuple(index["shape"])
        self.dtype = np.dtype(index["dtype"])
        self._rows_per_shard: int = index["rows_per_shard"]
        self._files: list[str] = [s["file"] for s in index["shards"]]
        self._maps: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_maps": None}

    @property
    def _shards(self) -> list[np.ndarray]:
        if self._maps is None:
            self._maps = [np.load(self.path / f, mmap_mode="r") for f in self._files]
        return self._maps

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        if isinstance(index, int | np.integer):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"example {i} is out of range for {len(self)} cached examples")
            shard, row = divmod(i % len(self), self._rows_per_shard)
            return np.array(self._shards[shard][row])
        rows = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise TypeError(f"index must be an int, a slice or 1-D integers, not {index!r}")
        if rows.size and not (-len(self) <= rows.min() and rows.max() < len(self)):
            raise IndexError(f"indexes out of range for {len(self)} cached examples")
        rows = rows % len(self)
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        shard_of, row_of = np.divmod(rows, self._rows_per_shard)
        for shard in np.unique(shard_of):
            picked = shard_of == shard
            out[picked] = self._shards[shard][row_of[picked]]
        return out
