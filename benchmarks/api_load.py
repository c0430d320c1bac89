"""REST API under load while a real-time emulated capture runs. Prints latencies, errors and
the capture's duty cycle with and without the load.

Three processes, as in a lab: ``jxdaq serve`` (uvicorn, real HTTP on loopback), a rig worker
on the emulated rig paced to real time (each take occupies pre-roll + hold + tail of wall
time, as on a real synth; the render, QC, FLAC and catalog work must fit inside that slot),
and this process running N concurrent clients (asyncio + httpx) that poll the job's status
and list its takes, in turn, each at a steady interval (``--interval 0``: as fast as the
answers come, which measures saturation throughput rather than polling latency).

Duty cycle = time the rig spends capturing / wall time. A take whose work overruns its slot
leaves the rig idle for the overrun. Target (issue 5): p99 < 100 ms, no errors, duty cycle
unchanged within 0.5 % (the worker runs once alone for a baseline, then under load).

Usage: .venv/bin/python benchmarks/api_load.py [--clients 50] [--seconds 30] [--baseline 15]
       [--interval 0.5] [--page 50]
       [--url postgresql://...] (default: a fresh SQLite catalog in a temporary directory)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

SPEC = {
    "name": "api load benchmark",
    "source": {"kind": "uniform"},
    "count": 1_000_000,
    "capture": {"hold_s": 1.0, "pre_roll_s": 0.1, "tail": {"max_s": 0.5}},
    "rigs": ["emulated"],
}


# -- the rig worker (a subprocess) -------------------------------------------------------------
def run_worker(url: str, store_root: str, seconds: float) -> None:
    """Capture in real time for ``seconds`` after the first take; print stats as JSON."""
    from daq.rigs import EMULATED
    from daq.worker import Worker
    from db.engine import open_catalog
    from db.store import AudioStore

    catalog = open_catalog(url, upgrade=False)
    capture = SPEC["capture"]
    slot_s = capture["pre_roll_s"] + capture["hold_s"] + capture["tail"]["max_s"]
    stop = threading.Event()
    state = {"start": 0.0, "due": 0.0, "takes": 0, "overrun_s": 0.0}

    def pace(_submitted: int) -> None:
        now = time.perf_counter()
        if state["takes"] == 0:  # the first take compiled the DSP: start the clock here
            state["start"] = state["due"] = now
            print("capturing", flush=True)
        else:
            state["overrun_s"] += max(0.0, now - state["due"])
            state["due"] = max(state["due"], now)
        state["takes"] += 1
        state["due"] += slot_s
        if now - state["start"] >= seconds:
            stop.set()
            return
        time.sleep(max(0.0, state["due"] - time.perf_counter()))

    worker = Worker(catalog, AudioStore(store_root), EMULATED, batch=1, stop=stop, on_take=pace)
    worker.run()
    elapsed = time.perf_counter() - state["start"]
    captured = (state["takes"] - 1) * slot_s
    print(
        json.dumps(
            {
                "takes": state["takes"] - 1,
                "elapsed_s": elapsed,
                "overrun_s": state["overrun_s"],
                "duty": captured / (captured + state["overrun_s"]) if captured else 0.0,
            }
        ),
        flush=True,
    )
    catalog.close()


def start_worker(url: str, store_root: Path, seconds: float) -> subprocess.Popen:
    command = [sys.executable, __file__, "--worker", "--url", url, "--store", str(store_root)]
    return subprocess.Popen(
        [*command, "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True
    )


def wait_capturing(worker: subprocess.Popen) -> None:
    line = worker.stdout.readline()
    if line.strip() != "capturing":
        raise RuntimeError(f"the worker did not start capturing: {line!r}")


def worker_stats(worker: subprocess.Popen) -> dict[str, float]:
    out, _ = worker.communicate(timeout=120)
    return json.loads(out.strip().splitlines()[-1])


# -- the server --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(var_dir: Path, url: str, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "JXDAQ_VAR_DIR": str(var_dir), "JXDAQ_CATALOG_URL": url}
    command = [sys.executable, "-m", "jxdaq", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    server = subprocess.Popen([*command, "--log-level", "warning"], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not come up")


# -- the clients -------------------------------------------------------------------------------
async def client_loop(
    client: httpx.AsyncClient,
    job_id: int,
    page: int,
    interval: float,
    until: float,
    out: dict[str, list],
) -> None:
    """Poll the job's status and list its takes, in turn, one request every ``interval``."""
    routes = (f"/api/v1/jobs/{job_id}", "/api/v1/takes")
    params = ({}, {"job": job_id, "limit": page})
    turn = random.randrange(2)
    due = time.perf_counter() + random.uniform(0, interval)  # clients out of phase
    while True:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        start = time.perf_counter()
        if start >= until:
            return
        due = max(due + interval, start)
        try:
            answer = await client.get(routes[turn], params=params[turn])
            ok = answer.status_code == 200
        except httpx.HTTPError as error:
            ok = False
            out["failures"].append(repr(error))
        out["latency"][turn].append(time.perf_counter() - start)
        if not ok:
            out["errors"].append(routes[turn])
        turn = 1 - turn


