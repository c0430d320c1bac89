"""Backup and restore (db/backup.py, ``jxdaq catalog backup|restore``) on both backends.

A backup taken while a ``jxdaq worker`` process captures is a consistent snapshot: restored
into an empty catalog and store it verifies clean, and its takes equal the source's takes
(rows and audio bytes). A second backup copies only the new audio. Restore refuses a
non-empty catalog or store and a damaged backup, naming them, and writes nothing then.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
import pytest
from catalog_support import PG_URL, pg_catalog_url  # noqa: F401  (fixture)
from device_support import WorkerProcess
from sqlalchemy.engine import make_url

from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.spec import JobSpec
from db.backup import AUDIO, BackupError, backup, find_snapshot, restore
from db.catalog import Catalog
from db.engine import open_catalog
from db.records import NewTake, TakeFilter
from db.schema import QcVerdict, utcnow
from db.store import AudioStore
from db.verify import verify
from firmware_protocol.tone import INIT_TONE

JOB = {"source": {"kind": "uniform"}, "count": 300, "seed": 3,
       "capture": {"hold_s": 0.3, "tail": {"max_s": 0.2}}}  # fmt: skip


@contextmanager
def _restore_database(catalog_url: str) -> Iterator[str]:
    """A new PostgreSQL database, its URL's search_path naming the schema of ``catalog_url``
    (pg_dump keeps schema names); dropped afterwards."""
    database = f"restore_{uuid.uuid4().hex[:12]}"
    admin_url = PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
        try:
            yield make_url(catalog_url).set(database=database).render_as_string(False)
        finally:
            admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


@pytest.fixture
def restore_url(catalog_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty catalog to restore into: a new SQLite file, or a new PostgreSQL database."""
    if catalog_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'catalog.db'}"
        return
    with _restore_database(catalog_url) as url:
        yield url


