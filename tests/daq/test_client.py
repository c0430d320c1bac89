"""The API client against a live server (uvicorn on a real socket, real HTTP through httpx):
errors in one line, a bank named by a job file uploaded from here, roles enforced.
The commands on top of it: tests/jxdaq/commands/test_job.py and test_dataset.py."""

from __future__ import annotations

import base64

from client_support import SPEC, jxdaq

from daq.settings import get_settings
from db.schema import Role
from firmware_protocol.sysex import jx8p_bank
from firmware_protocol.tone import INIT_TONE


def test_client_errors_are_one_line(server, spec, monkeypatch):
    assert "error: GET /jobs/99: 404 job 99 does not exist" in jxdaq("job", "status", 99, code=1)
    jxdaq("job", "submit", spec)
    assert "error: POST /jobs/1/resume: 409" in jxdaq("job", "resume", 1, code=1)
    monkeypatch.setenv("JXDAQ_API_TOKEN", "jxd_wrong")
    get_settings.cache_clear()
    out = jxdaq("job", "list", code=1)
    assert "401 the bearer token is unknown or revoked" in out and "Traceback" not in out
    monkeypatch.setenv("JXDAQ_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    get_settings.cache_clear()
    assert "cannot reach the jx-daq API at http://127.0.0.1:9" in jxdaq("job", "list", code=1)
    bad = spec.with_name("bad.toml")
    bad.write_text(SPEC.replace("count = 3", "count = -1"))
    assert "count" in jxdaq("job", "submit", bad, code=1)  # checked before any request


def test_a_bank_job_submitted_over_http_uploads_the_bank_it_names_here(server, tmp_path):
    """The client reads the bank the spec names on its own machine; the server gets its bytes
    (it reads no client path), and the job holds them."""
    (tmp_path / "mine.syx").write_bytes(jx8p_bank([INIT_TONE, INIT_TONE.replace(vcf_res=9)]))
    path = tmp_path / "bank.toml"
    path.write_text('[source]\nkind = "bank"\nbanks = ["mine.syx"]\n')
    assert "job 1 queued: 2 samples" in jxdaq("job", "submit", path)
    [bank] = server.catalog.get_job_spec(1)["source"]["banks"]
    assert bank["name"] == "mine.syx"
    assert base64.b64decode(bank["base64"]) == (tmp_path / "mine.syx").read_bytes()


def test_a_trainer_token_may_not_submit_capture_jobs(server, spec, monkeypatch):
    monkeypatch.setenv("JXDAQ_API_TOKEN", server.catalog.create_token("t", Role.TRAINER)[1])
    get_settings.cache_clear()
    out = jxdaq("job", "submit", spec, code=1)
    assert "403 trainer tokens may submit resynthesis jobs only" in out
