"""Dataset exports: the tar and NPZ shard generators (daq.export) and the datasets routes, on
SQLite and PostgreSQL.

A population of real takes (noise FLACs in a real store, random tones) is frozen into a
dataset; the tests read the exports back with the standard library and numpy and compare with
the catalog and with features computed directly.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import tarfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from daq.export import (
    TABLE_COLUMNS,
    ExportChanged,
    ShardCache,
    iter_selection,
    plan_shards,
    plan_tar,
    shard_takes,
    split_counts,
    tar_stream,
)
from daq.feature_cache import FeatureShards
from daq.features import StftFeatures, feature_input
from db.catalog import Catalog
from db.engine import open_catalog
from db.records import NewTake, TakeFilter
from db.schema import QcVerdict, utcnow
from db.store import AudioStore
from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.tone import Tone

RATE = 8000
SPLITS = {"train": 0.6, "val": 0.2, "test": 0.2}


#: The dataset's job records 10 ms before its notes: features start after it.
PRE_ROLL = {"capture": {"pre_roll_s": 0.01}}
NOTE_ON = round(0.01 * RATE)


def fill(
    catalog: Catalog,
    store: AudioStore,
    count: int,
    *,
    seconds: float = 0.05,
    seed=0,
    spec: dict | None = None,
):
    """``count`` takes of noise with random tones and verdicts, recorded on rig ``r1``."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    catalog.upsert_rig("r1", "emulated")
    job = catalog.create_job("export test", spec or {}, count, seed=seed)
    takes = []
    for _ in range(count):
        claim = catalog.claim_next("r1", 60)
        audio = noise.uniform(-0.5, 0.5, round(seconds * RATE)).astype(np.float32)
        tone = Tone.from_values({p.key: rng.randrange(128) for p in TONE_PARAMETERS})
        takes.append(
            NewTake(
                claim=claim,
                tone=tone.data,
                audio=store.write(audio, RATE),
                qc_verdict=rng.choice([QcVerdict.PASS, QcVerdict.PASS, QcVerdict.WARN]),
                captured_at=utcnow(),
                software_version="test",
            )
        )
    catalog.record_takes(takes)
    return job


@pytest.fixture
def catalog(api):
    """The catalog behind the app (tests/daq/api/conftest.py: SQLite and PostgreSQL)."""
    return api.catalog


@pytest.fixture
def store(api):
    return api.store


@pytest.fixture
def dataset(catalog, store):
    job = fill(catalog, store, 40, spec=PRE_ROLL)
    fill(catalog, store, 5, seed=9)  # another job, outside the dataset's filter
    return catalog.freeze_dataset("noise", TakeFilter(job_id=job.id), SPLITS, seed=3)


def whole(catalog, store, plan, offset=0, end=None) -> bytes:
    return b"".join(tar_stream(catalog, store, plan, offset, end))


def test_the_tar_holds_every_take_with_its_audio_and_parameters(catalog, store, dataset):
    plan = plan_tar(catalog, store, dataset)
    data = whole(catalog, store, plan)
    assert len(data) == plan.size and plan.takes == 40

    takes = {t.id: t for t in iter_selection(catalog, dataset)}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        names = archive.getnames()
        assert names[:2] == ["dataset.json", "parameters.csv"]
        table = archive.extractfile("parameters.csv").read().decode()
        rows = list(csv.DictReader(io.StringIO(table)))
        assert list(rows[0]) == list(TABLE_COLUMNS)
        assert [int(r["take_id"]) for r in rows] == sorted(takes)
        for row in rows:
            take = takes[int(row["take_id"])]
            flac = archive.extractfile(row["file"]).read()
            assert hashlib.sha256(flac).hexdigest() == row["sha256"] == take.audio.sha256
            assert row["split"] == dataset.split_of(take.id) == row["file"].split("/")[0]
            tone = Tone(take.tone)
            assert {p.key: int(row[p.key]) for p in TONE_PARAMETERS} == {
                p.key: tone.value(p) for p in TONE_PARAMETERS
            }
            assert row["qc_verdict"] == take.qc_verdict.value
            assert bytes.fromhex(row["tone_hex"]) == take.tone  # name and unused bytes too
            member = archive.getmember(row["file"])
            assert member.mtime == int(take.recorded_at.timestamp())
        assert len(names) == 2 + len(takes)
        info = json.loads(archive.extractfile("dataset.json").read())
    job = catalog.get_job(next(iter(takes.values())).job_id)
    assert info["jobs"] == {str(job.id): {"seed": job.seed, "capture": job.spec.get("capture")}}
    assert info["split_names"] == list(dataset.splits) and info["columns"] == list(TABLE_COLUMNS)


