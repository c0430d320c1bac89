"""Standard dataset formats (daq/export_formats.py): WebDataset shards read by the real
``webdataset`` library straight from the API's URLs with a bearer token, and a Hugging Face
audio folder loaded by the real ``datasets.load_dataset``; every take's audio and labels are
compared bit for bit with :class:`models.data.CatalogSource`. Pulls over HTTP and beside the
catalog give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile

import datasets
import numpy as np
import pytest
import soundfile
import webdataset
from live_server import Server
from typer.testing import CliRunner

from daq.client import ApiClient
from daq.pull import LocalDatasets, pull_webdataset
from daq.settings import get_settings
from db.catalog import Catalog
from db.records import NewTake, TakeFilter
from db.schema import QcVerdict, Role, utcnow
from db.store import AudioStore
from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.tone import Tone
from jxdaq.cli import app as cli
from models.data import CatalogSource

RATE = 8000
SPLITS = {"train": 0.6, "val": 0.2, "test": 0.2}


def record_job(catalog: Catalog, store: AudioStore, count: int, channels: int, pre_roll_s: float):
    """A job of ``count`` noise takes with random tones, captured with ``pre_roll_s``."""
    rng = random.Random(count * channels)
    noise = np.random.default_rng(count * channels)
    catalog.upsert_rig("r1", "emulated")
    spec = {"capture": {"pre_roll_s": pre_roll_s, "hold_s": 0.05}}
    catalog.create_job("formats", spec, count, seed=channels)
    takes = []
    for _ in range(count):
        audio = noise.uniform(-0.5, 0.5, (round(0.1 * RATE), channels)).astype(np.float32)
        tone = Tone.from_values({p.key: rng.randrange(128) for p in TONE_PARAMETERS})
        takes.append(
            NewTake(
                claim=catalog.claim_next("r1", 60),
                tone=tone.data,
                audio=store.write(audio, RATE),
                qc_verdict=QcVerdict.PASS,
                captured_at=utcnow(),
                software_version="test",
            )
        )
    catalog.record_takes(takes)


@pytest.fixture
def live(tmp_path, monkeypatch):
    """A live server with a dataset ``ds`` of 13 takes from a mono and a stereo job, and the
    CLI's environment pointing at it with a trainer token."""
    server = Server(tmp_path)
    record_job(server.catalog, server.store, 8, channels=1, pre_roll_s=0.01)
    record_job(server.catalog, server.store, 5, channels=2, pre_roll_s=0.02)
    server.catalog.freeze_dataset("ds", TakeFilter(), SPLITS, seed=3)
    server.token = server.catalog.create_token("trainer", Role.TRAINER)[1]
    monkeypatch.setenv("JXDAQ_API_URL", server.url)
    monkeypatch.setenv("JXDAQ_API_TOKEN", server.token)
    monkeypatch.setenv("JXDAQ_VAR_DIR", str(tmp_path / "client-var"))
    get_settings.cache_clear()
    yield server
    server.close()
    get_settings.cache_clear()


