"""A take's audio as WAV (streamed block by block) and its spectrogram as a PNG.

The store keeps 24-bit FLAC; WAV is produced on the fly with soundfile, one block at a time,
so a long take is never held decoded in memory. The WAV header is written here because the
total size is known from the FLAC stream's frame count (libsndfile would need a seekable
output to patch it afterwards).

The spectrogram is a Hann-windowed STFT (numpy) on a log-frequency axis from
:data:`LOW_HZ` (bottom row) to Nyquist (top row), magnitudes in dB over
:data:`DYNAMIC_RANGE_DB` mapped through a dark-to-bright palette, encoded by Pillow.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterator

import numpy as np

WAV_BLOCK_FRAMES = 1 << 16
WAV_SAMPLE_BYTES = 3  # 24-bit, as stored
N_FFT = 2048
LOW_HZ = 20.0
DYNAMIC_RANGE_DB = 100.0
#: Palette anchors (position, RGB): black -> violet -> red -> orange -> pale yellow.
_PALETTE_ANCHORS = (
    (0.0, (0, 0, 4)),
    (0.25, (80, 18, 123)),
    (0.5, (183, 55, 121)),
    (0.75, (252, 137, 97)),
    (1.0, (252, 253, 191)),
)


def wav_header(frames: int, sample_rate: int, channels: int) -> bytes:
    """A canonical 44-byte PCM RIFF/WAVE header for 24-bit samples."""
    block_align = channels * WAV_SAMPLE_BYTES
    data_size = frames * block_align
    pad = data_size % 2  # RIFF chunks are word-aligned
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", 36 + data_size + pad),
            b"WAVEfmt ",
            struct.pack(
                "<IHHIIHH",
                16,
                1,  # WAVE_FORMAT_PCM
                channels,
                sample_rate,
                sample_rate * block_align,
                block_align,
                8 * WAV_SAMPLE_BYTES,
            ),
            b"data",
            struct.pack("<I", data_size),
        )
    )


def wav_stream(flac: bytes) -> tuple[int, Iterator[bytes]]:
    """(total byte length, chunks) of the FLAC audio as a 24-bit PCM WAV file."""
    import soundfile

    source = soundfile.SoundFile(io.BytesIO(flac))
    header = wav_header(source.frames, source.samplerate, source.channels)
    data_size = source.frames * source.channels * WAV_SAMPLE_BYTES

    def chunks() -> Iterator[bytes]:
        with source:
            yield header
            # int32 in and PCM_24 out keeps the stored 24-bit samples bit-exact.
            for block in source.blocks(WAV_BLOCK_FRAMES, dtype="int32", always_2d=True):
                raw = io.BytesIO()
                soundfile.write(
                    raw, block, source.samplerate, format="RAW", subtype="PCM_24", endian="LITTLE"
                )
                yield raw.getvalue()
            if data_size % 2:
                yield b"\0"

    return len(header) + data_size + data_size % 2, chunks()


def _palette() -> np.ndarray:
    """256 x RGB lookup table interpolated between the anchors."""
    positions = [p for p, _ in _PALETTE_ANCHORS]
    steps = np.linspace(0.0, 1.0, 256)
    channels = [np.interp(steps, positions, [c[i] for _, c in _PALETTE_ANCHORS]) for i in range(3)]
    return np.stack(channels, axis=1).round().astype(np.uint8)


PALETTE = _palette()


def row_frequencies(height: int, sample_rate: int) -> np.ndarray:
    """The frequency (Hz) each PNG row shows, top row first: geometric, Nyquist down to 20 Hz."""
    nyquist = sample_rate / 2
    return np.geomspace(nyquist, min(LOW_HZ, nyquist / 2), height)


def spectrogram_db(audio: np.ndarray, sample_rate: int, columns: int) -> np.ndarray:
    """Magnitude in dBFS, shape (N_FFT // 2 + 1, about ``columns``): bins x time."""
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    mono = np.asarray(mono, dtype=np.float32)
    if mono.size < N_FFT:
        mono = np.pad(mono, (0, N_FFT - mono.size))
    hop = max(1, math.ceil((mono.size - N_FFT + 1) / columns))
    window = np.hanning(N_FFT).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(mono, N_FFT)[::hop]
    magnitude = np.abs(np.fft.rfft(frames * window, axis=1)).T
    # A full-scale sine reads 0 dB: its peak bin is half the window's sum.
    return 20 * np.log10(magnitude / (window.sum() / 2) + 1e-12)


def spectrogram_png(audio: np.ndarray, sample_rate: int, width: int, height: int) -> bytes:
    """A width x height PNG of the take's spectrogram (time left to right, pitch upwards)."""
    from PIL import Image

    decibels = spectrogram_db(audio, sample_rate, width)
    bin_hz = sample_rate / N_FFT
    position = row_frequencies(height, sample_rate) / bin_hz  # fractional bin of each row
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, decibels.shape[0] - 1)
    weight = (position - low)[:, None]
    rows = decibels[low] * (1 - weight) + decibels[high] * weight
    level = np.clip((rows + DYNAMIC_RANGE_DB) / DYNAMIC_RANGE_DB, 0.0, 1.0)
    image = Image.fromarray(PALETTE[(level * 255).round().astype(np.uint8)])
    if image.width != width:
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
