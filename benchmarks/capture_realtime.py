"""Real-time capture duty cycle through real devices: audio seconds captured / wall seconds.

The emulator runs as its own process behind a pty, playing into PulseAudio's null sink; a
worker captures a job of 2-second takes with a 0.5 s release tail (plus the 0.1 s pre-roll:
2.6 s of audio each) and records them. Wall time runs from the job's first claim to its last
take's commit (the worker's one-off probe and latency calibration come before and are
printed apart). Target (capture issue): duty cycle >= 0.97. Prints the overhead per take.

Needs the services of scripts/test-services.sh (PulseAudio null sink).
Usage: .venv/bin/python benchmarks/capture_realtime.py [--takes 20] [--stop-at-silence]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daq.jobs import submit_job
from daq.rigs import RigDefinition
from daq.spec import JobSpec
from daq.worker import Worker
from db.engine import open_catalog
from db.records import TakeFilter
from db.store import AudioStore

RATE = 48000


#: A 4-channel sink maps channel to channel with this layout (as ALSA's pulse plugin opens a
#: 4-channel stream), so lanes on its channels are never mixed across.
QUAD_CHANNEL_MAP = "front-left,front-right,rear-left,rear-right"


@contextmanager
def private_sink(channels: int = 1) -> Iterator[str]:
    """A null sink of the benchmark's own: nothing else playing can be heard in its takes
    (``channels`` 4: float32, one channel per lane)."""
    name = f"jxdaq_bench_{os.getpid()}"
    layout = [] if channels == 1 else [f"channels={channels}", f"channel_map={QUAD_CHANNEL_MAP}",
                                       "format=float32le"]  # fmt: skip
    loaded = subprocess.run(
        ["pactl", "load-module", "module-null-sink", f"sink_name={name}", f"rate={RATE}",
         *layout],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    os.environ["PULSE_SOURCE"] = f"{name}.monitor"  # read when the input stream connects
    try:
        yield name
    finally:
        subprocess.run(["pactl", "unload-module", loaded.stdout.strip()], check=False)


def start_emulator(
    command_delay_ms: float, sink: str, *outputs: str
) -> tuple[subprocess.Popen[str], str]:
    """``jxdaq emulator serve`` on a new pty (``outputs``: its --outputs options); returns the
    process and the pty's path."""
    process = subprocess.Popen(
        [sys.executable, "-m", "jxdaq", "emulator", "serve", "--serial", "pty",
         "--audio-device", "pulse", "--sample-rate", str(RATE),
         "--command-delay-ms", str(command_delay_ms), *outputs],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PULSE_SINK": sink},
    )  # fmt: skip
    announced = {}
    assert process.stdout is not None
    for line in process.stdout:
        key, _, value = line.strip().partition(": ")
        announced[key] = value
        if line.strip() == "ready":
            return process, announced["serial"]
    raise SystemExit(f"the emulator did not start (exit code {process.wait()})")


def job_spec(takes: int, hold_s: float, release_s: float, stop_at_silence: bool) -> JobSpec:
    """Tones from the preset prior whose VCA releases within the tail (so no take waits for
    a sound that outlives it); key A4."""
    return JobSpec.model_validate(
        {
            "source": {"kind": "prior"},
            "fixed": {"VCA MODE": "ENV2", "ENV2 RELEASE": 40, "VCA LEVEL": 110},
            "count": takes,
            "seed": 4,
            "capture": {
                "sample_rate": RATE,
                "pre_roll_s": 0.1,
                "settle_s": 0.05,
                "hold_s": hold_s,
                "tail": {"max_s": release_s, "silence_db": -60.0 if stop_at_silence else None},
                "notes": {"key": 69, "velocity": 100},
            },
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--takes", type=int, default=20)
    parser.add_argument("--hold", type=float, default=2.0)
    parser.add_argument("--release", type=float, default=0.5)
    parser.add_argument("--stop-at-silence", action="store_true",
                        help="end tails at -60 dBFS instead of recording all of them")  # fmt: skip
    parser.add_argument("--command-delay-ms", type=float, default=100.0)
    args = parser.parse_args()
    with private_sink() as sink:
        run(args, sink)


def run(args: argparse.Namespace, sink: str) -> None:
    emulator, pty = start_emulator(args.command_delay_ms, sink)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            catalog = open_catalog(f"sqlite:///{tmp}/catalog.db")
            store = AudioStore(Path(tmp) / "audio")
            rig = RigDefinition(name="bench", instrument="serial", port=pty,
                                audio_device="pulse", sample_rate=RATE)  # fmt: skip
            spec = job_spec(args.takes, args.hold, args.release, args.stop_at_silence)
            start = time.perf_counter()
            job = submit_job(catalog, spec)
            Worker(catalog, store, rig).run(job_id=job.id)
            total = time.perf_counter() - start
            done = catalog.get_job(job.id)
            assert done.started_at is not None and done.finished_at is not None
            wall = (done.finished_at - done.started_at).total_seconds()
            takes = catalog.query_takes(TakeFilter(job_id=job.id), limit=1000).items
            audio = sum(t.audio.frames / t.audio.sample_rate for t in takes)
            attempts = sum(s.attempts for s in catalog.list_samples(job.id, limit=1000))
            catalog.close()
    finally:
        emulator.terminate()
        emulator.wait()
    print(f"{len(takes)} takes stored ({done.failed} failed, {attempts} attempts), "
          f"{audio:.1f} s of audio in {wall:.1f} s from first claim to last commit")  # fmt: skip
    print(f"duty cycle {audio / wall:.3f} (target >= 0.97); "
          f"overhead {(wall - audio) / max(len(takes), 1) * 1000:.0f} ms per take")  # fmt: skip
    print(f"start-up (probe, latency calibration) {total - wall:.1f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip


if __name__ == "__main__":
    main()