def test_a_split_export_holds_exactly_that_split(catalog, store, dataset):
    counts = split_counts(catalog, dataset)
    assert sum(counts.values()) == 40 and sorted(counts) == sorted(SPLITS)
    assert all(counts.values())  # 40 takes at 60/20/20: every split has some
    for split, count in counts.items():
        plan = plan_tar(catalog, store, dataset, split)
        with tarfile.open(fileobj=io.BytesIO(whole(catalog, store, plan))) as archive:
            flacs = [n for n in archive.getnames() if n.endswith(".flac")]
        assert plan.takes == len(flacs) == count
        assert {n.split("/")[0] for n in flacs} == {split}
    with pytest.raises(ValueError, match="no split 'dev'; its splits are "):
        plan_tar(catalog, store, dataset, "dev")


def test_the_bytes_are_the_same_every_time_and_any_range_resumes_them(catalog, store, dataset):
    plan = plan_tar(catalog, store, dataset, "train")
    full = whole(catalog, store, plan)
    assert plan_tar(catalog, store, dataset, "train") == plan
    assert whole(catalog, store, plan) == full
    with tarfile.open(fileobj=io.BytesIO(full)) as archive:
        members = archive.getmembers()
    # offsets at, just before and just after every member's header and data, plus random ones
    edges = {m.offset + d for m in members for d in (-1, 0, 1)}
    edges |= {m.offset_data + d for m in members for d in (-1, 0, 1, 700)}
    edges |= {plan.size - 1024, plan.size - 1, plan.size}
    edges |= set(random.Random(0).sample(range(plan.size), 40))
    for offset in sorted(o for o in edges if 0 <= o <= plan.size):
        assert whole(catalog, store, plan, offset) == full[offset:], offset
    for offset, end in [(0, 1), (100, 5000), (members[3].offset_data, members[4].offset)]:
        assert whole(catalog, store, plan, offset, end) == full[offset:end]
    with pytest.raises(ValueError, match="outside the archive"):
        whole(catalog, store, plan, plan.size + 1)


def test_start_skips_takes_and_still_makes_a_valid_tar(catalog, store, dataset):
    ids = [t.id for t in iter_selection(catalog, dataset)]
    plan = plan_tar(catalog, store, dataset, start=30)
    assert plan.takes == 10
    with tarfile.open(fileobj=io.BytesIO(whole(catalog, store, plan))) as archive:
        table = list(
            csv.DictReader(io.StringIO(archive.extractfile("parameters.csv").read().decode()))
        )
        flacs = [int(Path(n).stem) for n in archive.getnames() if n.endswith(".flac")]
    assert [int(r["take_id"]) for r in table] == flacs == ids[30:]


def test_a_take_repaired_away_mid_export_stops_the_stream(catalog, store, dataset):
    plan = plan_tar(catalog, store, dataset)
    last = max(t.id for t in iter_selection(catalog, dataset))
    stream = tar_stream(catalog, store, plan)
    next(stream)  # dataset.json
    catalog.mark_take_broken(last, "test: audio lost")
    with pytest.raises(ExportChanged, match="changed while it was exported"):
        for _ in stream:
            pass


