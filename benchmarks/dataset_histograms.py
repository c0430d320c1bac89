"""The dataset page's parameter histograms on a big PostgreSQL catalog: one grouped count per
tone parameter (44) over a dataset's takes.

Builds the takes as benchmarks/catalog_query.py does (random tone values), freezes a dataset
of the whole job, and prints the median and worst of a few histogram reads.

    .venv/bin/python benchmarks/dataset_histograms.py [takes]
"""

from __future__ import annotations

import statistics
import sys
import time

from _catalog_bench import postgres_catalog
from catalog_query import _populate

from db.records import TakeFilter

REPEATS = 5


def main(count: int = 100_000) -> None:
    with postgres_catalog() as catalog:
        job_id = _populate(catalog, count)
        dataset = catalog.freeze_dataset("bench", TakeFilter(job_id=job_id), {"all": 1.0})
        times = []
        for _ in range(REPEATS + 1):  # the first warms the cache
            start = time.perf_counter()
            histograms = catalog.parameter_histograms(dataset.filter)
            times.append(time.perf_counter() - start)
        assert sum(histograms["vcf_freq"]) == count
        times = times[1:]
        print(
            f"parameter histograms of a {count:,}-take dataset (44 parameters): "
            f"median {statistics.median(times) * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
