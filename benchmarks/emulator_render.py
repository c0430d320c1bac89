"""Batch-render speed of the emulated JX voice: 256 voices x 4 s at 44.1 kHz.

Prints ``<N> x real time`` (real time = 256 x 4 s of audio) for the full voice: two DCOs,
the resonant ladder, HPF and chorus on, for real tones from the JX-8P banks. Run:
``.venv/bin/python benchmarks/emulator_render.py``. The target (issue 3): >= 1,000 x.
Other processes on the machine lower the wall-clock figure; the CPU-time figure says what
the renderer itself needs (with all cores free it approaches cores x that per-core rate).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from daq.emulator.render import render
from firmware_protocol.parameters import BY_NAME
from firmware_protocol.sysex import parse_syx
from firmware_protocol.tone import INIT_TONE, Tone

VOICES = 256
SECONDS = 4.0
SAMPLE_RATE = 44100
RELEASE_S = 0.5
BANKS = Path(__file__).resolve().parents[2] / "shared/data/jx8p-banks"


def full_voice_tones() -> list[Tone]:
    """256 real tones with chorus and HPF switched on (the heaviest path), or INIT variants."""
    chorus, hpf = BY_NAME["CHORUS"], BY_NAME["HPF FREQ"]
    tones = [e.item for p in sorted(BANKS.glob("*.syx")) for e in parse_syx(p.read_bytes()).tones]
    tones = tones or [INIT_TONE.replace(vcf_freq=f, vcf_res=60) for f in range(40, 128)]
    return [
        t.replace(chorus=chorus.canonical(1 + i % 2), hpf_freq=hpf.canonical(1))
        for i, t in enumerate(tones[i % len(tones)] for i in range(VOICES))
    ]


def main() -> None:
    tones = full_voice_tones()
    hold = SECONDS - RELEASE_S
    render(tones[:2], 60, hold_s=0.05, release_s=0.01)  # compile outside the measurement
    audio_seconds = VOICES * SECONDS
    print(f"{VOICES} voices x {SECONDS:.0f} s at {SAMPLE_RATE} Hz, {os.cpu_count()} cores")
    for _ in range(5):
        wall, cpu = time.perf_counter(), time.process_time()
        render(tones, 60, hold_s=hold, release_s=RELEASE_S, sample_rate=SAMPLE_RATE)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{audio_seconds / wall:.0f} x real time "
            f"(wall {wall:.2f} s; CPU {cpu:.2f} s = {audio_seconds / cpu:.0f} x per core)"
        )


if __name__ == "__main__":
    main()
