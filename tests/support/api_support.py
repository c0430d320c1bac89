"""What the API tests share: routes, specs, takes recorded with known audio, and ``jxdaq
serve`` as a real process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

import httpx
import numpy as np
from fastapi.testclient import TestClient
from paths import EXAMPLES

from daq.api.session import csrf_token
from db.catalog import Catalog
from db.records import NewTake
from db.schema import QcVerdict, Role, utcnow
from db.store import AudioStore
from firmware_protocol.tone import Tone

EXAMPLE = EXAMPLES / "job-prior.toml"
JOBS = "/api/v1/jobs"
TAKES = "/api/v1/takes"
RIGS = "/api/v1/rigs"
TOKENS = "/api/v1/tokens"
DASHBOARD = "/dashboard"
#: How the job form lists its errors.
FORM_ERROR = r"<li><code>(.*?)</code>: (.*?)</li>"
#: The rig the tests' rig token is named after.
RIG = "board-a"
UNIFORM = {"source": {"kind": "uniform"}, "count": 3, "capture": {"hold_s": 0.5}}
LIST_SPEC = {"source": {"kind": "list", "tones": [{"VCF FREQ": 40}]}, "capture": {"hold_s": 0.5}}


@dataclass
class Api:
    """A client of the app plus the catalog and store behind it, and a token per role."""

    client: TestClient
    catalog: Catalog
    store: AudioStore
    secrets: dict[Role, str] = field(default_factory=dict)

    def auth(self, role: Role) -> dict[str, str]:
        """Headers carrying a live token of ``role`` (a rig token is named after rig RIG)."""
        if role not in self.secrets:
            name = RIG if role == Role.RIG else f"test-{role}"
            self.secrets[role] = self.catalog.create_token(name, role)[1]
        return {"Authorization": f"Bearer {self.secrets[role]}"}

    def as_(self, role: Role, method: str, url: str, **kwargs):
        headers = {**kwargs.pop("headers", {}), **self.auth(role)}
        return self.client.request(method, url, headers=headers, **kwargs)


def sine(frequency: float, seconds: float = 0.5, rate: int = 44100, channels: int = 1):
    t = np.arange(round(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1)


def record_takes(
    api: Api,
    tones: list[dict[str, int]],
    *,
    rig: str = RIG,
    frequency: float = 440.0,
    verdict: QcVerdict = QcVerdict.PASS,
    channels: int = 1,
) -> tuple[int, list[int]]:
    """A job of ``len(tones)`` samples captured on ``rig`` as sine takes; (job id, take ids)."""
    catalog = api.catalog
    catalog.upsert_rig(rig, "emulator")
    job = catalog.create_job("recorded", {}, len(tones), seed=0)
    takes = []
    for index, values in enumerate(tones):
        claim = catalog.claim_next(rig, 60)
        assert claim is not None and claim.index == index
        takes.append(
            NewTake(
                claim=claim,
                tone=Tone.from_values(values).data,
                audio=api.store.write(sine(frequency, channels=channels), 44100),
                qc_verdict=verdict,
                captured_at=utcnow(),
                software_version="test",
            )
        )
    ids = catalog.record_takes(takes)
    assert all(i is not None for i in ids)
    return job.id, ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(var_dir: Path, host: str, port: int, **env: str) -> subprocess.Popen:
    """``jxdaq serve`` on a catalog in ``var_dir``, with ``env`` added to its environment."""
    environment = {**os.environ, "JXDAQ_VAR_DIR": str(var_dir), **env}
    for name in ("JXDAQ_CATALOG_URL", "JXDAQ_CONFIG"):
        if name not in env:
            environment.pop(name, None)
    command = [sys.executable, "-m", "jxdaq", "serve", "--host", host, "--port", str(port)]
    return subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_healthy(process: subprocess.Popen, port: int, timeout_s: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer /health in time")


def login(api: Api, role: Role) -> str:
    """Log the test client in with a fresh token of ``role``; the session's CSRF token."""
    api.client.cookies.clear()
    api.auth(role)
    answer = api.client.post(
        f"{DASHBOARD}/login", data={"token": api.secrets[role]}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return csrf_token(api.secrets[role])


def alerts(html: str) -> list[str]:
    """The page's error messages (a form's: ``field: message`` each)."""
    found = re.findall(r'<p[^>]*role="alert">(.*?)</p>', html, re.S)
    found += [f"{field}: {message}" for field, message in re.findall(FORM_ERROR, html, re.S)]
    return [unescape(re.sub(r"<[^>]+>", "", text)).strip() for text in found]