async def load(port: int, secret: str, job_id: int, args: argparse.Namespace):
    out: dict[str, list] = {"latency": [[], []], "errors": [], "failures": []}
    clients = args.clients
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, limits=limits, timeout=30
    ) as client:
        until = time.perf_counter() + args.seconds
        await asyncio.gather(
            *(
                client_loop(client, job_id, args.page, args.interval, until, out)
                for _ in range(clients)
            )
        )
    return out


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 10) - 1]


def report(name: str, latencies: list[float]) -> None:
    ms = [1000 * v for v in latencies]
    print(
        f"  {name:<24} {len(ms):>6} requests  p50 {percentile(ms, 50):6.1f} ms  "
        f"p99 {percentile(ms, 99):6.1f} ms  max {max(ms):6.1f} ms"
    )


# -- the benchmark -----------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0, help="load duration")
    parser.add_argument("--baseline", type=float, default=15.0, help="capture-only duration")
    parser.add_argument("--page", type=int, default=50, help="takes per listed page")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.5,
        help="seconds between one client's requests (jxdaq job watch polls every 1 s); "
        "0: as fast as answers come",
    )
    parser.add_argument("--url", default=None, help="catalog URL (default: fresh SQLite)")
    parser.add_argument("--server-workers", type=int, default=1, help="jxdaq serve --workers")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.url, args.store, args.seconds)
        return

    from db.engine import open_catalog
    from db.schema import Role

    with tempfile.TemporaryDirectory() as tmp:
        var_dir = Path(tmp)
        url = args.url or f"sqlite:///{var_dir / 'catalog.db'}"
        catalog = open_catalog(url)
        _, secret = catalog.create_token("benchmark", Role.ADMIN)
        catalog.close()
        port = free_port()
        server = start_server(var_dir, url, port, args.server_workers)
        workers: list[subprocess.Popen] = []
        try:
            created = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/jobs",
                json=SPEC,
                headers={"Authorization": f"Bearer {secret}"},
                timeout=30,
            )
            created.raise_for_status()
            job_id = created.json()["id"]

            workers.append(start_worker(url, var_dir / "audio", args.baseline))
            wait_capturing(workers[-1])
            alone = worker_stats(workers[-1])

            workers.append(start_worker(url, var_dir / "audio", args.seconds))
            wait_capturing(workers[-1])
            out = asyncio.run(load(port, secret, job_id, args))
            loaded = worker_stats(workers[-1])
        finally:
            for process in [*workers, server]:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
                    process.wait(timeout=30)

    status, takes = out["latency"]
    total = len(status) + len(takes)
    print(
        f"{args.clients} clients, one request each every {args.interval:g} s, for "
        f"{args.seconds:g} s; {args.server_workers} server process(es) on {os.cpu_count()} "
        f"CPUs (load average {os.getloadavg()[0]:.1f}) "
        f"({'SQLite' if args.url is None else args.url.split(':')[0]}): "
        f"{total} requests, {total / args.seconds:.0f} req/s, {len(out['errors'])} errors"
    )
    report("GET /jobs/{id}", status)
    report(f"GET /takes?limit={args.page}", takes)
    report("all", status + takes)
    for failure in sorted(set(out["failures"]))[:5]:
        print(f"  failure: {failure}")
    print(
        f"capture duty cycle: alone {100 * alone['duty']:.2f} % ({alone['takes']} takes), "
        f"under load {100 * loaded['duty']:.2f} % ({loaded['takes']} takes); "
        f"change {100 * (loaded['duty'] - alone['duty']):+.2f} points"
    )


if __name__ == "__main__":
    main()
