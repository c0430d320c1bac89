"""FLAC store write throughput: four-second mono 44.1 kHz takes, encoded, fsynced, renamed.

Prints takes/s from one writer thread (what the capture engine's writer does) and from two.
Target: >= 50 takes/s. The signal is synth-like (a decaying detuned saw pair with a little
noise), which FLAC compresses about as well as real JX takes; every take differs.

    .venv/bin/python benchmarks/store_write.py [takes]
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from db.store import AudioStore

RATE = 44100
SECONDS = 4.0


def _take(index: int) -> np.ndarray:
    rng = np.random.default_rng(index)
    t = np.arange(int(RATE * SECONDS)) / RATE
    frequency = 55.0 * 2 ** (rng.integers(0, 48) / 12)
    saw = ((t * frequency) % 1.0 - 0.5) + ((t * frequency * 1.003) % 1.0 - 0.5)
    envelope = np.exp(-t * rng.uniform(0.2, 2.0))
    return (0.4 * saw * envelope + rng.normal(0, 1e-4, t.size)).astype(np.float32)


def _rate(takes: list[np.ndarray], threads: int) -> float:
    with tempfile.TemporaryDirectory() as root:
        store = AudioStore(root)
        start = time.perf_counter()
        if threads == 1:
            for audio in takes:
                store.write(audio, RATE)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda audio: store.write(audio, RATE), takes))
        return len(takes) / (time.perf_counter() - start)


def main(count: int = 200) -> None:
    takes = [_take(i) for i in range(count)]
    for threads in (1, 2):
        rate = _rate(takes, threads)
        verdict = "ok" if rate >= 50 else "BELOW TARGET"
        print(f"store writes, {threads} thread(s): {rate:6.1f} takes/s  (target 50: {verdict})")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
