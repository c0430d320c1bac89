"""Real-time capture on several lanes at once: audio seconds captured per wall second.

One rig of 1, 2 or 4 lanes (boards) through real devices: emulators behind ptys play each
board on its own channel of one 4-channel PulseAudio null sink, whose monitor is the rig's
one input stream. 1 and 2 lanes are the two boards of one emulator on one serial line (a
Super JX); 4 lanes add a second emulator on a second pty (two Super JXs on one interface).
Each lane captures ``--takes`` takes of 2 s held and a 0.5 s release (plus the pre-roll); wall
time runs from the job's first claim to its last take's commit. Targets (issue 14): 2 lanes
>= 1.9, 4 lanes >= 3.8 audio seconds per wall second (one lane: about 0.996). Prints the
overhead per take (a lane's wall time less its audio, per take).

Needs the services of scripts/test-services.sh (PulseAudio).
Usage: .venv/bin/python benchmarks/capture_lanes.py [--takes 8] [--lanes 1 2 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from capture_realtime import RATE, job_spec, private_sink, start_emulator

from daq.jobs import submit_job
from daq.rigs import LaneDefinition, RigDefinition
from daq.spec import JobSpec
from daq.worker import Worker
from db.engine import open_catalog
from db.records import TakeFilter
from db.store import AudioStore

#: Where each emulator plays its boards on the 4-channel sink.
OUTPUTS = (("--outputs", "boards", "--channels", "4"),
           ("--outputs", "lower=3,upper=4", "--channels", "4"))  # fmt: skip


def lanes_rig(ports: list[str], lanes: int) -> RigDefinition:
    """``lanes`` boards: lower and upper of each emulator in turn, on channels 1..4."""
    boards = [(port, board) for port in ports for board in ("lower", "upper")][:lanes]
    return RigDefinition(
        name=f"lanes-{lanes}", instrument="serial", audio_device="pulse", sample_rate=RATE,
        channels=4,
        lanes=tuple(LaneDefinition(port=port, board=board, input=i + 1)
                    for i, (port, board) in enumerate(boards)),
    )  # fmt: skip


def audible(spec: JobSpec) -> JobSpec:
    """``spec`` with the filter open enough that every tone sounds: a silent tone's sample is
    tried again and again, which measures the retries, not the lanes (the 4-lane job of
    capture_realtime's spec holds one: sample 21, peak 2e-5 in the batch render)."""
    fields = spec.model_dump()
    fields["fixed"] = {**fields["fixed"], "VCF FREQ": 64}
    return JobSpec.model_validate(fields)


def run(lanes: int, args: argparse.Namespace, sink: str, tmp: Path) -> None:
    emulators = [start_emulator(args.command_delay_ms, sink, *OUTPUTS[i])
                 for i in range((lanes + 1) // 2)]  # fmt: skip
    try:
        catalog = open_catalog(f"sqlite:///{tmp}/catalog-{lanes}.db")
        store = AudioStore(tmp / f"audio-{lanes}")
        spec = audible(job_spec(args.takes * lanes, args.hold, args.release, stop_at_silence=False))
        start = time.perf_counter()
        job = submit_job(catalog, spec)
        Worker(catalog, store, lanes_rig([pty for _, pty in emulators], lanes)).run(job_id=job.id)
        total = time.perf_counter() - start
        done = catalog.get_job(job.id)
        assert done.started_at is not None and done.finished_at is not None
        wall = (done.finished_at - done.started_at).total_seconds()
        takes = catalog.query_takes(TakeFilter(job_id=job.id), limit=1000).items
        audio = sum(t.audio.frames / t.audio.sample_rate for t in takes)
        catalog.close()
    finally:
        for process, _ in emulators:
            process.terminate()
            process.wait()
    print(f"{lanes} lane(s): {len(takes)} takes ({done.failed} failed), {audio:.1f} s of audio "
          f"in {wall:.1f} s: {audio / wall:.2f} audio s per wall s; overhead "
          f"{(wall * lanes - audio) / max(len(takes), 1) * 1000:.0f} ms per take; "
          f"start-up {total - wall:.1f} s; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--takes", type=int, default=8, help="takes per lane")
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4], choices=[1, 2, 4])
    parser.add_argument("--hold", type=float, default=2.0)
    parser.add_argument("--release", type=float, default=0.5)
    parser.add_argument("--command-delay-ms", type=float, default=100.0)
    args = parser.parse_args()
    with private_sink(channels=4) as sink, tempfile.TemporaryDirectory() as tmp:
        for lanes in args.lanes:
            run(lanes, args, sink, Path(tmp))


if __name__ == "__main__":
    main()
