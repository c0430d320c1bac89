"""Reads on a big PostgreSQL catalog: one filtered page of 100 takes, job progress, and the job
report a status poll returns (progress plus the per-rig breakdown).

Builds 1,000,000 takes (and their samples) with ``generate_series`` in a schema of its own,
creates the secondary indexes after the load (as a restore would), ANALYZEs, then prints
the median and worst of repeated queries. Target: both under 50 ms. The schema is dropped
at the end.

    .venv/bin/python benchmarks/catalog_query.py [takes]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from _catalog_bench import postgres_catalog
from sqlalchemy import text

from daq.jobs import job_report
from db.catalog import Catalog
from db.records import ParameterRange, TakeFilter
from db.schema import QcVerdict, Take, utcnow
from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.tone import INIT_TONE

REPEATS = 25


def _populate(catalog: Catalog, count: int) -> int:
    rigs = [catalog.upsert_rig(f"rig-{i}", "emulated").id for i in range(4)]
    job = catalog.create_job("big", {}, count + 1000, seed=0)
    secondary = [index for index in Take.__table__.indexes]
    parameters = ", ".join(f"p_{p.key}" for p in TONE_PARAMETERS)
    randoms = ", ".join("(random() * 127)::int" for _ in TONE_PARAMETERS)
    now = utcnow()
    with catalog.engine.begin() as connection:
        for index in secondary:
            connection.execute(text(f"DROP INDEX {index.name}"))
        connection.execute(
            text(
                "INSERT INTO samples (id, job_id, index, tone, state, attempts, updated_at) "
                "SELECT i, :job, i - 1, :tone, 'captured', 1, :now "
                "FROM generate_series(1, :n) AS i"
            ),
            {"job": job.id, "tone": INIT_TONE.data, "now": now, "n": count},
        )
        connection.execute(
            text(
                "INSERT INTO takes (sample_id, job_id, rig_id, audio_key, sha256, sample_rate, "
                "channels, frames, qc_verdict, qc_reasons, software_version, captured_at, "
                f"recorded_at, {parameters}) "
                "SELECT i, :job, (ARRAY[:r0, :r1, :r2, :r3])[1 + i % 4], "
                "substr(md5(i::text), 1, 2) || '/' || md5(i::text) || '.flac', md5(i::text), "
                "44100, 1, 176400, "
                "CASE WHEN i % 50 = 0 THEN 'fail' WHEN i % 10 = 0 THEN 'warn' ELSE 'pass' END, "
                "'[]', 'bench', :start + i * interval '20 ms', :start + i * interval '20 ms', "
                f"{randoms} FROM generate_series(1, :n) AS i"
            ),
            {
                "job": job.id,
                "r0": rigs[0],
                "r1": rigs[1],
                "r2": rigs[2],
                "r3": rigs[3],
                "n": count,
                "start": now,
            },
        )
        connection.execute(
            text(
                "INSERT INTO job_rig_takes (job_id, rig_id, takes) "
                "SELECT job_id, rig_id, count(*) FROM takes GROUP BY job_id, rig_id"
            )
        )
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence('samples', 'id'), :n)"), {"n": count}
        )
        connection.execute(
            text(
                "UPDATE jobs SET next_index = :n, captured_count = :n, state = 'running' "
                "WHERE id = :job"
            ),
            {"n": count, "job": job.id},
        )
        for index in secondary:
            index.create(connection)
    with catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE samples"))
        connection.execute(text("VACUUM ANALYZE takes"))
    return job.id


def _time_ms(action: Callable[[], object]) -> tuple[float, float]:
    action()  # warm the cache and the statement cache
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def main(count: int = 1_000_000) -> None:
    with postgres_catalog() as catalog:
        start = time.perf_counter()
        job_id = _populate(catalog, count)
        print(f"built {count:,} takes in {time.perf_counter() - start:.0f} s")
        middle = catalog.query_takes(TakeFilter(), limit=1000).items[-1].id  # a cursor to resume
        deep = catalog.query_takes(TakeFilter(max_take_id=count // 2), limit=1)
        assert deep.items
        cases: list[tuple[str, Callable[[], object]]] = [
            (
                "page: vcf_freq 40..80",
                lambda: catalog.query_takes(
                    TakeFilter(parameters=(ParameterRange("vcf_freq", 40, 80),)), limit=100
                ),
            ),
            (
                "page: job + rig + verdict fail + env1_attack 0..31",
                lambda: catalog.query_takes(
                    TakeFilter(
                        job_id=job_id,
                        rig="rig-2",
                        qc_verdicts=(QcVerdict.FAIL,),
                        parameters=(ParameterRange("env1_attack", 0, 31),),
                    ),
                    limit=100,
                ),
            ),
            (
                "page: narrow, vcf_freq 64..64 and vcf_res 0..3",
                lambda: catalog.query_takes(
                    TakeFilter(
                        parameters=(
                            ParameterRange("vcf_freq", 64, 64),
                            ParameterRange("vcf_res", 0, 3),
                        )
                    ),
                    limit=100,
                ),
            ),
            (
                "page: after a cursor, mix_dco1 100..127",
                lambda: catalog.query_takes(
                    TakeFilter(parameters=(ParameterRange("mix_dco1", 100, 127),)),
                    after=_cursor(middle),
                    limit=100,
                ),
            ),
            ("job progress", lambda: catalog.job_progress(job_id)),
            ("job report (progress + per-rig breakdown)", lambda: job_report(catalog, job_id)),
        ]
        for name, action in cases:
            median, worst = _time_ms(action)
            verdict = "ok" if median < 50 else "ABOVE TARGET"
            print(f"{name:<52} median {median:6.1f} ms  max {worst:6.1f} ms  ({verdict})")


def _cursor(take_id: int) -> str:
    from db.records import encode_cursor

    return encode_cursor(take_id)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
