"""CPU cost of streaming the emulated board in real time: 12 voices sounding, in blocks.

Prints the share of one core that the board emulator (parser + both boards' voices, HPF,
chorus and the mono mix) needs to keep up with real time at 48 kHz, per block size. Run:
``.venv/bin/python benchmarks/emulator_streaming.py``. The target (issue 3): under 10 %.
"""

from __future__ import annotations

import time
from pathlib import Path

from daq.emulator.board import BoardEmulator, mix
from firmware_protocol.soundboard import Board, encode_note_on, encode_select, encode_tones
from firmware_protocol.sysex import read_syx

SAMPLE_RATE = 48000
AUDIO_SECONDS = 20.0
BANK = Path(__file__).resolve().parents[2] / "shared/data/jx8p-banks/factory-bank-1-32.syx"


def twelve_voices() -> BoardEmulator:
    """Both boards with a chorused factory tone, all six voices of each holding a chord."""
    tones = [entry.item for entry in read_syx(BANK).tones]
    tone = next(t for t in tones if t.labels()["CHORUS"] != "off")
    emulator = BoardEmulator(SAMPLE_RATE)
    chord = b"".join(encode_note_on(v, 48 + 5 * v, 100) for v in range(6))
    emulator.feed(encode_tones({Board.LOWER: tone, Board.UPPER: tone}))
    emulator.feed(encode_select(Board.BOTH) + chord)
    emulator.process(1024)  # compile the kernels outside the measurement
    return emulator


def main() -> None:
    print(f"streaming 12 voices at {SAMPLE_RATE} Hz, {AUDIO_SECONDS:.0f} s of audio per row")
    for block in (64, 256, 1024):
        emulator = twelve_voices()
        blocks = int(AUDIO_SECONDS * SAMPLE_RATE / block)
        start = time.process_time()
        for _ in range(blocks):
            mix(emulator.process(block))
        cpu = time.process_time() - start
        share = cpu / (blocks * block / SAMPLE_RATE)
        print(f"  block {block:5d} frames: {100 * share:5.1f} % of one core ({1 / share:.0f} x)")


if __name__ == "__main__":
    main()