def test_feature_shards_match_features_computed_directly(catalog, store, dataset, tmp_path):
    config = StftFeatures(sample_rate=RATE, duration_s=0.05, n_fft=128, hop=32, bins=20)
    plan = plan_shards(catalog, dataset, "train", shard_size=7)
    train = [t for t in iter_selection(catalog, dataset) if dataset.split_of(t.id) == "train"]
    assert plan.takes == len(train) and plan.shards == -(-len(train) // 7)
    cache = ShardCache(tmp_path / "cache")
    seen = []
    for index in range(plan.shards):
        path = cache.get(catalog, store, plan, config, index)
        with np.load(path) as shard:
            assert list(shard["parameters"]) == [p.key for p in TONE_PARAMETERS]
            for row, take_id in enumerate(shard["take_id"]):
                take = next(t for t in train if t.id == take_id)
                audio, _ = store.read(take.audio.key)
                expected = config.compute(feature_input(audio, NOTE_ON))
                np.testing.assert_array_equal(shard["features"][row], expected)
                assert shard["sha256"][row].decode() == take.audio.sha256
                assert shard["split"][row] == "train"
                assert list(shard["tone"][row]) == [take.tone[p.apr_index] for p in TONE_PARAMETERS]
            seen += shard["take_id"].tolist()
    assert seen == [t.id for t in train]
    cached = FeatureShards(cache.directory(plan, config))  # the trainer's format
    assert cached.array("take_id").tolist() == seen and len(cached) == len(train)


def test_a_cached_shard_is_read_not_rebuilt(catalog, store, dataset, tmp_path, monkeypatch):
    config = StftFeatures(sample_rate=RATE, duration_s=0.05, n_fft=128, hop=32)
    plan = plan_shards(catalog, dataset, shard_size=16)
    cache = ShardCache(tmp_path / "cache")
    built = cache.get(catalog, store, plan, config, 2).read_bytes()
    monkeypatch.setattr(store, "read", lambda key: pytest.fail("a cached shard read audio"))
    assert cache.get(catalog, store, plan, config, 2).read_bytes() == built
    other = StftFeatures(sample_rate=RATE, duration_s=0.05, n_fft=128, hop=16)
    assert cache.path(plan, other, 2) != cache.path(plan, config, 2)
    with pytest.raises(IndexError, match="has 3 shards of 16; there is no shard 3"):
        shard_takes(catalog, plan, 3)


def test_features_at_another_sample_rate_are_refused(catalog, store, dataset, tmp_path):
    plan = plan_shards(catalog, dataset, shard_size=4)
    with pytest.raises(ValueError, match=r"take \d+ is sampled at 8000 Hz .* expect 44100 Hz"):
        ShardCache(tmp_path).get(catalog, store, plan, StftFeatures(), 0)
    assert not list(tmp_path.rglob("*.npz")) and not list(tmp_path.rglob("*.tmp"))


def test_streaming_300_takes_holds_a_small_part_of_them_in_memory(tmp_path):
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    store = AudioStore(tmp_path / "audio")
    job = fill(catalog, store, 300, seconds=2.0)
    dataset = catalog.freeze_dataset("big", TakeFilter(job_id=job.id), {"all": 1.0})
    plan = plan_tar(catalog, store, dataset)
    assert plan.size > 12_000_000  # 300 FLACs of 2 s of noise at 24 bits
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        for chunk in tar_stream(catalog, store, plan):
            digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        catalog.close()
    assert peak < plan.size / 10, f"peak {peak} bytes while streaming {plan.size}"
    assert digest.hexdigest()  # every byte went through


# -- over HTTP -------------------------------------------------------------------------------
def test_freezing_over_http_counts_splits_and_checks_roles_and_input(catalog, store, api):
    from db.schema import Role

    client, auth = api.client, api.auth
    job = fill(catalog, store, 30)
    body = {"name": "d1", "filter": {"job_id": job.id}, "splits": SPLITS, "seed": 5}
    assert client.post("/api/v1/datasets", json=body).status_code == 401
    assert (
        client.post("/api/v1/datasets", json=body, headers=auth(Role.OPERATOR)).status_code == 403
    )
    created = client.post("/api/v1/datasets", json=body, headers=auth(Role.TRAINER))
    assert created.status_code == 201, created.text
    out = created.json()
    dataset = catalog.get_dataset("d1")
    assert out["takes"] == 30 and out["counts"] == split_counts(catalog, dataset)
    assert out["created_by"] == "test-trainer" and out["filter"]["max_take_id"] >= 30
    again = client.post("/api/v1/datasets", json=body, headers=auth(Role.ADMIN))
    assert again.status_code == 409 and "already exists" in again.json()["detail"]

    for role in (Role.OPERATOR, Role.TRAINER, Role.ADMIN):
        listed = client.get("/api/v1/datasets", headers=auth(role))
        assert [d["name"] for d in listed.json()] == ["d1"]
        assert client.get("/api/v1/datasets/d1", headers=auth(role)).json() == out
    assert client.get("/api/v1/datasets/d1", headers=auth(Role.RIG)).status_code == 403
    assert client.get("/api/v1/datasets/nope", headers=auth(Role.TRAINER)).status_code == 404

    bad = [
        ({"splits": {"train": 0.5, "val": 0.4}}, ["body", "splits"], "sum to 1"),
        ({"splits": {"a b": 1.0}}, ["body", "splits", "a b"], "split name"),
        ({"filter": {"parameters": {"vcf_fre": [0, 9]}}}, ["body", "filter", "parameters"], ""),
        ({"filter": {"parameters": {"vcf_freq": [9, 3]}}}, ["body", "filter", "parameters"], ""),
        ({"filter": {"rig": "ghost"}}, ["body", "filter", "rig"], "not registered"),
        ({"filter": {"qc_verdicts": ["great"]}}, ["body", "filter", "qc_verdicts", 0], ""),
        ({"name": "../x"}, ["body", "name"], ""),
        (
            {"filter": {"recorded_after": "0001-01-01T00:00:00+05:00"}},
            ["body", "filter", "recorded_after"],
            "out of range",
        ),
    ]
    for change, where, words in bad:
        answer = client.post(
            "/api/v1/datasets",
            json={**body, "name": "d2", **change},
            headers=auth(Role.TRAINER),
        )
        assert answer.status_code == 422, (change, answer.text)
        error = answer.json()["detail"][0]
        assert error["loc"][: len(where)] == where and words in error["msg"], error
    assert [d.name for d in catalog.list_datasets()] == ["d1"]  # nothing half-made


def test_the_tar_over_http_resumes_with_range(catalog, store, dataset, api):
    from db.schema import Role

    client, auth = api.client, api.auth
    url = "/api/v1/datasets/noise/export.tar"
    full = client.get(url, params={"split": "train"}, headers=auth(Role.TRAINER))
    assert full.status_code == 200 and full.headers["content-type"] == "application/x-tar"
    plan = plan_tar(catalog, store, dataset, "train")
    assert full.content == whole(catalog, store, plan)
    assert int(full.headers["content-length"]) == plan.size
    assert full.headers["x-dataset-takes"] == str(plan.takes)
    etag = full.headers["etag"]

    cut = plan.size // 3 + 17
    part = client.get(
        url,
        params={"split": "train"},
        headers={**auth(Role.OPERATOR), "Range": f"bytes={cut}-", "If-Range": etag},
    )
    assert part.status_code == 206 and part.content == full.content[cut:]
    assert part.headers["content-range"] == f"bytes {cut}-{plan.size - 1}/{plan.size}"
    middle = client.get(
        url, params={"split": "train"}, headers={**auth(Role.ADMIN), "Range": "bytes=100-199"}
    )
    assert middle.status_code == 206 and middle.content == full.content[100:200]
    stale = client.get(
        url,
        params={"split": "train"},
        headers={**auth(Role.TRAINER), "Range": f"bytes={cut}-", "If-Range": '"old"'},
    )
    assert stale.status_code == 200 and stale.content == full.content
    past = client.get(
        url,
        params={"split": "train"},
        headers={**auth(Role.TRAINER), "Range": f"bytes={plan.size}-"},
    )
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{plan.size}"

    started = client.get(url, params={"start": 35}, headers=auth(Role.TRAINER))
    with tarfile.open(fileobj=io.BytesIO(started.content)) as archive:
        assert len([n for n in archive.getnames() if n.endswith(".flac")]) == 5
    wrong = client.get(url, params={"split": "dev"}, headers=auth(Role.TRAINER))
    assert wrong.status_code == 422 and "its splits are" in wrong.json()["detail"][0]["msg"]
    assert client.get(url, headers=auth(Role.RIG)).status_code == 403


def test_ranges_no_archive_can_satisfy_are_416_and_huge_numbers_no_500(
    catalog, store, dataset, api
):
    from db.schema import Role

    url = "/api/v1/datasets/noise/export.tar"
    size = plan_tar(catalog, store, dataset).size
    huge = "9" * 5000
    for asked in ("bytes=-0", f"bytes={huge}-", f"bytes={huge}-{huge}", f"bytes={size}-{huge}"):
        answer = api.client.get(url, headers={**api.auth(Role.TRAINER), "Range": asked})
        assert answer.status_code == 416, (asked[:40], answer.status_code)
        assert answer.headers["content-range"] == f"bytes */{size}"
        assert huge not in answer.text
    for asked, start in ((f"bytes=-{huge}", 0), (f"bytes=5-{huge}", 5)):
        answer = api.client.get(url, headers={**api.auth(Role.TRAINER), "Range": asked})
        assert answer.status_code == 206, (asked[:40], answer.text[:200])
        assert answer.headers["content-range"] == f"bytes {start}-{size - 1}/{size}"


def test_feature_shards_over_http(catalog, store, dataset, api):
    import json

    from db.schema import Role

    client, auth = api.client, api.auth
    overrides = {"sample_rate": RATE, "duration_s": 0.05, "n_fft": 128, "hop": 32}
    config = StftFeatures(**overrides)
    query = {"split": "train", "shard_size": 8, "feature_config": json.dumps(overrides)}
    index = client.get("/api/v1/datasets/noise/shards", params=query, headers=auth(Role.TRAINER))
    assert index.status_code == 200, index.text
    info = index.json()
    plan = plan_shards(catalog, dataset, "train", 8)
    assert (info["takes"], info["shards"], info["selection"]) == (
        plan.takes, plan.shards, plan.digest,
    )  # fmt: skip
    assert info["features"]["hash"] == config.hash and info["features"]["shape"] == list(
        config.shape
    )
    ids = []
    for i in range(info["shards"]):
        answer = client.get(
            f"/api/v1/datasets/noise/shards/{i}.npz",
            params={**query, "selection": info["selection"]},
            headers=auth(Role.OPERATOR),
        )
        assert answer.status_code == 200, answer.text
        with np.load(io.BytesIO(answer.content)) as shard:
            for take_id, features in zip(shard["take_id"], shard["features"], strict=True):
                audio, _ = store.read(catalog.get_take(int(take_id)).audio.key)
                expected = config.compute(feature_input(audio, NOTE_ON))
                np.testing.assert_array_equal(features, expected)
            ids += shard["take_id"].tolist()
    assert ids == [t.id for t in iter_selection(catalog, dataset, "train")]

    shard = "/api/v1/datasets/noise/shards/0.npz"
    moved = client.get(shard, params={**query, "selection": "0" * 64}, headers=auth(Role.TRAINER))
    assert moved.status_code == 409 and "read the index again" in moved.json()["detail"]
    beyond = client.get(
        f"/api/v1/datasets/noise/shards/{plan.shards}.npz", params=query, headers=auth(Role.TRAINER)
    )
    assert beyond.status_code == 404
    for bad, where in [
        ('{"hop": -1}', ["query", "feature_config", "hop"]),
        ('{"colour": 1}', ["query", "feature_config", "colour"]),
        ("[1]", ["query", "feature_config"]),
        ("{", ["query", "feature_config"]),
    ]:
        answer = client.get(
            shard, params={**query, "feature_config": bad}, headers=auth(Role.TRAINER)
        )
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == where, answer.text
    for bad, size, where in [
        ('{"duration_s": 100}', 8, ["query", "feature_config", "duration_s"]),
        ('{"hop": 1}', 8, ["query", "feature_config"]),
        ('{"bins": 257}', 4096, ["query", "shard_size"]),
    ]:
        answer = client.get(
            shard,
            params={**query, "feature_config": bad, "shard_size": size},
            headers=auth(Role.TRAINER),
        )
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == where, bad
    rate = client.get(shard, params={"split": "train", "shard_size": 8}, headers=auth(Role.TRAINER))
    assert rate.status_code == 422 and "sampled at 8000 Hz" in rate.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("kind", "fields", "field", "bound"),
    [
        ("auditory", {"internal_rate": 1e9}, "internal_rate", "48000"),  # was 56 s and 29.8 GiB
        ("auditory", {"frame_ms": 0.001}, "frame_ms", "1"),  # was a 500 (ZeroDivisionError)
        ("auditory", {"duration_s": 60, "internal_rate": 48000}, None, "512 MiB"),
    ],
)
def test_a_feature_config_beyond_its_bounds_is_a_422_before_any_work(
    catalog, store, dataset, api, kind, fields, field, bound
):
    from db.schema import Role

    query = {"split": "train", "features": kind, "feature_config": json.dumps(fields)}
    for route in ("/api/v1/datasets/noise/shards", "/api/v1/datasets/noise/shards/0.npz"):
        answer = api.client.get(route, params=query, headers=api.auth(Role.TRAINER))
        assert answer.status_code == 422, answer.text
        error = answer.json()["detail"][0]
        where = ["query", "feature_config"] + ([field] if field else [])
        assert error["loc"] == where and bound in error["msg"], error


def test_missing_audio_is_named_with_the_repair_to_run(catalog, store, dataset, api):
    from db.schema import Role
    from db.store import StoreIntegrityError

    take = next(iter_selection(catalog, dataset))
    Path(store.root, take.audio.key).unlink()
    with pytest.raises(StoreIntegrityError, match=f"audio {take.audio.key} is missing"):
        plan_tar(catalog, store, dataset)
    answer = api.client.get("/api/v1/datasets/noise/export.tar", headers=api.auth(Role.TRAINER))
    assert answer.status_code == 500
    assert "is missing" in answer.json()["detail"] and "verify --repair" in answer.json()["detail"]
