"""``jxdaq job`` and ``jxdaq dataset`` against a live API server (uvicorn on a real socket, real
HTTP through httpx), and the same commands in local mode on the catalog directly.

The server runs in a thread of this process over a SQLite catalog; the client's own var
directory is elsewhere and must stay empty, which proves that the commands went over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import re
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from live_server import Server
from typer.testing import CliRunner

from daq.client import ApiClient
from daq.export import iter_selection, plan_tar, tar_stream
from daq.pull import pull_tar
from daq.rigs import EMULATED
from daq.settings import get_settings
from daq.worker import Worker
from db.engine import open_catalog
from db.records import NewTake, TakeFilter
from db.schema import JobState, QcVerdict, Role, utcnow
from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.sysex import jx8p_bank
from firmware_protocol.tone import INIT_TONE, Tone
from jxdaq.cli import app as cli

SPEC = """
name = "cli test"
count = 3
seed = 4
[source]
kind = "uniform"
[capture]
hold_s = 0.2
pre_roll_s = 0.05
notes = { key = 60 }
[capture.tail]
max_s = 0.2
"""
RATE = 8000


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A live server and the client's environment pointing at it with an admin token."""
    server = Server(tmp_path)
    token = server.catalog.create_token("cli-admin", Role.ADMIN)[1]
    monkeypatch.setenv("JXDAQ_API_URL", server.url)
    monkeypatch.setenv("JXDAQ_API_TOKEN", token)
    monkeypatch.setenv("JXDAQ_VAR_DIR", str(tmp_path / "client-var"))
    get_settings.cache_clear()
    yield server
    server.close()
    get_settings.cache_clear()
    assert not (tmp_path / "client-var" / "catalog.db").exists()  # everything went over HTTP


@pytest.fixture
def local(tmp_path, monkeypatch):
    """Local mode: no API URL, the catalog and store under tmp_path/var."""
    monkeypatch.delenv("JXDAQ_API_URL", raising=False)
    monkeypatch.delenv("JXDAQ_CONFIG", raising=False)
    monkeypatch.setenv("JXDAQ_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(SPEC)
    return path


def jxdaq(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output


def fill(catalog, store, count: int) -> int:
    """A job of ``count`` recorded noise takes with random tones; its id."""
    rng = random.Random(7)
    noise = np.random.default_rng(7)
    catalog.upsert_rig("r1", "emulator")
    job = catalog.create_job("takes", {}, count, seed=0)
    takes = []
    for _ in range(count):
        claim = catalog.claim_next("r1", 60)
        takes.append(
            NewTake(
                claim=claim,
                tone=Tone.from_values({p.key: rng.randrange(128) for p in TONE_PARAMETERS}).data,
                audio=store.write(noise.uniform(-0.5, 0.5, 2000).astype(np.float32), RATE),
                qc_verdict=rng.choice([QcVerdict.PASS, QcVerdict.PASS, QcVerdict.FAIL]),
                captured_at=utcnow(),
                software_version="test",
            )
        )
    catalog.record_takes(takes)
    return job.id


# -- jobs ------------------------------------------------------------------------------------
def test_jobs_over_http_submit_list_pause_resume_priority_cancel_watch(server, spec):
    catalog = server.catalog
    assert f"job 1 queued: 3 samples (cli test) at {server.url}" in jxdaq("job", "submit", spec)
    assert catalog.get_job(1).state == JobState.QUEUED
    assert "    1  queued        0        0/3        cli test" in jxdaq("job", "list")

    assert "[paused: lunch]" in jxdaq("job", "pause", 1, "--reason", "lunch")
    assert catalog.get_job(1).state == JobState.PAUSED
    assert "cli test" in jxdaq("job", "list", "--state", "paused")
    assert "no jobs" in jxdaq("job", "list", "--state", "running")
    jxdaq("job", "resume", 1)
    assert catalog.get_job(1).state == JobState.QUEUED
    jxdaq("job", "priority", 1, "--to", 7)
    assert catalog.get_job(1).priority == 7
    assert "0/3 captured, 0 failed, 0.0 takes/s" in jxdaq("job", "status", 1)
    jxdaq("job", "cancel", 1)
    assert catalog.get_job(1).state == JobState.CANCELLED
    assert "[cancelled]" in jxdaq("job", "watch", 1, code=1)  # over, but not completed


def test_watch_follows_a_job_to_the_end_while_a_rig_captures_it(server, spec):
    jxdaq("job", "submit", spec)
    worker = threading.Thread(
        target=Worker(server.catalog, server.store, EMULATED).run, kwargs={"job_id": 1}
    )
    worker.start()
    try:
        output = jxdaq("job", "watch", 1, "--interval", "0.1")
    finally:
        worker.join(timeout=120)
    job = server.catalog.get_job(1)
    assert job.state == JobState.COMPLETED
    assert f"{job.captured}/3 captured, {job.failed} failed" in output and "[completed]" in output


def test_jobs_over_http_delete(server):
    job = fill(server.catalog, server.store, 2)
    assert "error: DELETE /jobs/9 : 404" not in jxdaq(
        "job", "delete", 9, "--takes", "remove", code=1
    )
    out = jxdaq("job", "delete", job, "--takes", "keep")
    assert f"job {job} 'takes' deleted, its 2 takes kept" in out
    assert f"{job}" not in jxdaq("job", "list") and server.catalog.count_takes() == 2
    assert f"404 job {job} was deleted at" in jxdaq("job", "status", job, code=1)
    out = jxdaq("job", "delete", job, "--takes", "remove")
    assert f"job {job} 'takes' deleted with its 2 takes (2 audio files removed)" in out
    assert server.catalog.count_takes() == 0


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


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('name = "a\\u0000b"', "name: control character U+0000 at position 1 is not allowed"),
        ("count = true", "count: Input should be a valid integer (got True)"),
        ('count = "5"', "count: Input should be a valid integer (got '5')"),
        ("count = 5.0", "count: Input should be a valid integer (got 5.0)"),
    ],
)
def test_a_bad_spec_is_one_line_naming_the_field_before_anything_is_stored(
    local, tmp_path, line, says
):
    path = tmp_path / "bad.toml"
    key = line.split(" = ")[0]
    path.write_text(SPEC.replace(f'{key} = "cli test"', line).replace(f"{key} = 3", line))
    out = jxdaq("job", "submit", path, code=1)
    assert out == f"error: {path}: {says}\n"
    assert not (local / "catalog.db").exists() or "no jobs" in jxdaq("job", "list")


