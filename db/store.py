"""Content-addressed audio store: 24-bit FLAC files named by the sha256 of their bytes.

Why the hash of the *encoded file* rather than of the samples: verification is then a plain
read-and-hash of the file with no decoding, a copy of the store can be checked with
``sha256sum``, and the name proves the bytes on disk are the bytes that were written. (The
same audio encoded by another libFLAC version may get another name; that is harmless, each
take points at its own file.)

Layout: ``<root>/<first two hex digits>/<sha256>.flac`` (256 directories; verification walks
one directory at a time). A local write goes to a hidden temporary name in the target
directory, is fsynced, renamed over the final name and the directory is fsynced, so a crash
at any point leaves either no file, a complete file, or a ``.tmp`` leftover that
``verify --repair`` quarantines; never a partial file under a final name. The capture engine
commits the take's catalog row only after :meth:`AudioStore.write` returns.

Roots that are not local (an fsspec URL such as ``s3://bucket/jx``) are written with one
``pipe_file`` call: object stores make a PUT visible atomically, so no rename is needed. A
take (well under s3fs's 50 MB multipart threshold) is one PUT: a writer killed during it
leaves no object; killed after it, an orphan object that ``verify --repair`` quarantines.
Listings of an object store are cached by fsspec; a walk reads them fresh, since other
hosts write to the same bucket.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem

from db.records import AudioRef

SUFFIX = ".flac"
TEMP_SUFFIX = ".tmp"
QUARANTINE = "quarantine"
#: Every hash bucket (and directory) of the store, in order.
BUCKETS = tuple(f"{i:02x}" for i in range(256))
_KEY = re.compile(r"^([0-9a-f]{2})/([0-9a-f]{64})\.flac$")


class StoreIntegrityError(Exception):
    """A stored file is missing or its bytes do not hash to its name."""


def key_for(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256}{SUFFIX}"


def sha_of_key(key: str) -> str:
    match = _KEY.match(key)
    if match is None:
        raise ValueError(f"{key!r} is not an audio store key (<2 hex>/<sha256>.flac)")
    return match.group(2)


def encode_flac(audio: np.ndarray, sample_rate: int) -> bytes:
    """24-bit FLAC bytes of ``audio`` (frames, or frames x channels; float in [-1, 1])."""
    import soundfile

    if audio.ndim not in (1, 2) or audio.shape[0] == 0:
        raise ValueError(
            f"audio must be (frames,) or (frames, channels) and not empty, got {audio.shape}"
        )
    if np.issubdtype(audio.dtype, np.floating):
        # libsndfile would wrap, not clip, out-of-range floats when converting to PCM
        audio = np.clip(audio, -1.0, 1.0)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, sample_rate, format="FLAC", subtype="PCM_24")
    return buffer.getvalue()


class AudioStore:
    """The store under ``root``: a local path or any fsspec URL."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(str(root))
        self.root = self.root.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)
        if self.local:
            self.fs.makedirs(self.root, exist_ok=True)

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    # -- writing ------------------------------------------------------------------------
    def write(self, audio: np.ndarray, sample_rate: int) -> AudioRef:
        """Encode and store ``audio`` durably; returns where it is and what it holds."""
        data = encode_flac(audio, sample_rate)
        sha256 = self.put_bytes(data)
        channels = 1 if audio.ndim == 1 else audio.shape[1]
        return AudioRef(key_for(sha256), sha256, sample_rate, channels, audio.shape[0])

    def put_bytes(self, data: bytes) -> str:
        """Store encoded bytes under their hash; returns the sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        key = key_for(sha256)
        if self.local:
            write_atomically(Path(self._path(key)), data)
        else:
            self.fs.pipe_file(self._path(key), data)
        return sha256

    def free_bytes(self) -> int | None:
        """Free space where new files go; None for a store that is not a local directory."""
        return shutil.disk_usage(self.root).free if self.local else None

    def check_writable(self) -> None:
        """Raise :class:`OSError` unless a file can be written durably in the store now (a
        worker asks before it resumes after the store refused a take)."""
        if not self.local:
            return
        probe = Path(self.root) / f".writable.{uuid.uuid4().hex}{TEMP_SUFFIX}"
        write_atomically(probe, b"probe")
        probe.unlink()

    # -- reading ------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        """The file's bytes, after checking that they hash to its name."""
        expected = sha_of_key(key)
        try:
            data = self.fs.cat_file(self._path(key))
        except FileNotFoundError as exc:
            raise StoreIntegrityError(f"audio {key} is missing from {self.root}") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise StoreIntegrityError(f"audio {key} is corrupt: its bytes hash to {actual}")
        return data

    def read(self, key: str) -> tuple[np.ndarray, int]:
        """Decoded audio (float32, frames x channels) and its sample rate, hash verified."""
        import soundfile

        audio, sample_rate = soundfile.read(
            io.BytesIO(self.read_bytes(key)), dtype="float32", always_2d=True
        )
        return audio, sample_rate

    def exists(self, key: str) -> bool:
        return self.fs.exists(self._path(key))

    def hash_file(self, key: str) -> str | None:
        """sha256 of the stored bytes, or None when the file is missing."""
        try:
            return hashlib.sha256(self.fs.cat_file(self._path(key))).hexdigest()
        except FileNotFoundError:
            return None

    # -- walking and repair -------------------------------------------------------------
    def bucket_entries(self, bucket: str) -> tuple[list[str], list[str]]:
        """(keys of complete files, names of other entries) in one bucket directory."""
        directory = self._path(bucket)
        if not self.local:
            self.fs.invalidate_cache(directory)  # other processes and hosts write here too
        if not self.fs.exists(directory):
            return [], []
        keys: list[str] = []
        debris: list[str] = []
        for path in sorted(self.fs.ls(directory, detail=False)):
            name = f"{bucket}/{path.rstrip('/').rsplit('/', 1)[-1]}"
            (keys if _KEY.match(name) else debris).append(name)
        return keys, debris

    def quarantine(self, name: str) -> str:
        """Move an entry out of the store's namespace (kept for inspection, never deleted)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = f"{QUARANTINE}/{stamp}/{name}"
        if self.local:
            Path(self._path(target)).parent.mkdir(parents=True, exist_ok=True)
        self.fs.mv(self._path(name), self._path(target))
        return target

    def remove(self, key: str) -> None:
        """Delete a file no take references any more (one already gone is no error)."""
        sha_of_key(key)
        with suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))

    def modified_before(self, name: str, timestamp: float) -> bool:
        """Whether the entry was last written before ``timestamp`` (seconds since the epoch)."""
        try:
            info = self.fs.info(self._path(name))
        except FileNotFoundError:
            return False
        modified = info.get("mtime", info.get("LastModified", info.get("created")))
        if isinstance(modified, datetime):
            modified = modified.timestamp()
        return modified is None or float(modified) < timestamp

    def iter_keys(self) -> Iterator[str]:
        for bucket in BUCKETS:
            yield from self.bucket_entries(bucket)[0]


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable (POSIX needs the parent synced)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _ensure_directory(directory: Path) -> None:
    """Create missing directories durably (each new entry fsynced in its parent)."""
    if directory.is_dir():
        return
    _ensure_directory(directory.parent)
    try:
        directory.mkdir()
    except FileExistsError:
        return
    fsync_directory(directory.parent)


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file handle whose content appears at ``path`` whole or not at all.

    Written under a unique temporary name, fsynced, renamed, and the rename made durable; on
    any error the temporary file is removed and ``path`` is untouched.
    """
    _ensure_directory(path.parent)
    temporary = path.with_name(f".{path.stem}.{uuid.uuid4().hex}{TEMP_SUFFIX}")
    try:
        with open(temporary, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` at ``path``, whole or not at all (see :func:`atomic_file`)."""
    with atomic_file(path) as handle:
        handle.write(data)
