"""What a job at the largest allowed spec costs the API: submit once, then time the reads that
every operator's screen makes. Prints size and median latency of each.

The job is a list source of ``MAX_ENUMERATED`` tones, each setting every parameter (the
largest spec a job may hold, banks aside), among ``--jobs`` small ones. The app is the real
one over a real catalog, driven in-process through FastAPI's TestClient (no network).

Usage: .venv/bin/python benchmarks/job_size.py [--jobs 100] [--repeat 20]
       [--url postgresql://...] (default: a fresh SQLite catalog in a temporary directory)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from daq.api.app import create_app
from daq.settings import Settings
from daq.spec import MAX_ENUMERATED
from db.engine import open_catalog
from db.schema import Role
from db.store import AudioStore
from firmware_protocol.parameters import TONE_PARAMETERS

SMALL = {"source": {"kind": "uniform"}, "count": 10}


def timed(client: TestClient, url: str, repeat: int, **kwargs: object) -> tuple[float, int]:
    """Median seconds and size in bytes of ``GET url``."""
    seconds, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(url, **kwargs)  # type: ignore[arg-type]
        seconds.append(time.perf_counter() - start)
        assert answer.status_code == 200, (url, answer.status_code)
        size = len(answer.content)
    return statistics.median(seconds), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100, help="small jobs beside the large one")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        catalog = open_catalog(args.url or f"sqlite:///{root / 'catalog.db'}")
        app = create_app(Settings(var_dir=root), catalog=catalog, store=AudioStore(root / "a"))
        secret = catalog.create_token("bench", Role.OPERATOR)[1]
        headers = {"Authorization": f"Bearer {secret}"}
        tone = {p.name: 127 for p in TONE_PARAMETERS}
        large = {"name": "largest", "source": {"kind": "list", "tones": [tone] * MAX_ENUMERATED}}
        with TestClient(app) as client:
            for _ in range(args.jobs):
                client.post("/api/v1/jobs", json=SMALL, headers=headers)
            start = time.perf_counter()
            created = client.post("/api/v1/jobs", json=large, headers=headers)
            submit_s = time.perf_counter() - start
            assert created.status_code == 201, created.text[:300]
            job = created.json()["id"]
            body = len(created.request.content)
            print(f"catalog: {catalog.engine.url.render_as_string()}")
            print(f"largest job: {MAX_ENUMERATED} tones x {len(tone)} values, {body:,} bytes")
            print(f"{'request':<34}{'median ms':>10}{'bytes':>12}")
            print(f"{'POST /jobs (once)':<34}{submit_s * 1000:>10.1f}{body:>12,}")
            client.post("/dashboard/login", data={"token": secret})
            for label, url, kwargs in (
                (f"GET /jobs ({args.jobs + 1} jobs)", "/api/v1/jobs", {"headers": headers}),
                ("GET /jobs/{id}", f"/api/v1/jobs/{job}", {"headers": headers}),
                ("GET /jobs/{id}/spec (whole)", f"/api/v1/jobs/{job}/spec", {"headers": headers}),
                ("GET /metrics", "/metrics", {"headers": headers}),
                ("dashboard job page", f"/dashboard/jobs/{job}", {}),
            ):
                seconds, size = timed(client, url, args.repeat, **kwargs)
                print(f"{label:<34}{seconds * 1000:>10.1f}{size:>12,}")
        catalog.close()


if __name__ == "__main__":
    main()
