"""Dataset export throughput over real HTTP: NPZ feature shards and the FLAC tar, takes/s.

Records ``--takes`` takes (1 s tones at 44.1 kHz, 24-bit FLAC) in a fresh catalog, freezes
them, serves the API with uvicorn on a loopback socket in this process and pulls the dataset
with the client (:func:`daq.pull.pull_shards` / :func:`daq.pull.pull_tar`), as
``jxdaq dataset pull`` does:

* shards, cold: features (thesis STFT, 690 x 16) computed and cached by the server;
* shards, cached: the same pull into a fresh directory, served from the server's cache
  (the figure the target of 2,000 takes/s is about);
* tar: FLAC files and the parameters table, streamed;
* WebDataset: ``webdataset.WebDataset`` over the API's shard URLs (``pipe:curl`` with the
  bearer token) into a PyTorch ``DataLoader`` (batches of 64), each FLAC decoded to float32
  with soundfile and each tone's 44 raw values as a tensor: examples/s with audio decoded.

RSS is sampled every 10 ms; the growth printed is the peak during each pull over the
resident size before it (client and server share this process).

    .venv/bin/python benchmarks/dataset_export.py [--takes 3000] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import soundfile
import torch
import uvicorn
import webdataset
from _catalog_bench import postgres_catalog, sqlite_catalog

from daq.api.app import create_app
from daq.client import ApiClient
from daq.pull import pull_shards, pull_tar
from daq.settings import Settings
from db.catalog import Catalog
from db.records import NewTake, TakeFilter
from db.schema import QcVerdict, Role, utcnow
from db.store import AudioStore
from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.tone import Tone

RATE = 44100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE_SIZE


class PeakRss:
    """The highest resident size seen while the block runs, sampled every 10 ms."""

    def __enter__(self) -> PeakRss:
        self.before = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.before) / 1e6


def fill(catalog: Catalog, store: AudioStore, count: int) -> int:
    """``count`` takes of decaying saw tones with random tone parameters; the job id."""
    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    catalog.upsert_rig("bench", "emulator")
    job = catalog.create_job("export bench", {}, count, seed=0)
    batch: list[NewTake] = []
    for i in range(count):
        phase = (440 * 2 ** rng.uniform(-1, 1) * t) % 1.0
        audio = ((2 * phase - 1) * np.exp(-t * rng.uniform(0.5, 3)) * 0.5).astype(np.float32)
        tone = Tone.from_values(
            {p.key: int(v) for p, v in zip(TONE_PARAMETERS, rng.integers(0, 128, 44), strict=True)}
        )
        batch.append(
            NewTake(
                claim=catalog.claim_next("bench", 600),
                tone=tone.data,
                audio=store.write(audio, RATE),
                qc_verdict=QcVerdict.PASS,
                captured_at=utcnow(),
                software_version="bench",
            )
        )
        if len(batch) == 500 or i == count - 1:
            catalog.record_takes(batch)
            batch = []
    return job.id


class Server:
    def __init__(self, catalog: Catalog, store: AudioStore, var_dir: Path) -> None:
        app = create_app(Settings(var_dir=var_dir), catalog=catalog, store=store)
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join()
        self._socket.close()


def measure(label: str, takes: int, pull: Callable[[], object], megabytes: Callable[[], float]):
    with PeakRss() as memory:
        start = time.perf_counter()
        pull()
        seconds = time.perf_counter() - start
    print(
        f"{label:<34} {takes / seconds:>9,.0f} takes/s  {megabytes() / seconds:>7,.1f} MB/s  "
        f"RSS growth {memory.growth_mb:>6.1f} MB"
    )


def decoded(sample: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(audio float32 [frames], the 44 raw tone values) of one WebDataset sample."""
    audio, _ = soundfile.read(io.BytesIO(sample["flac"]), dtype="float32")
    tone = json.loads(sample["json"])["tone"]
    return torch.from_numpy(audio), torch.tensor(list(tone.values()), dtype=torch.uint8)


def stream_webdataset(urls: list[str], workers: int, takes: int) -> None:
    dataset = webdataset.WebDataset(urls, shardshuffle=False, empty_check=False).map(decoded)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, num_workers=workers)
    seen = sum(len(audio) for audio, _ in loader)
    assert seen == takes, f"streamed {seen} of {takes} takes"


def catalog_for(backend: str) -> AbstractContextManager[Catalog]:
    return postgres_catalog() if backend == "postgresql" else sqlite_catalog()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=3000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--shard-size", type=int, default=256)
    parser.add_argument("--loader-workers", type=int, default=0, help="DataLoader processes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, catalog_for(args.backend) as catalog:
        root = Path(tmp)
        store = AudioStore(root / "audio")
        started = time.perf_counter()
        job = fill(catalog, store, args.takes)
        catalog.freeze_dataset("bench", TakeFilter(job_id=job), {"train": 0.9, "test": 0.1})
        print(
            f"{args.takes} takes recorded in {time.perf_counter() - started:.1f} s "
            f"({args.backend}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
        server = Server(catalog, store, root / "server-var")
        token = catalog.create_token("bench", Role.TRAINER)[1]
        try:
            with ApiClient(server.url, token) as client:

                def shards(out: str) -> Callable[[], object]:
                    return lambda: pull_shards(
                        client, "bench", root / out, shard_size=args.shard_size
                    )

                def size(out: str) -> Callable[[], float]:
                    return lambda: sum(f.stat().st_size for f in (root / out).rglob("*")) / 1e6

                measure("feature shards, cold (computed)", args.takes, shards("cold"), size("cold"))
                measure("feature shards, cached", args.takes, shards("warm"), size("warm"))
                measure(
                    "tar of FLAC + parameters.csv",
                    args.takes,
                    lambda: pull_tar(client, "bench", root / "tar"),
                    size("tar"),
                )
                urls = client.webdataset_urls("bench", shard_size=args.shard_size)
                measure(
                    f"WebDataset -> DataLoader ({args.loader_workers} workers)",
                    args.takes,
                    lambda: stream_webdataset(urls, args.loader_workers, args.takes),
                    size("tar"),  # the same FLAC bytes and a little JSON
                )
        finally:
            server.close()


if __name__ == "__main__":
    main()
