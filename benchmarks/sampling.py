"""Tones per second from each parameter source, at random-access indexes.

Capture runs at a few takes per second per rig (50/s accelerated), so a source must give
thousands of tones per second to stay out of the way. Prints one line per source: one
``tone()`` call per index (how a worker asks), and ``tones()`` in batches of 1,000.

    .venv/bin/python benchmarks/sampling.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from daq import sampling
from daq.banks import LocalFiles
from daq.spec import SamplingSpec
from firmware_protocol.parameters import THESIS_SUBSET

BANKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jx8p-banks"
N = 20_000
BATCH = 1_000
JOB = 1_000_000  # unbounded sources: indexes anywhere in a million-take job


def rate(run: Callable[[], int]) -> float:
    start = time.perf_counter()
    produced = run()
    return produced / (time.perf_counter() - start)


def main() -> None:
    banks = [str(p) for p in sorted(BANKS.glob("*.syx"))]
    specs = {
        "uniform": {"kind": "uniform"},
        "sobol": {"kind": "sobol"},
        "prior (default)": {"kind": "prior"},
        "prior (vary 26)": {"kind": "prior"},
        "bank (13 files)": {"kind": "bank", "banks": banks},
        "sweep": {"kind": "sweep", "parameter": "VCF FREQ"},
    }
    print(f"{N} random indexes per source (0..{JOB - 1:,} for unbounded sources)")
    print(f"{'source':<18}{'tone() /s':>12}{'tones() /s':>14}")
    for label, source in specs.items():
        extra = {"vary": list(THESIS_SUBSET)} if "vary" in label else {"fixed": {"CHORUS": 0}}
        spec = SamplingSpec.model_validate(
            {"source": source, **extra}, context={"banks": LocalFiles()}
        )
        length = sampling.source_length(spec)
        top = length if length is not None else JOB
        indexes = np.random.default_rng(0).integers(0, top, N).tolist()
        sampling.tones(spec, 1, indexes[:10])  # compile and load once, outside the timing

        def one_by_one(spec: SamplingSpec = spec, indexes: list[int] = indexes) -> int:
            for i in indexes:
                sampling.tone(spec, 1, i)
            return len(indexes)

        def batched(spec: SamplingSpec = spec, indexes: list[int] = indexes) -> int:
            for start in range(0, len(indexes), BATCH):
                sampling.tones(spec, 1, indexes[start : start + BATCH])
            return len(indexes)

        print(f"{label:<18}{rate(one_by_one):>12,.0f}{rate(batched):>14,.0f}")


if __name__ == "__main__":
    main()
