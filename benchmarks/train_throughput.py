"""Training throughput of a method's network, and where the time goes.

For each model, examples per second of:

* features: computing the model's features from 4 s of audio (the emulator's render of
  thesis-setup tones), once per take: the feature cache pays it once per dataset;
* cache read: reading batches back from a feature cache (memory-mapped shards);
* train step: forward + backward + optimizer step on a batch (the model's own batch size);
* training: the two above together, i.e. what an epoch over a cached dataset runs at.

    nice -n 19 .venv/bin/python benchmarks/train_throughput.py --models statsmlp convpool lstm1 cnn1

Torch runs on ``--threads`` (default 2). The load average is printed: on a shared machine the
figures read low.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from daq.feature_cache import build_from_clips
from firmware_protocol.parameters import THESIS_SUBSET
from models.bench import hardware, play_like_thesis, thesis_job
from models.methods import method
from models.nets import build_model
from models.targets import TargetSpec

#: What examples per CPU-second mean: on a quiet machine, threads x that is the ceiling.
THREADS_NOTE = "one core gives; x cores on a quiet machine at best"


def tones(count: int) -> list:
    from daq.sampling import Sampler

    return Sampler(thesis_job(count, 0)).tones(0, range(count))


def timed(fn, repeat: int) -> tuple[float, float]:
    """Wall and process CPU seconds per call, after one warm-up call."""
    fn()
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - began) / repeat, (time.process_time() - cpu) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["statsmlp", "convpool", "lstm1", "cnn1"])
    parser.add_argument("--takes", type=int, default=64, help="audio clips for the features")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = TargetSpec.thesis()
    print(f"{hardware()}; load average {os.getloadavg()[0]:.1f}")
    audio = play_like_thesis(tones(args.takes))
    targets = torch.from_numpy(np.stack([spec.encode(t) for t in tones(args.takes)]))
    assert len(THESIS_SUBSET) == len(spec)
    for name in args.models:
        print(measure(name, audio, targets, spec, args.steps))


def measure(name: str, audio: np.ndarray, targets: torch.Tensor, spec, steps: int) -> str:
    m = method(name)
    config = m.features
    batch = m.training.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        cache = build_from_clips(Path(tmp), config, audio)
        feature_rate = len(audio) / (time.perf_counter() - began)
        rows = np.sort(np.random.default_rng(0).integers(0, len(cache), batch))
        read, _ = timed(lambda: cache[rows], steps)
        features = cache[:]
    net = build_model(name, *config.shape, spec, m.head).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x = torch.from_numpy(np.resize(features, (batch, *config.shape)).astype(np.float32))
    y = targets[np.arange(batch) % len(targets)]

    def step() -> None:
        optimizer.zero_grad()
        net.loss(net(x), y).backward()
        optimizer.step()

    train, train_cpu = timed(step, steps)
    return (
        f"{name}: {config.kind} {config.shape[0]} x {config.shape[1]}, batch {batch}, "
        f"{net.parameter_count():,} weights | features {feature_rate:.0f} takes/s (once per "
        f"dataset) | cache read {batch / read:.0f} ex/s | train step {batch / train:.0f} ex/s "
        f"| training {batch / (read + train):.0f} ex/s "
        f"({100 * train / (read + train):.0f} % in forward/backward) | "
        f"{batch / train_cpu:.0f} ex per CPU-second of the step (the most {THREADS_NOTE})"
    )


if __name__ == "__main__":
    main()
