"""Four ``jxdaq worker`` processes with four emulated rigs share one job on PostgreSQL: each
sample is captured exactly once, by whichever rig claimed it."""

from __future__ import annotations

from collections import Counter

import pytest
from catalog_support import pg_catalog_url  # noqa: F401  (fixture)
from device_support import WorkerProcess

from daq.jobs import submit_job
from daq.spec import JobSpec
from db.engine import open_catalog
from db.records import TakeFilter
from db.schema import JobState, SampleState

RIGS = [f"emu-{n}" for n in range(1, 5)]


@pytest.mark.postgres
def test_four_rigs_share_one_job_and_capture_each_sample_once(pg_catalog_url, tmp_path):  # noqa: F811
    rigs_file = tmp_path / "rigs.toml"
    rigs_file.write_text("".join(f'[rigs.{r}]\ninstrument = "emulated"\n\n' for r in RIGS))
    catalog = open_catalog(pg_catalog_url)
    spec = {"source": {"kind": "uniform"}, "count": 240, "seed": 5,
            "capture": {"hold_s": 0.5, "tail": {"max_s": 0.3}}}  # fmt: skip
    job = submit_job(catalog, JobSpec.model_validate(spec))
    args = ("--rigs-file", str(rigs_file), "--job", str(job.id), "--batch", "4")
    workers = [WorkerProcess(rig, pg_catalog_url, tmp_path, *args) for rig in RIGS]
    for worker in workers:
        assert worker.process.wait(timeout=300) == 0, "\n".join(worker.drain())

    finished = catalog.get_job(job.id)
    assert finished.state == JobState.COMPLETED
    assert finished.captured + finished.failed == 240
    takes = catalog.query_takes(TakeFilter(job_id=job.id), limit=1000).items
    per_sample = Counter(t.sample_index for t in takes)
    assert len(takes) == finished.captured and set(per_sample.values()) == {1}
    failed = {s.index for s in catalog.list_samples(job.id, SampleState.FAILED, limit=1000)}
    assert set(per_sample).isdisjoint(failed) and len(per_sample) + len(failed) == 240
    per_rig = Counter(t.rig for t in takes)
    assert set(per_rig) <= set(RIGS)
    assert len(per_rig) >= 2, f"one rig did everything: {per_rig}"
    catalog.close()