def jxdaq(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def assert_take_matches(source: CatalogSource, record, info: dict, audio: np.ndarray) -> None:
    """``info`` (the exported json) and ``audio`` (frames x channels, decoded from the
    exported FLAC) against the catalog's record and ``CatalogSource.audio``, bit for bit."""
    assert info["take_id"] == record.take_id and info["split"] == record.split
    assert bytes.fromhex(info["tone_hex"]) == record.tone.data
    assert info["tone"] == record.tone.values() and info["labels"] == record.tone.labels()
    assert info["note_on_frame"] == record.note_on_frame
    assert (info["job_id"], info["job_seed"]) == (record.job_id, record.job_seed)
    assert (info["sample_index"], info["rig"]) == (record.sample_index, record.rig)
    mono = audio[record.note_on_frame :].mean(axis=1, dtype=np.float32)
    expected = source.audio(record)
    assert mono.dtype == expected.dtype and np.array_equal(mono, expected)


def test_webdataset_reads_the_shards_from_the_api_with_the_bearer_token(live):
    source = CatalogSource(live.catalog, live.store, "ds")
    records = source.records()
    with ApiClient(live.url, live.token) as client:
        urls = client.webdataset_urls("ds", shard_size=4)
    assert len(urls) == 4 and all(u.startswith("pipe:curl") for u in urls)
    samples = list(webdataset.WebDataset(urls, shardshuffle=False))
    assert [int(s["__key__"]) for s in samples] == [r.take_id for r in records]
    for sample, record in zip(samples, records, strict=True):
        info = json.loads(sample["json"])
        assert hashlib.sha256(sample["flac"]).hexdigest() == info["sha256"]
        assert live.store.read_bytes(record.audio_key) == sample["flac"]  # unchanged
        audio, rate = soundfile.read(io.BytesIO(sample["flac"]), dtype="float32", always_2d=True)
        assert rate == info["sample_rate"] == RATE
        assert_take_matches(source, record, info, audio)
    # the token is what lets curl in: without it, WebDataset's read fails
    refused = [u.replace(live.token, "jxd_wrong") for u in urls[:1]]
    # curl -f fails: WebDataset sees its exit status 22, or an empty tar, first
    with pytest.raises((OSError, tarfile.ReadError)) as error:
        list(webdataset.WebDataset(refused, shardshuffle=False))
    assert "jxd_wrong" in str(error.value) and (
        "exit" in str(error.value) or "empty" in str(error.value)
    )


def test_webdataset_pull_over_http_equals_the_local_pull_and_resumes(live, tmp_path):
    out = jxdaq("dataset", "pull", "ds", "--format", "webdataset", "--shard-size", "5",
                "--split", "train", "--out", str(tmp_path / "http"))  # fmt: skip
    pulled = tmp_path / "http" / "ds-train-webdataset"
    assert f"pulled to {pulled}" in out.replace("\n", "")
    local = LocalDatasets(live.catalog, live.store, tmp_path / "cache")
    here = pull_webdataset(local, "ds", tmp_path / "local", split="train", shard_size=5)
    names = sorted(p.name for p in pulled.iterdir())
    assert names == sorted(p.name for p in here.iterdir()) and "shard-000000.tar" in names
    for name in names:
        assert (pulled / name).read_bytes() == (here / name).read_bytes(), name
    train = [r for r in CatalogSource(live.catalog, live.store, "ds").records()]
    train = [r.take_id for r in train if r.split == "train"]
    keys = [int(s["__key__"]) for s in webdataset.WebDataset(
        [str(p) for p in sorted(pulled.glob("shard-*.tar"))], shardshuffle=False)]  # fmt: skip
    assert keys == train
    # a second pull skips the shards it has: a shard removed is the only one fetched again
    first = pulled / "shard-000000.tar"
    others = {p: p.stat().st_mtime_ns for p in pulled.glob("shard-*.tar") if p != first}
    first.unlink()
    jxdaq("dataset", "pull", "ds", "--format", "webdataset", "--shard-size", "5",
          "--split", "train", "--out", str(tmp_path / "http"))  # fmt: skip
    assert first.read_bytes() == (here / first.name).read_bytes()
    assert {p: p.stat().st_mtime_ns for p in others} == others


def test_hf_folder_loads_with_datasets_and_matches_the_catalog(live, tmp_path):
    out = jxdaq("dataset", "pull", "ds", "--format", "hf", "--out", str(tmp_path / "hf"))
    folder = tmp_path / "hf" / "ds-all-hf"
    assert f"pulled to {folder}" in out.replace("\n", "")
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert set(loaded) <= set(SPLITS)
    source = CatalogSource(live.catalog, live.store, "ds")
    records = {r.take_id: r for r in source.records()}
    seen = []
    for split, rows in loaded.items():
        rows = rows.cast_column("audio", datasets.Audio(mono=False))  # channels as stored
        for row in rows:
            record = records[row["take_id"]]
            assert row["split"] == split == record.split
            audio = np.atleast_2d(np.asarray(row["audio"]["array"])).T  # frames x channels
            assert row["audio"]["sampling_rate"] == RATE
            assert audio.dtype == np.float64  # exact for 24-bit PCM, and so is float32
            assert_take_matches(source, record, row, audio.astype(np.float32))
            seen.append(record.take_id)
    assert sorted(seen) == sorted(records)
    # beside the catalog (no server) the folder is the same
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("JXDAQ_API_URL")
        patch.setenv("JXDAQ_CATALOG_URL", live.catalog_url)
        patch.setenv("JXDAQ_STORE_URL", str(live.store.root))
        get_settings.cache_clear()
        jxdaq("dataset", "pull", "ds", "--format", "hf", "--out", str(tmp_path / "local"))
    get_settings.cache_clear()
    here = tmp_path / "local" / "ds-all-hf"
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(here) for p in here.rglob("*") if p.is_file())
    for name in files:
        assert (here / name).read_bytes() == (folder / name).read_bytes(), name


def test_hf_refuses_split_names_datasets_cannot_load(live, tmp_path):
    live.catalog.freeze_dataset("dashed", TakeFilter(), {"train": 0.5, "hold-out": 0.5})
    out = jxdaq("dataset", "pull", "dashed", "--format", "hf", "--out", str(tmp_path), code=1)
    assert "'hold-out' are not valid Hugging Face split names" in out
    assert not list(tmp_path.glob("dashed*"))


def test_webdataset_routes_refuse_what_they_cannot_serve(api):
    """On both backends: the index, a shard past the last, a selection changed since."""
    from api_support import record_takes

    record_takes(api, [{"vcf_freq": v} for v in range(6)])
    api.catalog.freeze_dataset("six", TakeFilter(), {"train": 1.0})
    base = "/api/v1/datasets/six/webdataset"
    index = api.as_(Role.TRAINER, "GET", base, params={"shard_size": 4}).json()
    assert (index["takes"], index["shards"], index["urls"]) == (6, 2, "shard-{000000..000001}.tar")
    shard = api.as_(Role.TRAINER, "GET", f"{base}/shard-000001.tar", params={"shard_size": 4})
    assert shard.status_code == 200 and shard.headers["X-Shard-Takes"] == "2"
    with tarfile.open(fileobj=io.BytesIO(shard.content)) as archive:
        assert len(archive.getnames()) == 4  # two takes, a json and a flac each
    missing = api.as_(Role.TRAINER, "GET", f"{base}/shard-000002.tar", params={"shard_size": 4})
    assert missing.status_code == 404 and "there is no shard 2" in missing.json()["detail"]
    changed = api.as_(Role.TRAINER, "GET", f"{base}/shard-000000.tar",
                      params={"shard_size": 4, "selection": "0" * 64})  # fmt: skip
    assert changed.status_code == 409 and "read the index again" in changed.json()["detail"]
    assert api.client.get(f"{base}/shard-000000.tar").status_code == 401
    assert api.as_(Role.RIG, "GET", base).status_code == 403


def test_a_shard_without_a_take_s_flac_is_refused_naming_the_take():
    from daq.export_formats import iter_samples

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in [("000000000001.json", b"{}"), ("000000000002.json", b"{}")]:
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    with pytest.raises(ValueError, match="take 000000000001 has only \\['json'\\]"):
        list(iter_samples([buffer.getvalue()[:700], buffer.getvalue()[700:]]))
