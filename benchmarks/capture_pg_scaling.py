"""Throughput of 1, 2 and 4 ``jxdaq worker`` processes (one emulated rig each) sharing one job
on PostgreSQL: takes per second end to end (render, QC, FLAC, catalog).

Each round submits the example job (preset prior, 4 s hold + tail) to a fresh schema and
starts the workers; the rate is counted from the job's first claim to its last commit, so
process start-up is left out. Throughput should grow with the cores the machine has free.
The renderer's threads are shared out (``NUMBA_NUM_THREADS`` = cores / workers): with every
worker starting a thread per core, four workers on two cores ran 7x slower than one.

Needs PostgreSQL (scripts/test-services.sh); JXDAQ_TEST_PG_URL overrides the server.
Usage: .venv/bin/python benchmarks/capture_pg_scaling.py [--takes 400] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

from daq.jobs import submit_job
from daq.spec import load_spec
from db.engine import open_catalog

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "job-prior.toml"
PG_URL = os.environ.get("JXDAQ_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def run_round(workers: int, takes: int, tmp: Path) -> tuple[float, int, int]:
    """(takes per second, takes captured, takes failed) for ``workers`` processes."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        catalog = open_catalog(url)
        job = submit_job(catalog, load_spec(EXAMPLE).model_copy(update={"count": takes}))
        rigs_file = tmp / "rigs.toml"
        rigs_file.write_text(
            "".join(f'[rigs.emu-{n}]\ninstrument = "emulated"\n' for n in range(workers))
        )
        env = {
            **os.environ,
            "JXDAQ_CATALOG_URL": url,
            "JXDAQ_STORE_URL": str(tmp / f"audio-{schema}"),
            "JXDAQ_VAR_DIR": str(tmp),
            "NUMBA_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // workers)),
        }
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jxdaq",
                    "worker",
                    "--rig",
                    f"emu-{n}",
                    "--rigs-file",
                    str(rigs_file),
                    "--job",
                    str(job.id),
                    "--log-level",
                    "warning",
                ],
                env=env,
            )
            for n in range(workers)
        ]
        for process in processes:
            if process.wait() != 0:
                raise SystemExit(f"a worker failed (exit code {process.returncode})")
        done = catalog.get_job(job.id)
        assert done.started_at is not None and done.finished_at is not None
        seconds = (done.finished_at - done.started_at).total_seconds()
        catalog.close()
        return (done.captured + done.failed) / seconds, done.captured, done.failed
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--takes", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_round(1, 16, Path(tmp))  # load the DSP kernels' cache before timing anything
        print(f"{'workers':>7}  {'takes/s':>8}  {'captured':>8}  {'failed':>6}")
        for workers in args.workers:
            rate, captured, failed = run_round(workers, args.takes, Path(tmp))
            print(f"{workers:>7}  {rate:>8.1f}  {captured:>8}  {failed:>6}")
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
