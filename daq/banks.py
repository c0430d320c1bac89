"""``.syx`` banks from files: read safely, found by name, and decoded into tones.

A job holds the bytes of its banks (see :class:`daq.spec.Bank`); files are read once, at
submit. Every read goes through :func:`read_syx_file`: a regular file only (a FIFO or a
device would hang or never end), at most :data:`MAX_SYX_BYTES`. Where a name comes from:

* :class:`LocalFiles`: the CLI, on the operator's own machine: any path, relative ones from
  the spec file's folder.
* :class:`BanksDir`: the API: a name inside the configured banks directory, opened one
  component at a time without following symlinks, so nothing outside it is ever opened;
  its errors say nothing about what lies outside.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Protocol

from firmware_protocol.sysex import SysExError, parse_syx
from firmware_protocol.tone import Tone

#: The largest .syx file read (a JX-8P bank is 2,496 bytes, an MKS-70 bulk dump 10,234).
MAX_SYX_BYTES = 64 * 1024
#: A bank name over HTTP: folders and a file of letters, digits, '_', '.', '-' (each starting
#: with a letter or digit, so never '..' or hidden), ending in .syx.
BANK_NAME = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9_.-]*/)*[A-Za-z0-9][A-Za-z0-9_.-]*\.[sS][yY][xX]")
#: The longest bank name or path accepted.
MAX_BANK_NAME = 255


class BankError(ValueError):
    """A bank that cannot give tones: unreadable, too large, not SysEx, or without tones."""


def _check_stat(mode: int, size: int, where: str) -> None:
    if not stat.S_ISREG(mode):
        raise BankError(f"{where}: not a regular file")
    if size > MAX_SYX_BYTES:
        raise BankError(f"{where}: larger than a .syx bank may be ({MAX_SYX_BYTES} bytes)")


def _read_fd(fd: int, where: str) -> bytes:
    """The file behind ``fd`` (closed here), after checking what it is."""
    try:
        info = os.fstat(fd)
        _check_stat(info.st_mode, info.st_size, where)
        chunks, size = [], 0
        while size <= MAX_SYX_BYTES and (chunk := os.read(fd, MAX_SYX_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_SYX_BYTES:  # it grew since fstat
        raise BankError(f"{where}: larger than a .syx bank may be ({MAX_SYX_BYTES} bytes)")
    return b"".join(chunks)


_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def read_syx_file(path: str | Path) -> bytes:
    """The bytes of a ``.syx`` file on this machine: a regular file of at most
    :data:`MAX_SYX_BYTES`, else a :class:`BankError` naming the path."""
    where = str(path)
    try:
        info = os.stat(path)
        _check_stat(info.st_mode, info.st_size, where)  # before opening: devices stay shut
        return _read_fd(os.open(path, _OPEN_FLAGS), where)
    except OSError as error:
        raise BankError(f"{where}: cannot read the bank: {error.strerror or error}") from None


def bank_tones(data: bytes, source: str) -> tuple[Tone, ...]:
    """Every tone of a ``.syx`` file's bytes, in file order; ``source`` names it in errors."""
    try:
        entries = parse_syx(data, source).entries
    except SysExError as error:
        raise BankError(str(error)) from None
    tones = tuple(entry.item for entry in entries if isinstance(entry.item, Tone))
    if not tones:
        raise BankError(f"{source}: no tones in this .syx file (only patches or other messages)")
    return tones


class BankFiles(Protocol):
    """Where a spec's bank names are read from: ``read(name) -> (name kept, bytes)``."""

    def read(self, name: str) -> tuple[str, bytes]: ...


class LocalFiles:
    """Any file on this machine (the CLI's): relative paths from ``base_dir``."""

    def __init__(self, base_dir: str | Path | None = None) -> None:
        self.base_dir = Path(base_dir) if base_dir is not None else None

    def read(self, name: str) -> tuple[str, bytes]:
        if len(name) > MAX_BANK_NAME or "\x00" in name:
            raise BankError(f"a bank path is at most {MAX_BANK_NAME} characters, without NUL")
        path = Path(name)
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return path.name, read_syx_file(path)


class BanksDir:
    """Files inside one directory only: the banks an API client may name."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def read(self, name: str) -> tuple[str, bytes]:
        if len(name) > MAX_BANK_NAME or not BANK_NAME.fullmatch(name):
            raise BankError(
                "a bank is named by its .syx file inside the server's banks directory "
                f"(at most {MAX_BANK_NAME} characters: letters, digits, '_', '.', '-', with "
                "'/' between folders; no absolute or parent paths), or uploaded with the "
                "job as {name, base64}"
            )
        where = f"bank {name!r}"
        missing = BankError(f"{where}: no such .syx file in the server's banks directory")
        parts = name.split("/")
        try:
            fd = os.open(self.root, _OPEN_FLAGS | os.O_DIRECTORY)
        except OSError:
            raise missing from None
        try:
            for folder in parts[:-1]:
                inner = os.open(folder, _OPEN_FLAGS | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = inner
            info = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            _check_stat(info.st_mode, info.st_size, where)
            file = os.open(parts[-1], _OPEN_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
        except OSError:  # missing, a symlink, not a folder: the same answer for each
            raise missing from None
        finally:
            os.close(fd)
        return name, _read_fd(file, where)
