"""The feature cache: round trips, idempotent builds, and crash safety (real processes)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from models.features import FeatureCache, StftFeatures

CONFIG = StftFeatures(duration_s=0.05)


def clips(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, CONFIG.samples) for _ in range(n)]


def test_round_trip_across_shards(tmp_path):
    audio = clips(7)
    expected = np.stack([CONFIG.compute(a) for a in audio])
    cache = FeatureCache(tmp_path)
    built = cache.build("toy", CONFIG, iter(audio), 7, shard_size=3)
    assert len(list(cache.path("toy", CONFIG).glob("shard-*.npy"))) == 3
    opened = cache.open("toy", CONFIG)
    assert opened.shape == (7, *CONFIG.shape) == built.shape
    assert opened.config == CONFIG
    np.testing.assert_array_equal(opened[4], expected[4])
    np.testing.assert_array_equal(opened[-1], expected[-1])
    np.testing.assert_array_equal(opened[1:6], expected[1:6])
    picks = [6, 0, 3, 3, 5]
    np.testing.assert_array_equal(opened[picks], expected[picks])
    np.testing.assert_array_equal(opened[np.array([2, -2])], expected[[2, -2]])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(opened))[5], expected[5])
    with pytest.raises(IndexError, match="7 cached examples"):
        opened[7]


def test_a_complete_entry_is_reused_and_configs_do_not_collide(tmp_path):
    cache = FeatureCache(tmp_path)
    cache.build("toy", CONFIG, iter(clips(2)), 2)

    def never():
        raise AssertionError("a complete cache must not read audio again")
        yield

    assert len(cache.build("toy", CONFIG, never(), 2)) == 2
    other = StftFeatures(duration_s=0.05, bins=8)
    assert not cache.is_complete("toy", other)
    assert cache.build("toy", other, iter(clips(2)), 2).shape[-1] == 8


def test_too_few_or_too_many_clips_leave_nothing(tmp_path):
    cache = FeatureCache(tmp_path)
    with pytest.raises(ValueError, match="ended after 2 of count=3"):
        cache.build("toy", CONFIG, iter(clips(2)), 3)
    with pytest.raises(ValueError, match="more than count=1"):
        cache.build("toy", CONFIG, iter(clips(2)), 1)
    assert not cache.is_complete("toy", CONFIG)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="no complete feature cache"):
        cache.open("toy", CONFIG)


def test_a_bad_clip_is_named_and_aborts_the_build(tmp_path):
    audio = clips(3)
    audio[1] = np.stack([audio[1], audio[1]])
    with pytest.raises(ValueError, match=r"clip 1 .* mono"):
        FeatureCache(tmp_path).build("toy", CONFIG, iter(audio), 3)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_build_is_never_reported_complete_and_is_cleaned_up(tmp_path):
    crash = textwrap.dedent(
        f"""
        import os, numpy as np
        from models.features import FeatureCache, StftFeatures
        config = StftFeatures(duration_s=0.05)

        def audio():
            for i in range(5):
                if i == 3:
                    os._exit(9)  # dies mid-build: no cleanup, no exception handlers
                yield np.zeros(config.samples)

        FeatureCache({str(tmp_path)!r}).build("toy", config, audio(), 5, shard_size=2)
        """
    )
    result = subprocess.run([sys.executable, "-c", crash], capture_output=True)
    assert result.returncode == 9
    leftovers = list(tmp_path.iterdir())
    assert len(leftovers) == 1 and ".partial-" in leftovers[0].name
    cache = FeatureCache(tmp_path)
    assert not cache.is_complete("toy", CONFIG)
    with pytest.raises(FileNotFoundError):
        cache.open("toy", CONFIG)
    cache.build("toy", CONFIG, iter(clips(5)), 5)
    assert [p.name for p in tmp_path.iterdir()] == [cache.path("toy", CONFIG).name]


@pytest.mark.parametrize("key", ["", "../escape", "a/b", "sp ace"])
def test_keys_that_are_not_plain_names_are_refused(tmp_path, key):
    with pytest.raises(ValueError, match="cache key"):
        FeatureCache(tmp_path).path(key, CONFIG)
