"""The benchmark's data: N takes of the thesis's setup from the accelerated emulated rig,
captured once into a catalog of their own and frozen as train / validation / test.

The setup is Vecoven's (see ``../shared/RESEARCH.md``): tones drawn from the preset prior with
the thesis's 26 parameters varying (the others at the INIT tone), one note, A4, held 4 s.
A root directory holds one catalog (``catalog.db``) and one audio store for every size and
seed; a dataset ``thesis-<N>-s<seed>`` is captured the first time it is asked for and reused
afterwards, so a learning curve over several sizes captures each size once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.spec import JobSpec
from daq.worker import Worker
from db.catalog import Catalog
from db.engine import open_catalog
from db.records import NotFound, TakeFilter
from db.store import AudioStore
from firmware_protocol.parameters import THESIS_SUBSET

SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
#: The thesis's note (A4, 440 Hz) and hold.
THESIS_NOTE, THESIS_HOLD_S = 69, 4.0


def thesis_job(takes: int, seed: int) -> JobSpec:
    """The thesis's capture setup as a job of ``takes`` samples."""
    return JobSpec.model_validate(
        {
            "name": f"thesis setup: prior, 26 parameters, A4 {THESIS_HOLD_S:g} s, {takes} takes",
            "source": {"kind": "prior"},
            "vary": list(THESIS_SUBSET),
            "count": takes,
            "seed": seed,
            "capture": {"hold_s": THESIS_HOLD_S, "notes": THESIS_NOTE},
        }
    )


def dataset_name(takes: int, seed: int) -> str:
    return f"thesis-{takes}-s{seed}"


@dataclass
class BenchData:
    """A catalog and store holding the benchmark's frozen datasets."""

    catalog: Catalog
    store: AudioStore

    @classmethod
    def open(cls, root: str | Path) -> BenchData:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        return cls(open_catalog(f"sqlite:///{root / 'catalog.db'}"), AudioStore(root / "audio"))

    def close(self) -> None:
        self.catalog.close()

    def thesis_dataset(self, takes: int, seed: int = 0, log: Callable[[str], None] = print) -> str:
        """The frozen dataset of ``takes`` thesis-setup takes, captured now if missing."""
        if takes < 10:
            raise ValueError(f"--takes {takes}: at least 10, so that every split holds takes")
        name = dataset_name(takes, seed)
        try:
            self.catalog.get_dataset(name)
            log(f"reusing dataset {name!r}")
            return name
        except NotFound:
            pass
        job = submit_job(self.catalog, thesis_job(takes, seed))
        start = time.perf_counter()
        Worker(self.catalog, self.store, EMULATED).run(job_id=job.id)
        seconds = time.perf_counter() - start
        done = self.catalog.get_job(job.id)
        log(
            f"captured {done.captured} takes ({done.failed} failed QC: silent tones) in "
            f"{seconds:.0f} s, {done.captured / seconds:.1f} takes/s"
        )
        self.catalog.freeze_dataset(name, TakeFilter(job_id=job.id), SPLITS, seed=seed)
        return name
