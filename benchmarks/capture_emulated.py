"""Accelerated emulated rig, end to end: render, QC, FLAC, catalog. Prints takes per second.

Target (capture issue): at least 50 four-second takes per second on the 2-core machine.
Usage: .venv/bin/python benchmarks/capture_emulated.py [--takes 400] [--url sqlite:///...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.spec import load_spec
from daq.worker import Worker
from db.engine import open_catalog
from db.store import AudioStore

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "job-prior.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--takes", type=int, default=400)
    parser.add_argument("--url", default=None, help="catalog URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        catalog = open_catalog(args.url or f"sqlite:///{tmp}/catalog.db")
        store = AudioStore(Path(tmp) / "audio")
        spec = load_spec(EXAMPLE)
        warm = submit_job(catalog, spec.model_copy(update={"count": 16}))
        Worker(catalog, store, EMULATED).run(job_id=warm.id)  # compile the DSP first
        job = submit_job(catalog, spec.model_copy(update={"count": args.takes}))
        start = time.perf_counter()
        Worker(catalog, store, EMULATED).run(job_id=job.id)
        elapsed = time.perf_counter() - start
        done = catalog.get_job(job.id)
        audio_s = done.captured * (spec.capture.hold_s + spec.capture.pre_roll_s)
        print(f"{done.captured + done.failed} takes in {elapsed:.1f} s")
        print(
            f"{(done.captured + done.failed) / elapsed:.1f} takes/s end to end "
            f"({audio_s / elapsed:.0f} x real time, hold {spec.capture.hold_s:g} s + tail)"
        )


if __name__ == "__main__":
    main()
