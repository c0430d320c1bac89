"""Pulling a dataset, resumably: an interrupted tar pull resumes, a current one is kept and
a changed dataset replaced, NPZ shards already complete are skipped, and local and HTTP
pulls give the same bytes."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from client_support import RATE, fill, jxdaq

from daq.client import ApiClient
from daq.export import plan_tar, tar_stream
from daq.pull import pull_tar
from daq.settings import get_settings
from db.records import TakeFilter


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
