"""Feature cache throughput: examples/s read back as a DataLoader reads them.

Builds a shard set (:mod:`daq.feature_cache`) of thesis-STFT features (690 x 16, float32)
from synthetic 4 s clips, then reads it in shuffled batches of 64 three ways: one example at
a time through a torch DataLoader (default collate), whole batches through a DataLoader over
a dataset with ``__getitems__`` (what torch calls when a dataset offers it), and raw batch
indexing.
The figures are with the cache in the page cache (just built); on a busy machine they read low.

    .venv/bin/python benchmarks/features_cache.py [--count 4000] [--root DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from daq.feature_cache import FeatureShards, build_from_clips
from daq.features import THESIS_STFT


class ExampleDataset:
    """One example per ``__getitem__``: the plain map-style Dataset."""

    def __init__(self, features: FeatureShards) -> None:
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.features[i]


class BatchDataset(ExampleDataset):
    """Adds ``__getitems__`` so the DataLoader fetches a whole batch in one read."""

    def __getitems__(self, indexes: list[int]) -> np.ndarray:
        return self.features[indexes]


def synthetic_clips(count: int, seed: int = 0):
    """Detuned saw-like tones with a decay: cheap, and not all alike."""
    rng = np.random.default_rng(seed)
    t = np.arange(THESIS_STFT.samples) / THESIS_STFT.sample_rate
    for _ in range(count):
        f = 440 * 2 ** rng.uniform(-1, 1)
        phase = (f * t) % 1.0
        yield (2 * phase - 1) * np.exp(-t * rng.uniform(0.2, 3))


def rate(label: str, count: int, seconds: float) -> None:
    print(f"{label:<44} {count / seconds:>10,.0f} examples/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--root", help="cache directory (default: a temporary one)")
    args = parser.parse_args()

    import torch
    from torch.utils.data import DataLoader

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        clips = list(synthetic_clips(args.count))
        start = time.perf_counter()
        features = build_from_clips(Path(args.root or tmp) / "bench", THESIS_STFT, clips)
        rate("build (compute + write)", args.count, time.perf_counter() - start)
        size = features.shape[1] * features.shape[2] * features.dtype.itemsize
        print(f"cache: {args.count} x {features.shape[1:]} {features.dtype}, {size} B/example")

        loaders = {
            "DataLoader, one __getitem__ per example": DataLoader(
                ExampleDataset(features), batch_size=args.batch, shuffle=True
            ),
            "DataLoader, __getitems__ per batch": DataLoader(
                BatchDataset(features), batch_size=args.batch, shuffle=True,
                collate_fn=torch.from_numpy,
            ),
        }  # fmt: skip
        for label, loader in loaders.items():
            start = time.perf_counter()
            seen = sum(len(batch) for batch in loader)
            rate(label, seen, time.perf_counter() - start)

        order = np.random.default_rng(1).permutation(args.count)
        start = time.perf_counter()
        for first in range(0, args.count, args.batch):
            features[order[first : first + args.batch]]
        rate("raw shuffled batch reads", args.count, time.perf_counter() - start)


if __name__ == "__main__":
    main()
