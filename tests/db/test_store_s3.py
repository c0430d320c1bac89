"""The audio store on an S3 endpoint (s3fs against moto's standalone server on loopback):
the same guarantees as the local store.

A ``jxdaq worker`` process whose first upload is held half-sent (a relay in front of the
endpoint stops passing its body) is SIGKILLed in the middle of it: no object appears, no take
is recorded, and the catalog verifies clean. A worker SIGKILLed at an arbitrary point of a
job leaves no take without its object; what a kill between an upload and its row leaves (an
orphan object) and a damaged object are found by ``jxdaq catalog verify`` and repaired by
``--repair``; a second worker then finishes the job and it verifies clean.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import s3fs
from device_support import Process, worker_env
from moto.server import ThreadedMotoServer

from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.spec import JobSpec
from db.engine import open_catalog
from db.schema import JobState
from db.store import AudioStore, StoreIntegrityError, encode_flac
from db.verify import verify

JOB = {"source": {"kind": "uniform"}, "count": 30, "seed": 11,
       "capture": {"hold_s": 0.3, "tail": {"max_s": 0.2}}}  # fmt: skip


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, and the AWS variables a lab sets, for this process and
    the ``jxdaq`` processes it starts."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    variables = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "jxdaq-test",
        "AWS_SECRET_ACCESS_KEY": "jxdaq-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()
        try:
            yield endpoint
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            server.stop()


@pytest.fixture
def s3_url(s3_endpoint: str) -> str:
    """``s3://<new bucket>/audio``."""
    bucket = f"jx-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem().mkdir(bucket)
    return f"s3://{bucket}/audio"


class StallingRelay:
    """A TCP relay to the S3 endpoint that passes the first PUT's headers and ``keep`` bytes of
    its body, then holds the connection open: an upload in flight for as long as the test
    wants. Every other request passes through."""

    def __init__(self, endpoint: str, keep: int = 1024) -> None:
        self.upstream = endpoint.removeprefix("http://").split(":")
        self.keep = keep
        self.stalled = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            host, port = self.upstream
            server = socket.create_connection((host, int(port)))
            threading.Thread(target=self._relay, args=(server, client), daemon=True).start()
            threading.Thread(target=self._relay, args=(client, server, True), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket, watch: bool = False) -> None:
        seen = b""
        try:
            while data := source.recv(65536):
                if watch and not self.stalled.is_set():
                    seen += data
                    body = _body_start(seen)
                    if body is not None and len(seen) - body > self.keep:
                        sink.sendall(data[: len(data) - (len(seen) - body - self.keep)])
                        self.stalled.set()
                        while source.recv(65536):  # held: nothing more reaches the server
                            pass
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            source.close()
            sink.close()

    def close(self) -> None:
        self.listener.close()


def _body_start(request_bytes: bytes) -> int | None:
    """Where the body of the first PUT in ``request_bytes`` starts, once its headers are in."""
    put = request_bytes.find(b"PUT ")
    end = request_bytes.find(b"\r\n\r\n", put) if put >= 0 else -1
    return None if end < 0 else end + 4


def _flac(seed: int) -> bytes:
    import numpy as np

    wave = np.random.default_rng(seed).standard_normal(4410).astype(np.float32) / 8
    return encode_flac(wave, 44100)


def test_objects_are_named_by_their_hash_and_checked_when_read(s3_url):
    store = AudioStore(s3_url)
    assert not store.local
    data = _flac(1)
    sha256 = store.put_bytes(data)
    key = f"{sha256[:2]}/{sha256}.flac"
    assert store.read_bytes(key) == data and store.hash_file(key) == sha256
    assert store.bucket_entries(sha256[:2]) == ([key], [])
    store.fs.pipe_file(f"{store.root}/{key}", data[:-1] + b"x")  # the object is damaged
    with pytest.raises(StoreIntegrityError, match=f"audio {key} is corrupt"):
        store.read_bytes(key)
    missing = f"{sha256[:2]}/{'0' * 64}.flac"
    with pytest.raises(StoreIntegrityError, match=f"audio {missing} is missing"):
        store.read_bytes(missing)


def test_a_listing_sees_what_another_process_wrote(s3_url):
    store = AudioStore(s3_url)
    sha256 = store.put_bytes(_flac(2))
    bucket = sha256[:2]
    assert len(store.bucket_entries(bucket)[0]) == 1
    other = _flac(next(i for i in range(3, 10_000) if _sha_prefix(_flac(i)) == bucket))
    writer = f"from db.store import AudioStore; AudioStore({s3_url!r}).put_bytes({other!r})"
    subprocess.run([sys.executable, "-c", writer], check=True, timeout=60)
    assert len(store.bucket_entries(bucket)[0]) == 2


