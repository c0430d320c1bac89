"""Backup and restore of a catalog and its audio, taken while workers run.

A backup folder holds any number of snapshots; their audio is shared::

    DEST/audio/<2 hex>/<sha256>.flac            content-addressed: each file is copied once
    DEST/snapshots/<UTC stamp>/catalog.sqlite   (or catalog.pgdump, pg_dump's custom format)
    DEST/snapshots/<UTC stamp>/manifest.json    the catalog file's sha256 and every audio key

Why a snapshot is consistent without stopping anyone: the catalog is copied first, in one
read transaction (SQLite's online backup API, which WAL-mode writers do not wait for;
PostgreSQL: ``pg_dump`` on the snapshot that a REPEATABLE READ transaction exports), and the
list of audio files is read from that same snapshot. The store writes a take's file before its
row commits, so every file the snapshot names is in the store. A snapshot is built under a
hidden name and renamed into place once its manifest is written and every file it names was
read back and hashed; an interrupted backup leaves no snapshot, only reusable audio.

Restore verifies the whole snapshot before it writes anything, then writes the audio (each
file re-hashed by the store) and the catalog last, so the catalog never names a file that is
not there. It refuses a catalog or store that holds anything, naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, create_engine, func, select, text
from sqlalchemy.engine import URL, make_url

from db.engine import make_engine, normalize_url
from db.schema import Take
from db.store import (
    BUCKETS,
    AudioStore,
    StoreIntegrityError,
    atomic_file,
    fsync_directory,
    write_atomically,
)

FORMAT = 1
MANIFEST = "manifest.json"
SNAPSHOTS = "snapshots"
AUDIO = "audio"
CATALOG_FILES = {"sqlite": "catalog.sqlite", "postgresql": "catalog.pgdump"}
#: Copying or hashing one file reports progress with this callback.
Progress = Callable[[], None]
#: Files copied (or checked) at once.
COPY_THREADS = 8
T = TypeVar("T")


class BackupError(Exception):
    """A backup or restore that cannot go on; the message names what and where."""


@dataclass(frozen=True, slots=True)
class BackupReport:
    snapshot: Path
    takes: int
    files: int
    #: Audio files this backup copied (the others were in the folder from earlier backups).
    copied: int
    copied_bytes: int
    catalog_bytes: int


@dataclass(frozen=True, slots=True)
class RestoreReport:
    snapshot: Path
    takes: int
    files: int


# -- backup ---------------------------------------------------------------------------------
def backup(
    catalog_url: str,
    store: AudioStore,
    dest: str | os.PathLike[str],
    *,
    on_listed: Callable[[int], None] | None = None,
    on_file: Progress | None = None,
) -> BackupReport:
    """A new snapshot of the catalog at ``catalog_url`` and its audio in the folder ``dest``."""
    dest = Path(dest)
    url = make_url(normalize_url(catalog_url))
    backend = _backend(url)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    snapshots = dest / SNAPSHOTS
    partial = snapshots / f".{stamp}.partial"
    partial.mkdir(parents=True)
    try:
        catalog_file = partial / CATALOG_FILES[backend]
        if backend == "sqlite":
            keys, takes = _snapshot_sqlite(url, catalog_file)
            schema = None
        else:
            keys, takes, schema = _snapshot_postgres(url, catalog_file)
        if on_listed is not None:
            on_listed(len(keys))
        copied, copied_bytes = _copy_audio(store, AudioStore(dest / AUDIO), keys, on_file)
        manifest = {
            "format": FORMAT,
            "created_at": stamp,
            "catalog": {
                "backend": backend,
                "file": catalog_file.name,
                "sha256": _sha256_file(catalog_file),
                "bytes": catalog_file.stat().st_size,
                "schema": schema,
            },
            "takes": takes,
            "audio": keys,
        }
        write_atomically(partial / MANIFEST, json.dumps(manifest, indent=0).encode())
        final = snapshots / stamp
        partial.rename(final)
        fsync_directory(snapshots)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupReport(final, takes, len(keys), copied, copied_bytes, manifest["catalog"]["bytes"])


def _intact(connection: Connection) -> tuple[list[str], int]:
    """The audio keys of the intact takes (each once, sorted) and the number of those takes."""
    intact = Take.broken_at.is_(None)
    takes = connection.execute(select(func.count()).select_from(Take).where(intact)).scalar_one()
    keys = connection.scalars(
        select(Take.audio_key).where(intact).distinct().order_by(Take.audio_key)
    )
    return list(keys), takes


def _snapshot_sqlite(url: URL, target: Path) -> tuple[list[str], int]:
    source_path = url.database
    if not source_path or source_path == ":memory:" or not Path(source_path).is_file():
        raise BackupError(f"catalog {source_path!r}: no SQLite file to back up")
    source = sqlite3.connect(source_path, timeout=30)
    snapshot = sqlite3.connect(target)
    try:
        source.backup(snapshot)  # all pages in one step: one read transaction, one state
        snapshot.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        snapshot.close()
        source.close()
    engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as connection:
            return _intact(connection)
    finally:
        engine.dispose()


def _snapshot_postgres(url: URL, target: Path) -> tuple[list[str], int, str]:
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
            if schema is None:
                raise BackupError(f"catalog {_where(url)}: none of its search_path schemas exists")
            keys, takes = _intact(connection)
            # the exported snapshot lives as long as this transaction: pg_dump runs inside it
            _run(
                url,
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--schema={schema}",
                f"--snapshot={snapshot}",
                f"--file={target}",
            )
            connection.rollback()
    finally:
        engine.dispose()
    return keys, takes, schema


def _copy_audio(
    store: AudioStore, backup_audio: AudioStore, keys: list[str], on_file: Progress | None
) -> tuple[int, int]:
    """Copy the files the backup folder lacks, each read back and hashed once written."""

    present = set(backup_audio.iter_keys())  # 256 listings, not a stat per file

    def copy(key: str) -> int:
        if key in present:
            return -1
        try:
            data = store.read_bytes(key)
        except StoreIntegrityError as error:
            raise BackupError(f"store {store.root}: {error}; run `jxdaq catalog verify`") from error
        backup_audio.put_bytes(data)
        backup_audio.read_bytes(key)
        return len(data)

    copied = copied_bytes = 0
    for size in _each(copy, keys, on_file):
        if size >= 0:
            copied += 1
            copied_bytes += size
    return copied, copied_bytes


def _each(work: Callable[[str], T], keys: list[str], on_file: Progress | None) -> Iterator[T]:
    """``work`` on every key in :data:`COPY_THREADS` threads (each file's fsync waits on the
    disk, not the CPU: eight in flight copy about eight times as many files per second)."""
    with ThreadPoolExecutor(COPY_THREADS) as pool:
        for result in pool.map(work, keys):
            if on_file is not None:
                on_file()
            yield result


# -- restore --------------------------------------------------------------------------------
def restore(
    src: str | os.PathLike[str],
    catalog_url: str,
    store: AudioStore,
    *,
    on_listed: Callable[[int], None] | None = None,
    on_file: Progress | None = None,
) -> RestoreReport:
    """Restore the newest snapshot in the backup folder ``src`` (or the snapshot folder
    ``src``) into an empty catalog and an empty store."""
    snapshot = find_snapshot(Path(src))
    manifest = _read_manifest(snapshot)
    url = make_url(normalize_url(catalog_url))
    backend = _backend(url)
    if manifest["catalog"]["backend"] != backend:
        raise BackupError(
            f"snapshot {snapshot} holds a {manifest['catalog']['backend']} catalog; "
            f"it restores into a {manifest['catalog']['backend']} URL, not {_where(url)}"
        )
    _require_empty_catalog(url, manifest)
    _require_empty_store(store)
    keys: list[str] = manifest["audio"]
    if on_listed is not None:
        on_listed(2 * len(keys))
    _check_catalog_file(snapshot, manifest)
    backup_audio = AudioStore(snapshot.parent.parent / AUDIO)
    # all of it is checked before anything is written
    for _ in _each(lambda key: _read_backup(backup_audio, key), keys, on_file):
        pass
    for _ in _each(lambda key: store.put_bytes(_read_backup(backup_audio, key)), keys, on_file):
        pass
    catalog_file = snapshot / manifest["catalog"]["file"]
    if backend == "sqlite":
        _restore_sqlite(catalog_file, Path(url.database or ""))
    else:
        _restore_postgres(catalog_file, url, manifest["catalog"]["schema"])
    return RestoreReport(snapshot, manifest["takes"], len(keys))


def find_snapshot(src: Path) -> Path:
    """``src`` if it is a snapshot, else the newest complete snapshot of the folder ``src``."""
    if (src / MANIFEST).is_file():
        return src
    folder = src / SNAPSHOTS
    complete = (
        sorted(p for p in folder.iterdir() if (p / MANIFEST).is_file()) if folder.is_dir() else []
    )
    if not complete:
        raise BackupError(f"{src}: no complete snapshot (no {SNAPSHOTS}/*/{MANIFEST})")
    return complete[-1]


def _read_manifest(snapshot: Path) -> dict:
    path = snapshot / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"{path}: not a readable manifest ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: not a jx-daq backup manifest of format {FORMAT}")
    return manifest


def _check_catalog_file(snapshot: Path, manifest: dict) -> None:
    path = snapshot / manifest["catalog"]["file"]
    if not path.is_file():
        raise BackupError(f"{path} is missing")
    actual = _sha256_file(path)
    if actual != manifest["catalog"]["sha256"]:
        raise BackupError(f"{path} is corrupt: it hashes to {actual}, the manifest says otherwise")


def _read_backup(backup_audio: AudioStore, key: str) -> bytes:
    try:
        return backup_audio.read_bytes(key)
    except StoreIntegrityError as error:
        raise BackupError(f"backup {backup_audio.root}: {error}; nothing was restored") from error


def _require_empty_store(store: AudioStore) -> None:
    for bucket in BUCKETS:
        keys, debris = store.bucket_entries(bucket)
        if keys or debris:
            first = (keys or debris)[0]
            raise BackupError(
                f"store {store.root} is not empty (it holds {first}); restore needs an empty store"
            )


def _require_empty_catalog(url: URL, manifest: dict) -> None:
    if _backend(url) == "sqlite":
        path = Path(url.database or "")
        if path.is_file() and path.stat().st_size > 0:
            with _sqlite_readonly(path) as connection:
                tables = [
                    row[0]
                    for row in connection.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                    )
                ]
                takes = (
                    connection.execute("SELECT count(*) FROM takes").fetchone()[0]
                    if "takes" in tables
                    else 0
                )
            if tables:
                raise BackupError(
                    f"catalog {path} is not empty (it has {len(tables)} tables, {takes} takes; "
                    "a catalog that a server or `jxdaq db upgrade` created counts too): "
                    "restore needs a catalog file that does not exist yet"
                )
        return
    schema = manifest["catalog"]["schema"]
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as connection:
            target = _first_search_path_schema(connection)
            tables = connection.scalars(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = :schema ORDER BY table_name"
                ),
                {"schema": schema},
            ).all()
    finally:
        engine.dispose()
    if target != schema:
        raise BackupError(
            f"the snapshot holds schema {schema!r} but {_where(url)} uses {target!r}: restore "
            f"into a database whose search_path names {schema!r} (pg_dump keeps schema names)"
        )
    if tables:
        raise BackupError(
            f"catalog {_where(url)} is not empty (schema {schema!r} has the tables "
            f"{', '.join(tables[:5])}); restore needs a schema without tables"
        )


def _first_search_path_schema(connection: Connection) -> str:
    path = connection.execute(text("SELECT current_setting('search_path')")).scalar_one()
    names = [name.strip().strip('"') for name in path.split(",")]
    return next(name for name in names if name and name != "$user")


def _restore_sqlite(catalog_file: Path, target: Path) -> None:
    for leftover in (target.with_name(target.name + s) for s in ("-wal", "-shm", "-journal")):
        leftover.unlink(missing_ok=True)  # of an empty or absent database: stale
    with catalog_file.open("rb") as source, atomic_file(target) as handle:
        shutil.copyfileobj(source, handle, 1 << 20)


def _restore_postgres(catalog_file: Path, url: URL, schema: str) -> None:
    listing = _run(url, "pg_restore", "--list", str(catalog_file)).stdout
    # the schema itself exists already when the target's search_path names it
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT count(*) FROM pg_namespace WHERE nspname = :schema"),
                {"schema": schema},
            ).scalar_one()
    finally:
        engine.dispose()
    # TOC lines "SCHEMA - <name> <owner>" and "COMMENT - SCHEMA <name> <owner>"
    entry = re.compile(rf"\b(SCHEMA|COMMENT) - (SCHEMA )?{re.escape(schema)}(\s|$)")
    entries = [line for line in listing.splitlines() if not (exists and entry.search(line))]
    use_list = catalog_file.with_name("restore.list")
    use_list.write_text("\n".join(entries) + "\n")
    try:
        _run(
            url,
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--use-list={use_list}",
            f"--dbname={url.database}",
            str(catalog_file),
        )
    finally:
        use_list.unlink(missing_ok=True)


# -- helpers --------------------------------------------------------------------------------
def _backend(url: URL) -> str:
    backend = url.get_backend_name()
    if backend not in CATALOG_FILES:
        raise BackupError(f"catalog {_where(url)}: only SQLite and PostgreSQL can be backed up")
    return backend


def _where(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _run(url: URL, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A PostgreSQL client tool against ``url``'s server (connection from libpq's variables)."""
    if shutil.which(tool) is None:
        raise BackupError(
            f"{tool} not found: install PostgreSQL's client tools (postgresql-client)"
        )
    env = dict(os.environ)
    settings = {
        "PGHOST": url.host,
        "PGPORT": url.port,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
        "PGOPTIONS": url.query.get("options"),
    }
    env.update({name: str(value) for name, value in settings.items() if value is not None})
    result = subprocess.run([tool, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()
        raise BackupError(
            f"{tool} failed on {_where(url)} (exit {result.returncode}): "
            + (detail[0] if detail else "no message")
        )
    return result


@contextmanager
def _sqlite_readonly(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield connection
    finally:
        connection.close()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