def test_a_sweep_of_10_12_steps_is_one_line_naming_the_field_and_the_limit(local, tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('[source]\nkind = "sweep"\nparameter = "VCF FREQ"\nsteps = 1_000_000_000_000\n')
    out = jxdaq("job", "submit", path, code=1)
    assert out == (
        f"error: {path}: source.sweep.steps: Input should be less than or equal to 10000 "
        "(got 1000000000000)\n"
    )


def test_a_trainer_token_may_not_submit_capture_jobs(server, spec, monkeypatch):
    monkeypatch.setenv("JXDAQ_API_TOKEN", server.catalog.create_token("t", Role.TRAINER)[1])
    get_settings.cache_clear()
    out = jxdaq("job", "submit", spec, code=1)
    assert "403 trainer tokens may submit resynthesis jobs only" in out


# -- datasets --------------------------------------------------------------------------------
def test_dataset_freeze_show_list_and_pull_a_tar_over_http(server, tmp_path):
    job = fill(server.catalog, server.store, 30)
    out = jxdaq(
        "dataset", "freeze", "d1", "--job", job, "--qc", "pass", "--split", "0.8,0.1,0.1",
        "--seed", 2,
    )  # fmt: skip
    dataset = server.catalog.get_dataset("d1")
    passed = [t for t in iter_selection(server.catalog, dataset)]
    assert all(t.qc_verdict == QcVerdict.PASS for t in passed) and 15 < len(passed) < 30
    assert f"dataset 'd1': {len(passed)} takes; train 0.8 (" in out
    assert dataset.splits == {"train": 0.8, "validation": 0.1, "test": 0.1} and dataset.seed == 2
    assert "dataset 'd1'" in jxdaq("dataset", "list") and "takes; train" in jxdaq(
        "dataset", "show", "d1"
    )

    pulled = Path(
        jxdaq("dataset", "pull", "d1", "--out", tmp_path / "out").split(" to ")[-1].strip()
    )
    plan = plan_tar(server.catalog, server.store, dataset)
    expected = b"".join(tar_stream(server.catalog, server.store, plan))
    assert pulled == tmp_path / "out" / "d1-all.tar" and pulled.read_bytes() == expected
    with tarfile.open(pulled) as archive:
        assert len([n for n in archive.getnames() if n.endswith(".flac")]) == len(passed)
    assert "already" not in jxdaq("dataset", "pull", "d1", "--out", tmp_path / "out")


def test_an_interrupted_tar_pull_resumes_where_it_stopped(server, tmp_path):
    job = fill(server.catalog, server.store, 30)
    jxdaq("dataset", "freeze", "d2", "--job", job, "--split", "train=0.7,test=0.3")
    dataset = server.catalog.get_dataset("d2")
    full = b"".join(
        tar_stream(
            server.catalog, server.store, plan_tar(server.catalog, server.store, dataset, "train")
        )
    )
    out = tmp_path / "out"

    class Interrupted(Exception):
        pass

    def stop_at_40_percent(done: int, total: int) -> None:
        if done > 0.4 * total:
            raise Interrupted

    with ApiClient.from_settings() as client, pytest.raises(Interrupted):
        pull_tar(client, "d2", out, "train", stop_at_40_percent)
    part = out / "d2-train.tar.part"
    assert 0 < part.stat().st_size < len(full) and full.startswith(part.read_bytes())
    seen: list[int] = []
    with ApiClient.from_settings() as client:
        pull_tar(client, "d2", out, "train", lambda done, total: seen.append(done))
    assert (out / "d2-train.tar").read_bytes() == full
    assert seen[0] > 0.4 * len(full)  # the second pull started where the first stopped
    assert not part.exists() and not (out / "d2-train.tar.part.etag").exists()

    # a part whose ETag no longer matches is thrown away and the pull starts over
    (out / "d2-train.tar").rename(out / "old.tar")
    part.write_bytes(b"x" * 5000)
    (out / "d2-train.tar.part.etag").write_text('"stale"')
    jxdaq("dataset", "pull", "d2", "--out", out, "--split", "train")
    assert (out / "d2-train.tar").read_bytes() == full


def test_a_pulled_tar_is_kept_while_current_and_replaced_once_the_dataset_changed(server, tmp_path):
    """A second pull asks the server (If-None-Match) and downloads nothing while the dataset
    is unchanged; after a take was repaired away it gets the new archive, and an interrupted
    re-pull never leaves the old tar looking current."""
    job = fill(server.catalog, server.store, 12)
    jxdaq("dataset", "freeze", "d4", "--job", job, "--split", "1")
    out = tmp_path / "out"
    with ApiClient.from_settings() as client:
        first = pull_tar(client, "d4", out).read_bytes()
        sent: list[int] = []
        pull_tar(client, "d4", out, progress=lambda done, total: sent.append(done))
        assert sent == [] and (out / "d4-all.tar").read_bytes() == first

        take = server.catalog.query_takes(TakeFilter(job_id=job), limit=1).items[0]
        server.catalog.mark_take_broken(take.id, "audio file missing")

        class Interrupted(Exception):
            pass

        def interrupt(done: int, total: int) -> None:
            raise Interrupted

        with pytest.raises(Interrupted):
            pull_tar(client, "d4", out, progress=interrupt)
        assert (out / "d4-all.tar").read_bytes() == first  # the old one, still marked old
        second = pull_tar(client, "d4", out).read_bytes()

    def take_ids(archive: bytes) -> set[str]:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            return {int(Path(n).stem) for n in tar.getnames() if n.endswith(".flac")}

    assert take_ids(first) - take_ids(second) == {take.id}


def test_npz_pull_skips_complete_shards(server, tmp_path):
    from daq.feature_cache import FeatureShards
    from daq.features import StftFeatures

    job = fill(server.catalog, server.store, 20)
    jxdaq("dataset", "freeze", "d3", "--job", job, "--split", "1")
    overrides = {"sample_rate": RATE, "duration_s": 0.25, "n_fft": 256, "hop": 64}
    args = (
        "dataset", "pull", "d3", "--out", tmp_path / "out", "--format", "npz",
        "--shard-size", 6, "--feature-config", json.dumps(overrides),
    )  # fmt: skip
    directory = Path(jxdaq(*args).split(" to ")[-1].strip())
    config = StftFeatures(**overrides)
    assert directory.name == f"d3-all-stft-{config.hash}"
    shards = sorted(directory.glob("*.npz"))
    assert [s.name for s in shards] == [f"{i:06d}.npz" for i in range(4)]
    index = json.loads((directory / "index.json").read_text())
    assert index["takes"] == 20 and index["shards"] == 4

    ids = []
    for shard in shards:
        with np.load(shard) as arrays:
            for take_id, features in zip(arrays["take_id"], arrays["features"], strict=True):
                audio, _ = server.store.read(server.catalog.get_take(int(take_id)).audio.key)
                np.testing.assert_array_equal(features, config.compute(audio[:, 0]))
            ids += arrays["take_id"].tolist()
    assert ids == sorted(ids) and len(ids) == 20
    pulled = FeatureShards(directory)  # a pull is a shard set, as the trainer caches them
    assert pulled.array("take_id").tolist() == ids and pulled.config == config

    before = {
        s.name: (s.stat().st_mtime_ns, hashlib.sha256(s.read_bytes()).hexdigest()) for s in shards
    }
    shards[2].unlink()
    shards[1].write_bytes(shards[1].read_bytes()[:5000])  # cut short (e.g. by a power cut)
    (directory / "000003.npz.part").write_bytes(b"half a shard")
    jxdaq(*args)
    after = {
        s.name: (s.stat().st_mtime_ns, hashlib.sha256(s.read_bytes()).hexdigest())
        for s in sorted(directory.glob("*.npz"))
    }
    assert after.keys() == before.keys()
    for name in ("000000.npz", "000003.npz"):
        assert after[name] == before[name]  # complete shards were not fetched again
    for name in ("000001.npz", "000002.npz"):
        assert after[name][1] == before[name][1]  # the cut and the missing one came back


def test_dataset_errors_are_one_line(server, tmp_path):
    assert "404 dataset 'nope' does not exist" in jxdaq("dataset", "show", "nope", code=1)
    assert "fractions must be >= 0 and sum to 1" in jxdaq(
        "dataset", "freeze", "x", "--split", "0.5,0.4", code=1
    )
    assert "write KEY=LOW..HIGH" in jxdaq("dataset", "freeze", "x", "--param", "vcf", code=1)
    out = jxdaq("dataset", "freeze", "x", "--param", "vcf_fre=1..2", code=1)
    assert "422 body.filter.parameters.vcf_fre" in out
    fill(server.catalog, server.store, 3)
    jxdaq("dataset", "freeze", "x")
    assert "409 dataset 'x' already exists" in jxdaq("dataset", "freeze", "x", code=1)
    out = jxdaq("dataset", "pull", "x", "--out", tmp_path, "--format", "npz", code=1)
    assert "sampled at 8000 Hz" in out and "Traceback" not in out
    assert "--format 'zip'" in jxdaq(
        "dataset", "pull", "x", "--out", tmp_path, "--format", "zip", code=1
    )


# -- local mode ------------------------------------------------------------------------------
def test_local_mode_runs_the_same_commands_on_the_catalog(local, spec, tmp_path):
    assert "job 1 queued: 3 samples (cli test) at sqlite:///" in jxdaq("job", "submit", spec)
    jxdaq("job", "pause", 1)
    assert "paused" in jxdaq("job", "list")
    jxdaq("job", "resume", 1)
    jxdaq("job", "priority", 1, "--to", -3)
    assert "error: priority 101: allowed -100..100" in jxdaq(
        "job", "priority", 1, "--to", 101, code=1
    )
    jxdaq("job", "cancel", 1, "--reason", "changed my mind")
    catalog = open_catalog(f"sqlite:///{local / 'catalog.db'}")
    try:
        job = catalog.get_job(1)
        assert (job.state, job.priority) == (JobState.CANCELLED, -3)
    finally:
        catalog.close()
    assert "error: job 42 does not exist" in jxdaq("job", "status", 42, code=1)
    assert "rig 'ghost' is not registered" in jxdaq(
        "dataset", "freeze", "g", "--rig", "ghost", code=1
    )
    assert "vcf_fre" in jxdaq("dataset", "freeze", "g", "--param", "vcf_fre=1..2", code=1)
    assert "no datasets" in jxdaq("dataset", "list")  # nothing half-made

    out = jxdaq("job", "run", spec, "--rig", "emulated")
    assert re.search(r"job 2: \d/3 captured, \d failed", out), out
    jxdaq("dataset", "freeze", "mine", "--job", 2, "--split", "1")
    pulled = Path(
        jxdaq("dataset", "pull", "mine", "--out", tmp_path / "o").split(" to ")[-1].strip()
    )
    with tarfile.open(pulled) as archive:
        table = archive.extractfile("parameters.csv").read().decode().splitlines()
        assert len(table) == 1 + len([n for n in archive.getnames() if n.endswith(".flac")])


def test_local_and_http_pulls_give_the_same_bytes(server, tmp_path, monkeypatch):
    job = fill(server.catalog, server.store, 12)
    jxdaq("dataset", "freeze", "same", "--job", job)
    over_http = Path(
        jxdaq("dataset", "pull", "same", "--out", tmp_path / "h").split(" to ")[-1].strip()
    )
    monkeypatch.delenv("JXDAQ_API_URL")
    monkeypatch.setenv("JXDAQ_CATALOG_URL", server.catalog_url)
    monkeypatch.setenv("JXDAQ_STORE_URL", str(server.store.root))
    get_settings.cache_clear()
    here = Path(jxdaq("dataset", "pull", "same", "--out", tmp_path / "l").split(" to ")[-1].strip())
    assert here.read_bytes() == over_http.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(here.read_bytes())) as archive:
        assert archive.getnames()[:2] == ["dataset.json", "parameters.csv"]
