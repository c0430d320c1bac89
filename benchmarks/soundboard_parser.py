"""Throughput of the voice-board parser, in bytes/s (the target is > 1 MB/s).

Two long random-but-valid streams: a uniform mix of every command kind (the worst case for
the parser's run-based fast path) and a capture session's traffic (tone loads, notes).
Each is parsed whole and in 64-byte chunks (what a serial read typically returns). The
whole-stream figure is lower because a million live events make CPython's cyclic GC walk
them repeatedly (NamedTuples stay GC-tracked); streaming feeds do not keep them alive.

    .venv/bin/python benchmarks/soundboard_parser.py
"""

from __future__ import annotations

import random
import time

from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.soundboard import (
    Board,
    SoundboardParser,
    encode_bend,
    encode_note_off,
    encode_note_on,
    encode_select,
    encode_tone,
)
from firmware_protocol.tone import Tone

STREAM_BYTES = 2_000_000
CHUNK = 64


def mixed_command(rng: random.Random) -> bytes:
    """One random command of any kind, each kind equally likely."""
    kind = rng.randrange(5)
    if kind == 0:
        return bytes([rng.randrange(0x80, 0xB0), rng.randrange(128)])
    if kind == 1:
        return bytes([rng.randrange(0xB0, 0xC0), rng.randrange(128)])
    if kind == 2:
        return encode_note_on(rng.randrange(6), rng.randrange(128), rng.randrange(128))
    if kind == 3:
        return encode_note_off(rng.randrange(6), rng.randrange(128))
    return encode_select(rng.choice([Board.LOWER, Board.UPPER, Board.BOTH]))


def capture_traffic(rng: random.Random) -> bytes:
    """One take: a random tone (all or some parameters), a note, a bend, the note off."""
    tone = Tone.from_values({p.name: rng.randrange(128) for p in TONE_PARAMETERS})
    previous = None if rng.random() < 0.5 else tone.replace(vcf_freq=(tone["VCF FREQ"] + 1) % 128)
    key = rng.randrange(128)
    return (
        encode_select(Board.LOWER)
        + encode_tone(tone, previous)
        + encode_note_on(0, key, 100)
        + encode_bend(rng.randrange(-127, 128))
        + encode_note_off(0, key)
    )


def stream(make, rng: random.Random) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size < STREAM_BYTES:
        part = make(rng)
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def throughput(data: bytes, chunk: int | None) -> tuple[float, int]:
    best = float("inf")
    for _ in range(3):
        parser = SoundboardParser()
        start = time.perf_counter()
        if chunk is None:
            events = len(parser.feed(data))
        else:
            events = sum(len(parser.feed(data[i : i + chunk])) for i in range(0, len(data), chunk))
        best = min(best, time.perf_counter() - start)
        assert parser.dropped == 0 and parser.stray == 0
    return len(data) / best, events


def main() -> None:
    rng = random.Random(1)
    for label, make in (
        ("uniform command mix", mixed_command),
        ("capture traffic", capture_traffic),
    ):
        data = stream(make, rng)
        for chunk in (None, CHUNK):
            rate, events = throughput(data, chunk)
            how = "one feed" if chunk is None else f"{chunk}-byte feeds"
            print(
                f"{label:20s} {how:15s} {len(data):>9,d} bytes {events:>9,d} events "
                f"{rate / 1e6:6.2f} MB/s ({rate:,.0f} bytes/s)"
            )


if __name__ == "__main__":
    main()
