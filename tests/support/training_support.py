"""Fixtures of the training tests (tests/models and the training CLI's), imported by their
conftest.py files. Torch on one thread: the tiny models here gain nothing from more, and on a
shared machine extra intra-op threads only spin against the other processes (measured: 3-5x
slower). And a small captured catalog with a frozen dataset, for the data, evaluation and CLI
tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass(frozen=True)
class CapturedDataset:
    """A small catalog captured on the emulated rig, with one frozen dataset in it."""

    var_dir: Path
    catalog_url: str
    store_root: Path
    dataset: str
    job_id: int


#: 4 s of A4 as the thesis played it; three parameters vary (two continuous, one switch).
TINY_JOB = {
    "name": "tiny",
    "source": {"kind": "uniform"},
    "vary": ["VCF FREQ", "VCA LEVEL", "DCO1 WF"],
    "count": 200,
    "seed": 5,
    "capture": {"hold_s": 4.0, "notes": 69, "tail": {"max_s": 0.5}},
}
TINY_SPLITS = {"train": 0.6, "validation": 0.2, "test": 0.2}


@pytest.fixture(scope="session")
def captured_dataset(tmp_path_factory: pytest.TempPathFactory) -> CapturedDataset:
    """TINY_JOB captured into SQLite + a store and frozen as dataset ``tiny``.

    Session-scoped: capturing takes a few seconds, and tests only read it (the feature caches
    they build go into their own directories).
    """
    from daq.jobs import submit_job
    from daq.rigs import EMULATED
    from daq.spec import JobSpec
    from daq.worker import Worker
    from db.engine import open_catalog
    from db.records import TakeFilter
    from db.store import AudioStore

    var_dir = tmp_path_factory.mktemp("captured")
    url = f"sqlite:///{var_dir / 'catalog.db'}"
    catalog = open_catalog(url)
    try:
        job = submit_job(catalog, JobSpec.model_validate(TINY_JOB))
        Worker(catalog, AudioStore(var_dir / "audio"), EMULATED).run(job_id=job.id)
        catalog.freeze_dataset("tiny", TakeFilter(job_id=job.id), TINY_SPLITS, seed=2)
    finally:
        catalog.close()
    return CapturedDataset(var_dir, url, var_dir / "audio", "tiny", job.id)
