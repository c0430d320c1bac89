"""Backup of a big catalog: a first backup of N takes (default 100,000, each with a small FLAC
of its own: 10 ms of noise, about 1.3 kB), then a second one after 1,000 more takes, which
copies only the new audio. Prints time, files and bytes of both.

Rows are inserted in bulk and the source store's files written without fsync (the catalog
and store are only the benchmark's input); the backups themselves run as
``jxdaq catalog backup`` does. Temporary folders are removed at the end.

    .venv/bin/python benchmarks/catalog_backup.py [takes] [--postgres]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np
from _catalog_bench import postgres_catalog, sqlite_catalog
from sqlalchemy import insert

from db.backup import backup
from db.catalog import Catalog
from db.schema import QcVerdict, Sample, SampleState, Take, parameter_column_name, utcnow
from db.store import AudioStore, encode_flac, key_for
from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.tone import INIT_TONE

BATCH = 5000


def _add_takes(catalog: Catalog, store: AudioStore, job_id: int, rig_id: int, start: int, n: int):
    """``n`` captured samples and their takes, each with its own FLAC in ``store``."""
    rng = np.random.default_rng(start)
    now = utcnow()
    parameters = {parameter_column_name(p.key): 64 for p in TONE_PARAMETERS}
    for first in range(start, start + n, BATCH):
        indices = range(first, min(first + BATCH, start + n))
        samples, takes = [], []
        for index in indices:
            data = encode_flac((rng.standard_normal(441) * 0.1).astype(np.float32), 44100)
            sha256 = hashlib.sha256(data).hexdigest()
            path = Path(store.root) / key_for(sha256)
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            samples.append({"id": index + 1, "job_id": job_id, "index": index,
                            "tone": INIT_TONE.data, "state": SampleState.CAPTURED,
                            "attempts": 1, "updated_at": now})  # fmt: skip
            takes.append({"sample_id": index + 1, "job_id": job_id, "rig_id": rig_id,
                          "audio_key": key_for(sha256), "sha256": sha256, "sample_rate": 44100,
                          "channels": 1, "frames": 441, "qc_verdict": QcVerdict.PASS,
                          "qc_reasons": [], "software_version": "bench", "captured_at": now,
                          "recorded_at": now, **parameters})  # fmt: skip
        with catalog.engine.begin() as connection:
            connection.execute(insert(Sample), samples)
            connection.execute(insert(Take), takes)


def _backup(url: str, store: AudioStore, dest: Path, label: str) -> None:
    start = time.perf_counter()
    report = backup(url, store, dest)
    seconds = time.perf_counter() - start
    print(
        f"{label}: {report.takes:,} takes in {seconds:.1f} s ({report.takes / seconds:,.0f} "
        f"takes/s); copied {report.copied:,} of {report.files:,} files, "
        f"{report.copied_bytes / 1e6:,.1f} MB audio + {report.catalog_bytes / 1e6:,.1f} MB catalog"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("takes", type=int, nargs="?", default=100_000)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    with (
        (postgres_catalog if args.postgres else sqlite_catalog)() as catalog,
        tempfile.TemporaryDirectory() as folder,
    ):
        url = catalog.engine.url.render_as_string(hide_password=False)
        store = AudioStore(Path(folder) / "audio")
        rig = catalog.upsert_rig("rig-0", "emulated").id
        job = catalog.create_job("big", {}, args.takes + 1000, seed=0).id
        start = time.perf_counter()
        _add_takes(catalog, store, job, rig, 0, args.takes)
        print(f"catalog of {args.takes:,} takes built in {time.perf_counter() - start:.0f} s "
              f"({catalog.engine.url.get_backend_name()})")  # fmt: skip
        dest = Path(folder) / "backup"
        _backup(url, store, dest, "first backup")
        _add_takes(catalog, store, job, rig, args.takes, 1000)
        _backup(url, store, dest, "after 1,000 more takes")


if __name__ == "__main__":
    main()
