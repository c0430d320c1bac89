"""Tests of access: TODO docstring."""

from __future__ import annotations

from collections import Counter

import pytest

from db.schema import Role


def test_tokens_are_stored_hashed_and_can_be_revoked(catalog, engine):
    info, secret = catalog.create_token("lab laptop", Role.OPERATOR)
    with engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT token_hash FROM api_tokens").scalar_one()
    assert secret not in stored and len(stored) == 64
    assert catalog.authenticate(secret).role == Role.OPERATOR
    assert catalog.authenticate(secret + "x") is None
    assert catalog.list_tokens()[0].last_used_at is not None
    catalog.revoke_token(info.id)
    assert catalog.authenticate(secret) is None


def test_frozen_dataset_ignores_later_takes_and_splits_deterministically(catalog, make_take):
    from db.records import TakeFilter

    catalog.upsert_rig("r", "emulated")
    job = catalog.create_job("j", {}, 300, seed=0)
    for _ in range(250):
        catalog.record_take(make_take(catalog.claim_next("r", 60)))
    dataset = catalog.freeze_dataset(
        "first", TakeFilter(job_id=job.id), {"train": 0.8, "validation": 0.1, "test": 0.1}, seed=3
    )
    for _ in range(50):
        catalog.record_take(make_take(catalog.claim_next("r", 60)))
    stored = catalog.get_dataset("first")
    assert catalog.count_takes(stored.filter) == 250
    ids = [t.id for t in catalog.query_takes(stored.filter, limit=1000).items]
    splits = Counter(stored.split_of(i) for i in ids)
    assert [stored.split_of(i) for i in ids] == [dataset.split_of(i) for i in ids]
    # The order of the splits decides the assignment; PostgreSQL must not reorder them.
    assert list(stored.splits) == ["train", "validation", "test"]
    assert set(splits) == {"train", "validation", "test"} and 170 < splits["train"] < 230
    with pytest.raises(ValueError, match="already exists"):
        catalog.freeze_dataset("first", TakeFilter(), {"train": 1.0})
    with pytest.raises(ValueError, match="sum to 1"):
        catalog.freeze_dataset("bad", TakeFilter(), {"train": 0.5})
