"""Training from another machine: ``jxdaq serve`` as a real process over the captured catalog,
its dataset pulled over HTTP as a tar and read by ``models.remote.TarSource``.

The server serves a copy of the captured catalog (the session's catalog stays read-only: the
trainer token is made in the copy) and the captured store itself. The client side of the CLI
gets its own var directory, with no catalog in it, so whatever it trains on came over HTTP.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from device_support import interrupt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from daq.client import ApiClient
from daq.pull import pull_tar
from daq.settings import get_settings
from db.engine import open_catalog
from db.schema import Role
from db.store import AudioStore
from jxdaq.cli import app
from models.data import CatalogSource, cache_key
from models.remote import DamagedExport, TarSource, pull_source

pytestmark = pytest.mark.timeout(300)
TARGETS = "VCF FREQ,VCA LEVEL,DCO1 WF"  # what the tiny dataset varies


@dataclass(frozen=True)
class Served:
    url: str
    token: str


@pytest.fixture(scope="module")
def served(captured_dataset, tmp_path_factory) -> Iterator[Served]:
    """``jxdaq serve`` on a free loopback port over a copy of the captured catalog."""
    root = tmp_path_factory.mktemp("server")
    copy = root / "catalog.db"
    original = sqlite3.connect(captured_dataset.catalog_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(copy)
    original.backup(target)  # a consistent copy, whatever the journal mode
    original.close()
    target.close()
    catalog = open_catalog(f"sqlite:///{copy}")
    token = catalog.create_token("remote-trainer", Role.TRAINER)[1]
    catalog.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "JXDAQ_VAR_DIR": str(root),
        "JXDAQ_CATALOG_URL": f"sqlite:///{copy}",
        "JXDAQ_STORE_URL": str(captured_dataset.store_root),
    }
    env.pop("JXDAQ_CONFIG", None)
    command = [
        sys.executable,
        "-m",
        "jxdaq",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, server.communicate()[0]
        try:
            httpx.get(f"{url}/health", timeout=2)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "jxdaq serve did not answer /health in time"
            time.sleep(0.2)
    yield Served(url, token)
    interrupt(server)


@pytest.fixture(scope="module")
def pulled(served, tmp_path_factory) -> TarSource:
    with ApiClient(served.url, served.token) as client:
        return pull_source(client, "tiny", tmp_path_factory.mktemp("pulled"))


@pytest.fixture
def local(captured_dataset) -> Iterator[CatalogSource]:
    catalog = open_catalog(captured_dataset.catalog_url)
    yield CatalogSource(catalog, AudioStore(captured_dataset.store_root), "tiny")
    catalog.close()


def test_the_pulled_tar_yields_the_catalogs_records_and_audio(pulled, local):
    assert pulled.path.name == "tiny-all.tar"
    assert (pulled.dataset, pulled.split_names) == (local.dataset, local.split_names)
    assert pulled.split_names == ("train", "validation", "test")
    records = pulled.records()
    expected = local.records()
    assert len(records) == len(expected) > 100
    assert records == expected  # tone bytes, audio keys, capture specs, seeds, splits: all
    assert [r.render_seed for r in records] == [r.render_seed for r in expected]
    assert cache_key(pulled, records) == cache_key(local, expected)
    for record in records:
        remote, here = pulled.audio(record), local.audio(record)
        assert remote.dtype == np.float32 and np.array_equal(remote, here), record.take_id


@pytest.fixture
def jxdaq(served, tmp_path, monkeypatch):
    """``jxdaq`` on a trainer's machine: only the server's URL and a token, no catalog."""
    monkeypatch.setenv("JXDAQ_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("JXDAQ_API_TOKEN", served.token)
    for name in ("JXDAQ_API_URL", "JXDAQ_CATALOG_URL", "JXDAQ_STORE_URL", "JXDAQ_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()

    def run(*args: object, ok: bool = True) -> str:
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert "Traceback" not in result.output
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    yield run
    get_settings.cache_clear()
    assert not (tmp_path / "var" / "catalog.db").exists()  # nothing was read locally


def test_train_and_evaluate_from_a_server(jxdaq, served, tmp_path):
    run = tmp_path / "run"
    out = jxdaq(
        "train", "--server", served.url, "--dataset", "tiny", "--model", "cnn1",
        "--targets", TARGETS, "--epochs", "2", "--batch-size", "16", "--seed", "4",
        "--device", "cpu", "--out", run,
    )  # fmt: skip
    pulled = tmp_path / "var" / "pulled" / served.url.removeprefix("http://").replace(":", "_")
    assert f"dataset 'tiny' from {served.url}: {pulled / 'tiny-all.tar'}" in out
    assert re.search(r"\d+ train / \d+ validation takes", out) and "best epoch" in out
    assert (run / "best.pt").is_file() and len((run / "metrics.csv").read_text().splitlines()) == 3

    evaluated = jxdaq(
        "evaluate", "--server", served.url, "--checkpoint", run / "best.pt", "--dataset", "tiny",
        "--resynthesis", "2", "--report", tmp_path,
    )  # fmt: skip
    assert "tiny/test:" in evaluated and "resynthesis of 2 takes" in evaluated
    assert (tmp_path / "evaluation-test.json").is_file()
    assert len(list((tmp_path / "var" / "features").iterdir())) == 1  # one cache entry, reused
    assert sorted(p.name for p in pulled.iterdir()) == ["tiny-all.tar", "tiny-all.tar.etag"]


def test_mistakes_about_the_server_get_one_line(jxdaq, served, tmp_path, monkeypatch):
    args = ["train", "--dataset", "nope", "--out", tmp_path / "x", "--server", served.url]
    assert "404 dataset 'nope' does not exist" in jxdaq(*args, ok=False)
    monkeypatch.setenv("JXDAQ_API_TOKEN", "wrong")
    get_settings.cache_clear()
    args[2] = "tiny"
    assert "401" in jxdaq(*args, ok=False)
    args[-1] = "http://127.0.0.1:9"  # the discard port: nothing listens
    assert "cannot reach the jx-daq API at http://127.0.0.1:9" in jxdaq(*args, ok=False)


def _damaged_copy(pulled: TarSource, directory: Path, cut: int | None = None, flip: int = -1):
    """A copy of the pulled tar cut short at byte ``cut``, or with byte ``flip`` changed."""
    copy = directory / "tiny-all.tar"
    data = bytearray(pulled.path.read_bytes()[:cut])
    if flip >= 0:
        data[flip] ^= 0xFF
    copy.write_bytes(data)
    return copy


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as archive:
        return archive.getmembers()


def test_a_tar_cut_short_names_the_file_and_the_member(pulled, tmp_path):
    flac = _members(pulled.path)[5]
    copy = _damaged_copy(pulled, tmp_path, cut=flac.offset_data + flac.size // 2)
    with pytest.raises(DamagedExport) as error:
        TarSource(copy)
    assert str(error.value).startswith(f"{copy}: it is cut short or damaged from member ")
    assert flac.name in str(error.value) and "pull the dataset again" in str(error.value)

    copy = _damaged_copy(pulled, tmp_path, cut=flac.offset)  # a whole number of members
    take = int(Path(flac.name).stem)
    with pytest.raises(DamagedExport, match=f"member {flac.name} \\(take {take}\\) is missing"):
        TarSource(copy)

    copy.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(DamagedExport, match="it is not a tar"):
        TarSource(copy)


@pytest.fixture(scope="module")
def test_split_tar(served, tmp_path_factory) -> bytes:
    """The bytes of the tiny dataset's test split (a smaller tar, for many cuts)."""
    with ApiClient(served.url, served.token) as client:
        return pull_tar(client, "tiny", tmp_path_factory.mktemp("split"), "test").read_bytes()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fraction=st.floats(0, 1))
