"""What the alerter keeps in the catalog: a condition opens once until it is cleared (so one
alerter of several sends it), and the takes each job recorded since a moment."""

from __future__ import annotations

from datetime import timedelta

from db.schema import utcnow


def test_a_condition_opens_once_and_clears_once(catalog):
    catalog.upsert_rig("board", "serial")
    assert catalog.raise_condition(
        "rig.faulted:board", "rig.faulted", "x", rig="board", job_id=None
    )
    assert not catalog.raise_condition(
        "rig.faulted:board", "rig.faulted", "again", rig="board", job_id=None
    )
    (condition,) = catalog.open_conditions()
    assert (condition.key, condition.rig, condition.message) == ("rig.faulted:board", "board", "x")
    assert catalog.clear_condition("rig.faulted:board")
    assert not catalog.clear_condition("rig.faulted:board")
    assert catalog.open_conditions() == []
    assert catalog.raise_condition(
        "rig.faulted:board", "rig.faulted", "y", rig="board", job_id=None
    )


def test_open_conditions_come_oldest_first(catalog):
    for key in ("disk.low", "job.slow:1", "rig.silent:a"):
        catalog.raise_condition(key, key.split(":")[0], key, rig=None, job_id=None)
    assert [c.key for c in catalog.open_conditions()] == ["disk.low", "job.slow:1", "rig.silent:a"]


def test_takes_since_counts_each_jobs_recent_takes(catalog, make_take):
    catalog.upsert_rig("rig-a", "emulated")
    first = catalog.create_job("a", {}, 3, seed=0)
    second = catalog.create_job("b", {}, 1, seed=0)
    before = utcnow() - timedelta(seconds=1)
    claims = [catalog.claim_next("rig-a", 60) for _ in range(4)]
    catalog.record_takes([make_take(claim) for claim in claims])
    assert catalog.takes_since(before) == {first.id: 3, second.id: 1}
    assert catalog.takes_since(utcnow() + timedelta(seconds=1)) == {}