def _takes(catalog: Catalog) -> list:
    return catalog.query_takes(TakeFilter(), limit=1000).items


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jxdaq", "catalog", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_backup_while_a_worker_captures_restores_equal_takes(catalog_url, restore_url, tmp_path):
    catalog = open_catalog(catalog_url)
    catalog.upsert_rig(EMULATED.name, EMULATED.transport)
    store = AudioStore(tmp_path / "audio")
    job = submit_job(catalog, JobSpec.model_validate(JOB))
    worker = WorkerProcess("emulated", catalog_url, tmp_path, "--job", str(job.id), "--batch", "4")
    deadline = time.monotonic() + 120
    while catalog.get_job(job.id).captured < 10:
        assert time.monotonic() < deadline and worker.process.poll() is None, worker.drain()
        time.sleep(0.05)

    first = backup(catalog_url, store, tmp_path / "backup")
    captured_then = catalog.get_job(job.id).captured
    assert worker.process.wait(timeout=300) == 0, "\n".join(worker.drain())
    assert 10 <= first.takes <= captured_then < catalog.get_job(job.id).captured, "not mid-capture"
    assert first.copied == first.files == first.takes  # uniform tones: every file differs

    second = backup(catalog_url, store, tmp_path / "backup")
    assert second.takes == catalog.get_job(job.id).captured
    assert second.copied == second.files - first.files  # only what is new
    assert first.snapshot != second.snapshot

    restored_store = tmp_path / "restored-audio"
    result = _cli(
        "restore", str(first.snapshot), "--url", restore_url, "--store", str(restored_store)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"restored {first.snapshot}: {first.takes} takes" in result.stdout
    assert "verify: clean" in result.stdout

    restored = open_catalog(restore_url)
    target = AudioStore(restored_store)
    try:
        assert verify(restored, target).clean
        source = {take.id: take for take in _takes(catalog)}
        copies = _takes(restored)
        assert len(copies) == first.takes
        for copy in copies:
            assert copy == source[copy.id]
            assert target.read_bytes(copy.audio.key) == store.read_bytes(copy.audio.key)
    finally:
        restored.close()
        catalog.close()


def test_restore_refuses_a_catalog_or_store_that_holds_anything(catalog_url, tmp_path):
    catalog = open_catalog(catalog_url)
    catalog.close()
    store = AudioStore(tmp_path / "audio")
    snapshot = backup(catalog_url, store, tmp_path / "backup").snapshot
    fresh = f"sqlite:///{tmp_path / 'new.db'}"

    with pytest.raises(BackupError, match=r"is not empty .*restore needs"):
        restore(snapshot, catalog_url, AudioStore(tmp_path / "empty"))
    store.put_bytes(b"not audio, but a file")
    if catalog_url.startswith("sqlite"):
        with pytest.raises(BackupError, match=f"store {store.root} is not empty"):
            restore(snapshot, fresh, store)
        assert not (tmp_path / "new.db").exists()
    result = _cli("restore", str(tmp_path / "backup"), "--url", catalog_url, "--store", str(store))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert "not empty" in result.stderr


def _recorded(url: str, store: AudioStore, count: int) -> None:
    """A catalog at ``url`` with ``count`` takes of distinct sines in ``store``."""
    catalog = open_catalog(url)
    catalog.upsert_rig("board-a", "emulator")
    catalog.create_job("recorded", {}, count, seed=0)
    takes = []
    for index in range(count):
        claim = catalog.claim_next("board-a", 60)
        wave = np.sin(np.arange(4410) * (index + 1) / 100).astype(np.float32) / 2
        takes.append(
            NewTake(
                claim=claim,
                tone=INIT_TONE.data,
                audio=store.write(wave, 44100),
                qc_verdict=QcVerdict.PASS,
                captured_at=utcnow(),
                software_version="test",
            )
        )
    catalog.record_takes(takes)
    catalog.close()


@pytest.mark.postgres
def test_postgres_restores_into_an_existing_empty_schema(pg_catalog_url, tmp_path):  # noqa: F811
    store = AudioStore(tmp_path / "audio")
    _recorded(pg_catalog_url, store, 4)
    snapshot = backup(pg_catalog_url, store, tmp_path / "backup").snapshot
    with _restore_database(pg_catalog_url) as restore_url:
        _restore_into_created_schema(snapshot, restore_url, tmp_path)


def _restore_into_created_schema(snapshot: Path, restore_url: str, tmp_path: Path) -> None:
    schema = make_url(restore_url).query["options"].split("=", 1)[1]
    with psycopg.connect(make_url(restore_url).set(drivername="postgresql", query={})
                         .render_as_string(hide_password=False)) as target:  # fmt: skip
        target.execute(f'CREATE SCHEMA "{schema}"')
    target_store = AudioStore(tmp_path / "restored-audio")
    elsewhere = make_url(restore_url).set(query={}).render_as_string(False)  # search_path public
    with pytest.raises(BackupError, match=f"holds schema '{schema}' but .* uses 'public'"):
        restore(snapshot, elsewhere, target_store)
    assert restore(snapshot, restore_url, target_store).takes == 4
    restored = open_catalog(restore_url)
    try:
        assert verify(restored, target_store).clean
        assert len(_takes(restored)) == 4
    finally:
        restored.close()


def test_a_damaged_backup_restores_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    _recorded(url, AudioStore(tmp_path / "audio"), 3)
    snapshot = backup(url, AudioStore(tmp_path / "audio"), tmp_path / "backup").snapshot
    damaged = sorted((tmp_path / "backup" / AUDIO).rglob("*.flac"))[1]
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"x")
    target = AudioStore(tmp_path / "restored-audio")
    key = f"{damaged.parent.name}/{damaged.name}"
    with pytest.raises(BackupError, match=f"audio {key} is corrupt.*nothing was restored"):
        restore(tmp_path / "backup", f"sqlite:///{tmp_path / 'new.db'}", target)
    assert not (tmp_path / "new.db").exists()
    assert list(target.iter_keys()) == []
    assert find_snapshot(tmp_path / "backup") == snapshot
