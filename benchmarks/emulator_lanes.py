"""Four lanes on one 4-channel stream, through PulseAudio: what the device path delivers.

Two ``jxdaq emulator serve`` processes (``--outputs boards --channels 4`` and
``--outputs lower=3,upper=4``) play into the 4-channel null sink of scripts/test-services.sh;
its monitor is recorded as one 4-channel DeviceInput, each lane reading its own channel.
Every lane plays a 2 s note and a 0.5 s release, over and over, as a capture job would.
Prints the audio seconds the stream delivered per wall second (all lanes together), each
lane's share of sounding frames and its dropouts (gaps inside held notes: an emulator that
underran), the stream's status flags, and each emulator's CPU share and underruns. That is
the ceiling a lane capture can reach on this path (issue 14's figure: >= 3.8). Run:
``.venv/bin/python benchmarks/emulator_lanes.py [--seconds 30] [--emulators 1|2]
[--output-latency-ms 80] [--sink jxdaq_quad]``.
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import serial

from daq.audio.device_input import DeviceInput
from daq.emulator.serve import SERIAL_BAUD
from firmware_protocol.soundboard import (
    SELECT_BYTES,
    VOICES,
    Board,
    encode_note_off,
    encode_note_on,
    encode_tones,
)
from firmware_protocol.tone import INIT_TONE

FS = 48000
HOLD_S = 2.0
RELEASE_S = 0.5
#: Each emulator's outputs and its lanes: (board, input channel from 0, key).
EMULATORS = (
    (("--outputs", "boards", "--channels", "4"), ((Board.LOWER, 0, 45), (Board.UPPER, 1, 52))),
    (("--outputs", "lower=3,upper=4"), ((Board.LOWER, 2, 57), (Board.UPPER, 3, 64))),
)
SOUNDING = 10 ** (-60 / 20)


def start_emulator(
    sink: str, outputs: tuple[str, ...], args: argparse.Namespace
) -> tuple[subprocess.Popen, str, queue.Queue[str]]:
    """A served emulator into ``sink``; returns it, its pty and its further output lines once
    it says 'ready'."""
    process = subprocess.Popen(
        [sys.executable, "-m", "jxdaq", "emulator", "serve", "--serial", "pty",
         "--audio-device", "pulse", "--sample-rate", str(FS), "--command-delay-ms", "100",
         "--block", str(args.block), "--output-latency-ms", str(args.output_latency_ms),
         *outputs],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PULSE_SINK": sink},
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(x.strip()) for x in process.stdout], daemon=True
    ).start()
    pty = None
    while (line := lines.get(timeout=120)) != "ready":
        if line.startswith("serial: "):
            pty = line.partition(": ")[2]
    assert pty is not None
    return process, pty, lines


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sounding(audio: np.ndarray) -> np.ndarray:
    """Per 5 ms window: does it hold sound (a waveform's zero crossings do not count)."""
    window = FS // 200
    frames = audio[: audio.size // window * window].reshape(-1, window)
    return np.abs(frames).max(axis=1) > SOUNDING


def dropouts(heard: np.ndarray) -> int:
    """Silent stretches inside held notes: shorter than half the release between notes."""
    edges = np.flatnonzero(np.diff(heard.astype(np.int8)))
    offs, ons = edges[heard[edges]] + 1, edges[~heard[edges]] + 1
    gaps = [ons[ons > off][0] - off for off in offs if (ons > off).any()]
    return sum(gap * 0.005 < RELEASE_S / 2 for gap in gaps)


def send(ports: list[serial.Serial], voice: int, on: bool) -> None:
    """A note on (or off) on every lane at once."""
    for port, (_, lanes) in zip(ports, EMULATORS, strict=False):
        for board, _, key in lanes:
            note = encode_note_on(voice, key, 100) if on else encode_note_off(voice, key)
            port.write(bytes([SELECT_BYTES[board]]) + note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--emulators", type=int, choices=(1, 2), default=2, help="2 lanes each")
    parser.add_argument("--sink", default="jxdaq_quad", help="a 4-channel PulseAudio sink")
    parser.add_argument("--block", type=int, default=256, help="emulator frames per block")
    parser.add_argument(
        "--output-latency-ms", type=float, default=80.0, help="the emulators' (below 100)"
    )
    args = parser.parse_args()
    emulators = EMULATORS[: args.emulators]
    servers = [start_emulator(args.sink, outputs, args) for outputs, _ in emulators]
    ports = [serial.Serial(pty, SERIAL_BAUD) for _, pty, _ in servers]
    for port in ports:
        port.write(encode_tones({Board.LOWER: INIT_TONE, Board.UPPER: INIT_TONE}))
    os.environ["PULSE_SOURCE"] = f"{args.sink}.monitor"
    try:
        with DeviceInput("pulse", FS, channels=4, buffer_s=args.seconds + 10) as audio:
            lanes = [audio.select(channel) for _, board in emulators for _, channel, _ in board]
            cpu_before = [cpu_s(p.pid) for p, _, _ in servers]
            first, wall_start = audio.buffer.written, time.monotonic()
            notes = 0
            while time.monotonic() - wall_start < args.seconds:
                send(ports, VOICES[notes % len(VOICES)], on=True)
                time.sleep(HOLD_S)
                send(ports, VOICES[notes % len(VOICES)], on=False)
                time.sleep(RELEASE_S)
                notes += 1
            wall = time.monotonic() - wall_start
            last = audio.buffer.written
            cpu = [cpu_s(p.pid) - c for (p, _, _), c in zip(servers, cpu_before, strict=True)]
            heard = [sounding(lane.buffer.read(first, last)[:, 0]) for lane in lanes]
            flags = list(audio.status_flags)
    finally:
        for port in ports:
            port.close()
        for process, _, _ in servers:
            process.terminate()
            process.wait(timeout=15)
    time.sleep(0.5)  # the readers take the last lines
    stopped = [line for _, _, lines in servers for line in list(lines.queue) if "stopped" in line]
    count = len(lanes)
    print(f"{notes} notes per lane over {wall:.1f} s wall; {count} lanes on one 4-channel stream")
    delivered = count * (last - first) / FS / wall
    print(f"  audio seconds delivered per wall second, {count} lanes: {delivered:.3f}")
    held = HOLD_S / (HOLD_S + RELEASE_S)
    print(f"  share of frames sounding per lane (notes held {held:.2f} of the time): "
          f"{', '.join(f'{h.mean():.2f}' for h in heard)}")  # fmt: skip
    print(f"  dropouts (silences shorter than the release) per lane: "
          f"{', '.join(str(dropouts(h)) for h in heard)}")  # fmt: skip
    print(f"  input status flags: {len(flags)} {sorted(set(flags))}")
    print(f"  emulator CPU, 2 boards each: {', '.join(f'{100 * c / wall:.1f} %' for c in cpu)}"
          " of one core")  # fmt: skip
    for line in stopped:
        print(f"  emulator {line}")


if __name__ == "__main__":
    main()