def test_wherever_a_pull_stops_the_tar_reads_whole_or_is_named_damaged(
    test_split_tar, pulled, tmp_path, fraction
):
    copy = tmp_path / "tiny-test.tar"
    copy.write_bytes(test_split_tar[: round(fraction * len(test_split_tar))])
    try:
        source = TarSource(copy)
    except DamagedExport as error:
        assert str(error).startswith(f"{copy}: ") and "pull the dataset again" in str(error)
        return
    records = source.records()  # opened: then every take is whole (only the trailer was cut)
    assert {r.split for r in records} == {"test"}
    assert records == [r for r in pulled.records() if r.split == "test"]
    for record in records:
        assert np.array_equal(source.audio(record), pulled.audio(record))


def test_a_corrupt_flac_is_named_when_it_is_read(pulled, tmp_path):
    flac = _members(pulled.path)[7]
    copy = _damaged_copy(pulled, tmp_path, flip=flac.offset_data + 1000)
    source = TarSource(copy)  # the index reads headers only
    take = int(Path(flac.name).stem)
    records = {r.take_id: r for r in source.records()}
    other = next(i for i in records if i != take)
    assert np.array_equal(source.audio(records[other]), pulled.audio(records[other]))
    with pytest.raises(DamagedExport, match=f"member {flac.name} \\(take {take}\\) does not"):
        source.audio(records[take])


def test_training_on_a_damaged_pull_says_what_to_do(jxdaq, served, pulled, tmp_path):
    directory = tmp_path / "var" / "pulled" / served.url.removeprefix("http://").replace(":", "_")
    directory.mkdir(parents=True)
    flac = _members(pulled.path)[3]
    copy = _damaged_copy(pulled, directory, flip=flac.offset_data + 2000)
    out = jxdaq(
        "train", "--server", served.url, "--dataset", "tiny", "--out", tmp_path / "r", ok=False
    )
    assert f"dataset 'tiny' from {served.url}: {copy}\n" in out
    assert f"\nerror: {copy}: member " in out and out.count("error") == 1
    assert "does not match its sha256; delete it and pull the dataset again" in out
    shutil.rmtree(directory)  # as told: the next run pulls it again
    jxdaq(
        "train", "--server", served.url, "--dataset", "tiny", "--model", "cnn1", "--epochs", "1",
        "--targets", TARGETS, "--device", "cpu", "--out", tmp_path / "r",
    )  # fmt: skip
