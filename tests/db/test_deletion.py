"""Deleting a job: only once it is over; its takes removed (their audio keys returned unless
another take holds them) or kept with the job as their provenance; refused while a frozen
dataset holds its takes."""

from __future__ import annotations

import pytest

from db.deletion import DeletionRefused
from db.records import InvalidTransition, NotFound, TakeFilter


def _captured_job(catalog, make_take, name: str, count: int):
    job = catalog.create_job(name, {}, count, seed=0)
    claims = [catalog.claim_next("rig-a", 60) for _ in range(count)]
    take_ids = catalog.record_takes([make_take(claim) for claim in claims])
    return job, take_ids


@pytest.fixture
def rig(catalog):
    catalog.upsert_rig("rig-a", "emulated")


def test_a_running_job_is_not_deleted(catalog, rig, make_take):
    job = catalog.create_job("running", {}, 2, seed=0)
    catalog.claim_next("rig-a", 60)
    with pytest.raises(InvalidTransition, match="cancel it first"):
        catalog.delete_job_rows(job.id, "remove", by="admin")
    with pytest.raises(NotFound, match="job 999"):
        catalog.delete_job_rows(999, "remove", by="admin")
    with pytest.raises(ValueError, match="takes must be one of"):
        catalog.delete_job_rows(job.id, "shred", by="admin")


def test_removing_a_job_removes_its_takes_and_returns_their_audio(catalog, rig, make_take):
    job, _ = _captured_job(catalog, make_take, "gone", 2)
    deletion = catalog.delete_job_rows(job.id, "remove", by="admin")
    assert (deletion.takes_removed, deletion.takes_kept) == (2, 0)
    assert len(deletion.audio_removed) == 2
    assert catalog.query_takes(TakeFilter(job_id=job.id)).items == []
    with pytest.raises(NotFound):
        catalog.get_job(job.id)


def test_keeping_the_takes_leaves_the_job_as_their_provenance(catalog, rig, make_take):
    job, take_ids = _captured_job(catalog, make_take, "kept", 2)
    deletion = catalog.delete_job_rows(job.id, "keep", by="admin")
    assert (deletion.takes_removed, deletion.takes_kept, deletion.audio_removed) == (0, 2, ())
    assert [catalog.get_take(t).job_id for t in take_ids] == [job.id, job.id]
    with pytest.raises(NotFound, match="by admin"):
        catalog.get_job(job.id)
    with pytest.raises(DeletionRefused, match="takes=remove"):
        catalog.delete_job_rows(job.id, "keep", by="admin")
    assert catalog.delete_job_rows(job.id, "remove", by="admin").takes_removed == 2


def test_takes_in_a_frozen_dataset_are_not_removed(catalog, rig, make_take):
    job, _ = _captured_job(catalog, make_take, "held", 1)
    catalog.freeze_dataset("frozen", TakeFilter(job_id=job.id), {"train": 1.0})
    with pytest.raises(DeletionRefused, match="frozen datasets frozen"):
        catalog.delete_job_rows(job.id, "remove", by="admin")
    assert catalog.delete_job_rows(job.id, "keep", by="admin").takes_kept == 1
