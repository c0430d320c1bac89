"""Throughput of the .syx reader and writer on the real dumps, stock and Vecoven OS4.

Run: ``.venv/bin/python benchmarks/sysex_reader.py``. The figure is for comparison between
versions only; a whole bank is a few kilobytes, so any figure above ~1 MB/s is ample.
"""

from __future__ import annotations

import time
from pathlib import Path

from firmware_protocol.sysex import parse_syx

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REPEATS = 20


def measure(label: str, files: list[Path]) -> None:
    """Read and write the files ``REPEATS`` times over as one byte string; print the rates."""
    data = b"".join(p.read_bytes() for p in files) * REPEATS
    start = time.perf_counter()
    parsed = parse_syx(data)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    written = parsed.to_bytes()
    write_s = time.perf_counter() - start
    assert written == data
    entries = len(parsed.entries)
    print(f"{label} read:  {len(data) / read_s / 1e6:.2f} MB/s ({entries} tones/patches)")
    print(f"{label} write: {len(data) / write_s / 1e6:.2f} MB/s ({len(data)} bytes)")


def main() -> None:
    stock = [*sorted((DATA / "jx8p-banks").glob("*.syx")), DATA / "mks70/mks70-bulk-dump-stock.syx"]
    measure("stock", stock)
    # OS4 tones also compute their stock view (os4.to_stock) while they are read.
    measure("os4  ", [DATA / "mks70/mks70-bulk-dump-vecoven-os4.syx"])


if __name__ == "__main__":
    main()
