"""A worker through a PostgreSQL restart: does it survive, and how soon does capture resume?

A ``jxdaq worker`` process (the accelerated emulated rig) captures a job into a PostgreSQL
cluster of the benchmark's own (``initdb`` in a temporary directory, another port); mid-job
the server is stopped for ``--outage-s`` seconds and started again with ``pg_ctl``. Printed:
worker exits during the job, takes lost (captured samples without a take), takes duplicated
(samples with more than one take), and the seconds from the database coming back to the
next take recorded (the target: 0, 0, 0 and at most 5 s).

    PYTHONPATH=. python benchmarks/worker_outage.py [--outage-s 15] [--takes 400]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from daq.jobs import submit_job
from daq.spec import JobSpec
from db.engine import open_catalog
from db.private_cluster import private_cluster
from db.schema import FINAL_JOB_STATES, Take


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage-s", type=float, default=15.0)
    parser.add_argument("--takes", type=int, default=400)
    args = parser.parse_args()
    spec = JobSpec.model_validate(
        {"source": {"kind": "prior"}, "count": args.takes, "seed": 3,
         "capture": {"hold_s": 0.5, "tail": {"max_s": 0.3}}}
    )  # fmt: skip
    with private_cluster() as cluster, tempfile.TemporaryDirectory() as var_dir:
        catalog = open_catalog(cluster.url)
        job = submit_job(catalog, spec)
        env = {**os.environ, "JXDAQ_CATALOG_URL": cluster.url, "JXDAQ_VAR_DIR": var_dir,
               "JXDAQ_STORE_URL": str(Path(var_dir) / "audio")}  # fmt: skip
        command = [sys.executable, "-m", "jxdaq", "worker", "--rig", "emulated",
                   "--job", str(job.id), "--batch", "2"]  # fmt: skip
        worker = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        log: list[str] = []
        reader = threading.Thread(target=lambda: log.extend(worker.stderr or []), daemon=True)
        reader.start()
        wait_for(lambda: catalog.get_job(job.id).captured >= args.takes // 10, 300)
        cluster.stop()
        time.sleep(args.outage_s)  # the outage itself: a benchmark, not a test
        died_in_outage = worker.poll() is not None
        cluster.start()
        back = datetime.now(UTC)
        catalog.engine.dispose()
        wait_for(lambda: worker.poll() is not None or first_take_after(catalog, back), 120)
        resumed = first_take_after(catalog, back)
        wait_for(lambda: worker.poll() is not None, 600)
        reader.join(timeout=10)
        exits = int(died_in_outage or worker.returncode != 0)
        if catalog.get_job(job.id).state not in FINAL_JOB_STATES:
            exits = 1
        captured = catalog.get_job(job.id).captured
        with catalog.engine.connect() as connection:
            takes, samples = connection.execute(
                select(func.count(Take.id), func.count(func.distinct(Take.sample_id))).where(
                    Take.job_id == job.id
                )
            ).one()
        print(f"outage: {args.outage_s:.0f} s PostgreSQL stop/start, {args.takes} takes")
        print(f"worker exits: {exits}")
        print(f"takes lost: {captured - samples}")
        print(f"takes duplicated: {takes - samples}")
        print(
            "seconds from the database back to the next recorded take: "
            + ("never" if resumed is None else f"{(resumed - back).total_seconds():.2f}")
        )
        if exits:
            print("worker output:\n" + "".join(log[-40:]))
        catalog.close()


def first_take_after(catalog, moment: datetime) -> datetime | None:
    with catalog.engine.connect() as connection:
        return connection.execute(
            select(func.min(Take.recorded_at)).where(Take.recorded_at > moment)
        ).scalar()


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout:.0f} s")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
