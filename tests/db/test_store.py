"""The content-addressed FLAC store: names, round trips, atomicity, verification on read."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from db.store import AudioStore, StoreIntegrityError, key_for, sha_of_key

LSB_24 = 2.0**-23


def test_key_is_the_sha256_of_the_file_bytes(store: AudioStore, tmp_path: Path):
    audio = np.sin(np.linspace(0, 200, 44100)).astype(np.float32) * 0.5
    ref = store.write(audio, 44100)
    path = tmp_path / "audio" / ref.key
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ref.sha256 == sha_of_key(ref.key)
    info = soundfile.info(str(path))
    assert (info.format, info.subtype, info.samplerate, info.frames) == (
        "FLAC",
        "PCM_24",
        44100,
        44100,
    )
    assert (ref.channels, ref.frames) == (1, 44100)
    assert store.write(audio, 44100).key == ref.key  # same content, same file


@settings(max_examples=25, deadline=None)
@given(
    audio=arrays(
        np.float64,
        st.tuples(st.integers(1, 2000), st.integers(1, 2)),
        elements=st.floats(-1.0, 1.0, allow_nan=False),
    ),
    rate=st.sampled_from([22050, 44100, 48000]),
)
def test_round_trip_within_24_bit_quantisation(tmp_path_factory, audio, rate):
    store = AudioStore(tmp_path_factory.mktemp("store"))
    ref = store.write(audio, rate)
    decoded, decoded_rate = store.read(ref.key)
    assert decoded_rate == rate and decoded.shape == audio.shape
    assert np.max(np.abs(decoded - audio)) <= LSB_24 * 1.01


def test_out_of_range_samples_clip_instead_of_wrapping(store: AudioStore):
    ref = store.write(np.array([1.5, -3.0, 0.25]), 44100)
    decoded, _ = store.read(ref.key)
    assert decoded[:, 0] == pytest.approx([1.0 - LSB_24, -1.0, 0.25], abs=LSB_24)


def test_bad_audio_shapes_are_named(store: AudioStore):
    with pytest.raises(ValueError, match=r"\(frames,\) or \(frames, channels\)"):
        store.write(np.zeros((2, 2, 2)), 44100)
    with pytest.raises(ValueError, match="not empty"):
        store.write(np.zeros(0), 44100)


def test_read_detects_corruption_and_absence(store: AudioStore, tmp_path: Path):
    ref = store.write(np.full(1000, 0.1), 44100)
    path = tmp_path / "audio" / ref.key
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreIntegrityError, match="corrupt"):
        store.read(ref.key)
    path.unlink()
    with pytest.raises(StoreIntegrityError, match="missing"):
        store.read_bytes(ref.key)


def test_no_temporary_files_are_left_after_writes(store: AudioStore, tmp_path: Path):
    for i in range(5):
        store.write(np.full(100, i / 10), 44100)
    names = [p.name for p in (tmp_path / "audio").rglob("*") if p.is_file()]
    assert len(names) == 5 and all(n.endswith(".flac") and not n.startswith(".") for n in names)


def test_fsspec_root_that_is_not_local(tmp_path: Path):
    store = AudioStore(f"memory://jx-{tmp_path.name}")
    assert not store.local
    ref = store.write(np.full(500, 0.2), 48000)
    assert store.exists(ref.key)
    assert list(store.iter_keys()) == [ref.key]
    audio, rate = store.read(ref.key)
    assert rate == 48000 and audio.shape == (500, 1)


def test_keys_are_validated():
    with pytest.raises(ValueError, match="not an audio store key"):
        sha_of_key("../etc/passwd")
    sha = "0" * 64
    assert sha_of_key(key_for(sha)) == sha
