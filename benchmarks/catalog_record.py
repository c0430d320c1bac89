"""Recording takes: metadata row + sample state change + job counters, audio already written.

Prints takes/s on SQLite and PostgreSQL from one process, one transaction per take (what a
writer thread with no backlog does) and in batches of 50 (a writer thread catching up).
Targets: >= 2,000 takes/s on SQLite, >= 1,000 on PostgreSQL.

    .venv/bin/python benchmarks/catalog_record.py [takes]
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from _catalog_bench import postgres_catalog, sqlite_catalog
from sqlalchemy import insert, update

from db.catalog import Catalog
from db.records import AudioRef, ClaimedSample, NewTake
from db.schema import Job, JobState, QcVerdict, Sample, SampleState, utcnow
from db.store import key_for
from firmware_protocol.tone import INIT_TONE

BATCH = 50


def _claimed_samples(catalog: Catalog, count: int) -> list[ClaimedSample]:
    """Claims for ``count`` samples, made in bulk (claiming is not what is measured)."""
    rig = catalog.upsert_rig("bench", "emulated")
    job = catalog.create_job("bench", {}, count, seed=0)
    now = utcnow()
    expires = now.replace(year=now.year + 1)
    with catalog.engine.begin() as connection:
        connection.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(next_index=count, state=JobState.RUNNING, started_at=now)
        )
        ids = connection.execute(
            insert(Sample).returning(Sample.id, sort_by_parameter_order=True),
            [
                {
                    "job_id": job.id,
                    "index": i,
                    "state": SampleState.CLAIMED,
                    "lease_owner_id": rig.id,
                    "lease_expires_at": expires,
                    "attempts": 1,
                    "updated_at": now,
                }
                for i in range(count)
            ],
        ).scalars()
        return [
            ClaimedSample(sample_id, job.id, i, 0, 1, rig.name, rig.id, expires)
            for i, sample_id in enumerate(ids)
        ]


def _takes(claims: list[ClaimedSample]) -> list[NewTake]:
    takes = []
    for claim in claims:
        sha = hashlib.sha256(str(claim.index).encode()).hexdigest()
        tone = INIT_TONE.replace(vcf_freq=claim.index % 128, vcf_res=(claim.index * 7) % 128)
        audio = AudioRef(key_for(sha), sha, 44100, 1, 176400)
        takes.append(
            NewTake(claim, tone.data, audio, QcVerdict.PASS, utcnow(), "bench", peak=0.5, rms=0.1)
        )
    return takes


def _rate(catalog: Catalog, count: int, batch: int) -> float:
    takes = _takes(_claimed_samples(catalog, count))
    start = time.perf_counter()
    if batch == 1:
        for take in takes:
            catalog.record_take(take)
    else:
        for i in range(0, count, batch):
            catalog.record_takes(takes[i : i + batch])
    elapsed = time.perf_counter() - start
    assert catalog.get_job(takes[0].claim.job_id).state == JobState.COMPLETED
    return count / elapsed


def main(count: int = 3000) -> None:
    backends: list[tuple[str, Callable[[], AbstractContextManager[Catalog]], int]] = [
        ("SQLite", sqlite_catalog, 2000),
        ("PostgreSQL", postgres_catalog, 1000),
    ]
    for name, open_catalog, target in backends:
        for batch in (1, BATCH):
            with open_catalog() as catalog:
                rate = _rate(catalog, count, batch)
            how = "one transaction per take" if batch == 1 else f"batches of {batch}"
            verdict = "ok" if rate >= target else "BELOW TARGET"
            print(f"{name:<10} {how:<25} {rate:8.0f} takes/s  (target {target}: {verdict})")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