def _sha_prefix(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:2]


def _worker(catalog_url: str, s3_url: str, tmp_path, job_id: int, **env: str) -> Process:
    env = {**worker_env(catalog_url, tmp_path), "JXDAQ_STORE_URL": s3_url, **env}
    command = [sys.executable, "-m", "jxdaq", "worker", "--rig", EMULATED.name,
               "--job", str(job_id), "--batch", "2", "--lease-s", "2"]  # fmt: skip
    return Process(command, env=env)


def _verify_cli(catalog_url: str, s3_url: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jxdaq", "catalog", "verify", "--url", catalog_url,
         "--store", s3_url, *options],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip


def test_a_job_on_s3_survives_a_killed_worker_and_verify_repairs(catalog_url, s3_url, tmp_path):
    catalog = open_catalog(catalog_url)
    catalog.upsert_rig(EMULATED.name, EMULATED.transport)
    store = AudioStore(s3_url)
    job = submit_job(catalog, JobSpec.model_validate(JOB))

    worker = _worker(catalog_url, s3_url, tmp_path, job.id)
    deadline = time.monotonic() + 120
    while catalog.get_job(job.id).captured < 8:
        assert time.monotonic() < deadline and worker.process.poll() is None, worker.drain()
        time.sleep(0.02)
    worker.kill()  # SIGKILL: wherever it was, uploads and commits included
    killed_at = catalog.get_job(job.id).captured
    assert killed_at < JOB["count"], "the job finished before the kill"

    report = verify(catalog, store)
    assert report.catalog_ok, (report.missing, report.corrupt)
    assert report.takes_checked == killed_at and not report.debris

    # a kill between an upload and its row leaves an orphan object; a bad disk, a corrupt one
    orphan_sha = store.put_bytes(_flac(99))
    take = catalog.takes_by_sha_range("00", "g")[0]
    store.fs.pipe_file(f"{store.root}/{take[1]}", b"damaged")
    result = _verify_cli(catalog_url, s3_url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"corrupt audio (take, key): 1\n  ({take[0]}, '{take[1]}')" in result.stdout
    assert f"orphan files: {1 + len(report.orphans)}" in result.stdout
    assert orphan_sha in result.stdout

    result = _verify_cli(catalog_url, s3_url, "--repair", "--grace", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "repaired: 1 takes requeued" in result.stdout
    quarantined = store.fs.find(f"{store.root}/quarantine")
    assert any(orphan_sha in path for path in quarantined)
    assert any(take[2] in path for path in quarantined)  # kept for inspection, not deleted

    # a new worker recaptures the broken take and what the killed one left
    time.sleep(2.5)  # the killed worker's leases (--lease-s 2) run out
    finisher = _worker(catalog_url, s3_url, tmp_path, job.id)
    assert finisher.process.wait(timeout=300) == 0, "\n".join(finisher.drain())
    finished = catalog.get_job(job.id)
    assert finished.state == JobState.COMPLETED
    final = verify(catalog, store, grace_s=0)
    assert final.clean, final
    assert final.takes_checked == finished.captured
    catalog.close()


def test_a_worker_killed_mid_upload_leaves_no_object_and_no_take(
    catalog_url, s3_url, s3_endpoint, tmp_path
):
    catalog = open_catalog(catalog_url)
    catalog.upsert_rig(EMULATED.name, EMULATED.transport)
    store = AudioStore(s3_url)
    job = submit_job(catalog, JobSpec.model_validate({**JOB, "count": 4}))
    relay = StallingRelay(s3_endpoint)
    worker = _worker(catalog_url, s3_url, tmp_path, job.id, AWS_ENDPOINT_URL=relay.url)
    try:
        assert relay.stalled.wait(120), "\n".join(worker.drain())
        time.sleep(0.5)  # the headers and the first bytes of the body are at the server
        worker.kill()
    finally:
        relay.close()
    assert store.fs.find(store.root) == []  # no object, not even a partial one
    assert catalog.get_job(job.id).captured == 0
    report = verify(catalog, store, grace_s=0)
    assert report.clean and report.takes_checked == 0

    time.sleep(2.5)  # the killed worker's leases (--lease-s 2) run out
    finisher = _worker(catalog_url, s3_url, tmp_path, job.id)
    assert finisher.process.wait(timeout=300) == 0, "\n".join(finisher.drain())
    assert catalog.get_job(job.id).captured + catalog.get_job(job.id).failed == 4
    assert verify(catalog, store, grace_s=0).clean
    catalog.close()
