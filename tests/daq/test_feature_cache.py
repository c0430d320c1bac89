"""Feature shard sets: round trips, reuse, resumed builds and crash safety (real processes)."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daq import feature_cache
from daq.feature_cache import FeatureShards, build_from_clips, shard_name
from daq.features import StftFeatures

CONFIG = StftFeatures(duration_s=0.05)


def clips(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, CONFIG.samples) for _ in range(n)]


def test_round_trip_across_shards(tmp_path):
    audio = clips(7)
    expected = np.stack([CONFIG.compute(a) for a in audio])
    built = build_from_clips(tmp_path / "toy", CONFIG, audio, shard_size=3)
    assert sorted(p.name for p in (tmp_path / "toy").glob("*.npz")) == [
        shard_name(i) for i in range(3)
    ]
    opened = FeatureShards(tmp_path / "toy")
    assert opened.shape == (7, *CONFIG.shape) == built.shape
    assert opened.config == CONFIG
    np.testing.assert_array_equal(opened[4], expected[4])
    np.testing.assert_array_equal(opened[-1], expected[-1])
    np.testing.assert_array_equal(opened[1:6], expected[1:6])
    picks = [6, 0, 3, 3, 5]
    np.testing.assert_array_equal(opened[picks], expected[picks])
    np.testing.assert_array_equal(opened[np.array([2, -2])], expected[[2, -2]])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(opened))[5], expected[5])
    assert opened.array("take_id").tolist() == list(range(7))
    assert opened.array("tone").shape == (7, 44)
    with pytest.raises(IndexError, match="7 cached examples"):
        opened[7]
    with pytest.raises(KeyError, match="no per-take array 'features'"):
        opened.array("features")


def test_a_shard_is_a_plain_npz_whose_features_are_memory_mapped(tmp_path):
    build_from_clips(tmp_path / "toy", CONFIG, clips(3), shard_size=2)
    with np.load(tmp_path / "toy" / shard_name(1)) as shard:
        assert set(shard.files) == set(feature_cache.SHARD_ARRAYS)
        np.testing.assert_array_equal(shard["features"], FeatureShards(tmp_path / "toy")[2:])
    mapped = FeatureShards(tmp_path / "toy")._shards[0]
    assert isinstance(mapped, np.memmap) and mapped.shape == (2, *CONFIG.shape)


def test_a_complete_set_is_reused_and_another_index_replaces_it(tmp_path):
    build_from_clips(tmp_path / "toy", CONFIG, clips(2))

    class Never(list):
        def __getitem__(self, i):
            raise AssertionError("a complete shard set must not read audio again")

    assert len(build_from_clips(tmp_path / "toy", CONFIG, Never([0, 0]))) == 2
    other = StftFeatures(duration_s=0.05, bins=8)
    assert build_from_clips(tmp_path / "toy", other, clips(2)).shape[-1] == 8
    assert FeatureShards(tmp_path / "toy").config == other


def test_a_bad_clip_is_named_and_the_set_stays_incomplete(tmp_path):
    audio = clips(3)
    audio[2] = np.stack([audio[2], audio[2]])
    with pytest.raises(ValueError, match=r"take 2 of 'clips': .*mono"):
        build_from_clips(tmp_path / "toy", CONFIG, audio, shard_size=2)
    assert not feature_cache.is_complete(tmp_path / "toy")
    with pytest.raises(FileNotFoundError, match=r"shard 000001\.npz is missing"):
        FeatureShards(tmp_path / "toy")
    assert not list((tmp_path / "toy").glob(".*"))  # no temporary file left


def test_a_killed_build_is_never_complete_and_is_resumed(tmp_path):
    crash = textwrap.dedent(
        f"""
        import os, numpy as np
        from pathlib import Path
        from daq.feature_cache import build_from_clips
        from daq.features import StftFeatures
        config = StftFeatures(duration_s=0.05)

        class Clips(list):
            def __getitem__(self, i):
                if i == 3:
                    os._exit(9)  # dies mid-build: no cleanup, no exception handlers
                return np.zeros(config.samples)

        build_from_clips(Path({str(tmp_path / "toy")!r}), config, Clips([0] * 5), shard_size=2)
        """
    )
    result = subprocess.run([sys.executable, "-c", crash], capture_output=True)
    assert result.returncode == 9, result.stderr.decode()
    assert not feature_cache.is_complete(tmp_path / "toy")
    read = []

    class Counted(list):
        def __getitem__(self, i):
            read.append(i)
            return np.zeros(CONFIG.samples)

    shards = build_from_clips(tmp_path / "toy", CONFIG, Counted([0] * 5), shard_size=2)
    assert read == [2, 3, 4]  # shard 0 survived the crash; shards 1 and 2 are made
    np.testing.assert_array_equal(shards[:], np.zeros((5, *CONFIG.shape)))


def test_an_older_format_is_not_read(tmp_path):
    build_from_clips(tmp_path / "toy", CONFIG, clips(2))
    index = tmp_path / "toy" / feature_cache.INDEX_NAME
    index.write_text(json.dumps({**json.loads(index.read_text()), "format": 1}))
    with pytest.raises(FileNotFoundError, match="format 1, not 2"):
        FeatureShards(tmp_path / "toy")
    assert len(build_from_clips(tmp_path / "toy", CONFIG, clips(2))) == 2


def test_a_cut_or_compressed_shard_is_told_apart(tmp_path):
    build_from_clips(tmp_path / "toy", CONFIG, clips(2))
    path = tmp_path / "toy" / shard_name(0)
    assert feature_cache.shard_complete(path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    assert not feature_cache.shard_complete(path)
    with np.load(io.BytesIO(whole)) as shard:
        arrays = {name: shard[name] for name in shard.files}
    np.savez_compressed(path, **arrays)
    assert feature_cache.shard_complete(path)
    with pytest.raises(ValueError, match="compressed and cannot be memory-mapped"):
        FeatureShards(tmp_path / "toy")[0]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    count=st.integers(1, 9),
    shard_size=st.integers(1, 10),
    picks=st.lists(st.integers(-9, 8), max_size=12),
)
def test_indexing_agrees_with_numpy(tmp_path_factory, count, shard_size, picks):
    small = StftFeatures(duration_s=0.01, n_fft=32, hop=16, bins=4)
    rng = np.random.default_rng(count)
    audio = [rng.uniform(-1, 1, small.samples) for _ in range(count)]
    expected = np.stack([small.compute(a) for a in audio])
    shards = build_from_clips(tmp_path_factory.mktemp("s"), small, audio, shard_size=shard_size)
    picks = [p for p in picks if -count <= p < count]
    np.testing.assert_array_equal(shards[picks], expected[picks].reshape(-1, *small.shape))
    np.testing.assert_array_equal(shards[1:], expected[1:])
    for p in picks:
        np.testing.assert_array_equal(shards[p], expected[p])
