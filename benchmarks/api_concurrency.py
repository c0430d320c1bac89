"""REST API throughput as concurrency grows: 5, 20 and 200 clients, each sending its next
request as soon as the last is answered. Prints req/s, p50/p99 latency and errors per level,
the server's RSS at the start and end of each, and the machine's load average (the figures
are only comparable at a similar load).

One ``jxdaq serve`` process (uvicorn, real HTTP on loopback) over a fresh SQLite catalog (or
``--url``) holding one job of ``--takes`` recorded takes; the clients (one process, asyncio,
one keep-alive connection each) ask, in turn, for the job's status and a page of its takes.
CPU per request is printed for the server and for the clients: on a shared machine the
req/s follow the CPU the server gets, its CPU per request does not.
Target (issue 11 item 9): 200 clients at least as fast as 20, p99 stated, memory flat.

Usage: .venv/bin/python benchmarks/api_concurrency.py [--clients 5 20 200] [--seconds 20]
       [--takes 500] [--page 50] [--url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import tempfile
import time
from pathlib import Path

import numpy as np
from api_load import free_port, percentile, start_server


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (its share of a loaded machine aside)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill(url: str, store_root: Path, takes: int) -> tuple[int, str]:
    """A completed job of ``takes`` recorded takes and an admin token: (job id, secret)."""
    from db.engine import open_catalog
    from db.records import NewTake
    from db.schema import QcVerdict, Role, utcnow
    from db.store import AudioStore
    from firmware_protocol.tone import Tone

    catalog = open_catalog(url)
    store = AudioStore(store_root)
    rng = np.random.default_rng(1)
    catalog.upsert_rig("bench", "emulator")
    job = catalog.create_job("api concurrency benchmark", {}, takes, seed=0)
    batch = []
    for index in range(takes):
        claim = catalog.claim_next("bench", 600)
        audio = rng.uniform(-0.5, 0.5, 400).astype(np.float32)
        batch.append(
            NewTake(
                claim=claim,
                tone=Tone.from_values({"VCF FREQ": index % 128}).data,
                audio=store.write(audio, 8000),
                qc_verdict=QcVerdict.PASS,
                captured_at=utcnow(),
                software_version="bench",
            )
        )
    catalog.record_takes(batch)
    _, secret = catalog.create_token("benchmark", Role.ADMIN)
    catalog.close()
    return job.id, secret


async def client(port: int, head: str, job_id: int, page: int, until: float, out) -> None:
    """One client on its own keep-alive connection: ask for the job's status and a page of
    its takes, in turn, each as soon as the last answer is in.

    Plain asyncio streams rather than httpx: at 200 connections httpx's pool spent more CPU
    per request than the server (12 ms against 9), so the benchmark measured itself."""
    paths = (f"/api/v1/jobs/{job_id}", f"/api/v1/takes?job={job_id}&limit={page}")
    turn = random.randrange(2)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (start := time.perf_counter()) < until:
            writer.write(f"GET {paths[turn]} HTTP/1.1\r\n{head}\r\n".encode())
            status, length, closing = 0, 0, False
            try:
                status = int((await reader.readline()).split()[1])
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    closing |= name == "connection" and "close" in value.lower()
                await reader.readexactly(length)
            except (ConnectionError, IndexError, ValueError, asyncio.IncompleteReadError) as error:
                out["failures"].append(repr(error))
                closing = True
            out["latency"][turn].append(time.perf_counter() - start)
            if status != 200:
                out["errors"].append(f"{paths[turn]}: {status or 'no answer'}")
            if closing:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            turn = 1 - turn
    finally:
        writer.close()


async def level(
    port: int, secret: str, job_id: int, clients: int, args, pid: int
) -> dict[str, list]:
    """``clients`` clients for ``args.seconds``; the server's RSS is sampled every second."""
    out: dict[str, list] = {"latency": [[], []], "errors": [], "failures": [], "rss": []}
    head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {secret}\r\n"
    until = time.perf_counter() + args.seconds

    async def sample() -> None:
        while time.perf_counter() < until:
            out["rss"].append(resident_mib(pid))
            await asyncio.sleep(1.0)

    await asyncio.gather(
        sample(), *(client(port, head, job_id, args.page, until, out) for _ in range(clients))
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[5, 20, 200])
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each level")
    parser.add_argument("--takes", type=int, default=500, help="takes of the job")
    parser.add_argument("--page", type=int, default=50, help="takes per listed page")
    parser.add_argument("--url", default=None, help="catalog URL (default: fresh SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        var_dir = Path(tmp)
        url = args.url or f"sqlite:///{var_dir / 'catalog.db'}"
        job_id, secret = fill(url, var_dir / "audio", args.takes)
        port = free_port()
        server = start_server(var_dir, url, port, 1)
        try:
            warm_up = argparse.Namespace(**{**vars(args), "seconds": 2.0})
            asyncio.run(level(port, secret, job_id, 5, warm_up, server.pid))  # imports, caches
            backend = "SQLite" if args.url is None else args.url.split(":")[0]
            print(
                f"one server process on {os.cpu_count()} CPUs, {backend}, job of {args.takes} takes"
            )
            for clients in args.clients:
                rss_start, cpu_start = resident_mib(server.pid), cpu_seconds(server.pid)
                mine = time.process_time()
                out = asyncio.run(level(port, secret, job_id, clients, args, server.pid))
                rss_end, cpu = resident_mib(server.pid), cpu_seconds(server.pid) - cpu_start
                mine = time.process_time() - mine
                ms = [1000 * v for v in out["latency"][0] + out["latency"][1]]
                served = max(len(ms), 1)
                print(
                    f"{clients:>4} clients: {len(ms) / args.seconds:6.1f} req/s  "
                    f"CPU/request: server {1000 * cpu / served:5.2f} ms, "
                    f"clients {1000 * mine / served:5.2f} ms  "
                    f"p50 {percentile(ms, 50):7.1f} ms  p99 {percentile(ms, 99):7.1f} ms  "
                    f"{len(out['errors'])} errors  server RSS {rss_start:.0f} -> "
                    f"{out['rss'][len(out['rss']) // 4]:.0f} (a quarter in) -> {rss_end:.0f} MiB"
                    f"  (load average {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
                for failure in sorted(set(out["failures"] + out["errors"]))[:3]:
                    print(f"      failure: {failure}")
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
