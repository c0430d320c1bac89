"""Real processes and devices for tests: ``jxdaq emulator serve`` and ``jxdaq worker`` as
processes of their own, PulseAudio's null sink and JACK's dummy backend.

The services come from scripts/test-services.sh; without them device tests FAIL (never
skip), so CI cannot go green without them.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

FS = 48000
PULSE = "pulse"  # PortAudio's ALSA device that reaches PulseAudio (libasound2-plugins)
JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
#: The server compiles the voice kernels before "ready": up to a minute on a cold cache.
READY_TIMEOUT_S = 90.0
SETUP_HINT = "start the services with: bash scripts/test-services.sh"
JACK_ENV = {"JACK_NO_START_SERVER": "1"}


def same_port(listed: str, announced: str) -> bool:
    """Whether a JACK MIDI port as a client lists it is the one announced: JACK renames a
    client whose name is taken (``jxdaq-emulator-01`` while another emulator runs), so
    only the port part is compared."""
    return listed.partition(":")[2] == announced.partition(":")[2]


def require_services(jack: bool = False) -> None:
    """Fail with what is missing and how to start it."""
    import sounddevice as sd

    names = [device["name"] for device in sd.query_devices()]
    if PULSE not in names:
        pytest.fail(f"PortAudio has no {PULSE!r} device (PulseAudio not running?): {SETUP_HINT}")
    if jack:
        jack_period_s()


def jack_period_s() -> float:
    """One JACK cycle: JACK MIDI delivers a message at the start of the cycle after it."""
    env = {**os.environ, **JACK_ENV}
    try:
        size = subprocess.run(["jack_bufsize"], env=env, capture_output=True, text=True,
                              timeout=10, check=True).stdout  # fmt: skip
        rate = subprocess.run(["jack_samplerate"], env=env, capture_output=True, text=True,
                              timeout=10, check=True).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError) as error:
        pytest.fail(f"no JACK server answers ({error}): {SETUP_HINT}")
    return int(size.split()[0]) / int(rate.split()[0])


@contextmanager
def private_sink() -> Iterator[str]:
    """A PulseAudio null sink of the caller's own, unloaded afterwards.

    Device tests of other modules may play into the shared ``jxdaq_null`` at the same time;
    a test that times onsets to the millisecond must not hear them. Play into it with
    ``PULSE_SINK`` and record its monitor with ``PULSE_SOURCE`` (read when a stream
    connects) in the environment.
    """
    with _null_sink("jxdaq_test") as name:
        yield name


#: The layout ALSA's pulse plugin gives a 4-channel stream; a sink with the same makes
#: PulseAudio map channel to channel and mix nothing across (as jxdaq_quad in
#: scripts/test-services.sh).
QUAD_CHANNEL_MAP = "front-left,front-right,rear-left,rear-right"


@contextmanager
def quad_sink() -> Iterator[str]:
    """Like :func:`private_sink`, with 4 float32 channels at FS: what is played into it comes
    back from its monitor channel for channel and sample for sample (no resampling, no
    remixing, no quantization), for lanes on one 4-channel stream."""
    options = ("channels=4", f"channel_map={QUAD_CHANNEL_MAP}", "format=float32le")
    with _null_sink("jxdaq_quad", *options) as name:
        yield name


@contextmanager
def _null_sink(prefix: str, *options: str) -> Iterator[str]:
    """A null sink at FS named ``prefix`` and a unique tail, with module ``options``."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        loaded = subprocess.run(
            ["pactl", "load-module", "module-null-sink", f"sink_name={name}", f"rate={FS}",
             *options],
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as error:
        pytest.fail(f"cannot load a PulseAudio null sink ({error}): {SETUP_HINT}")
    try:
        yield name
    finally:
        subprocess.run(["pactl", "unload-module", loaded.stdout.strip()], timeout=10, check=False)


class Process:
    """A child process whose output lines are collected as they come."""

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.command = list(command)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **JACK_ENV, **(env or {})},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, match: Callable[[str], bool], timeout: float, what: str) -> str:
        """The first (new) output line that ``match``es; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.output.append(line)
            if match(line):
                return line
        self.stop()
        pytest.fail(
            f"{what}: not seen within {timeout:.0f} s (exit code {self.process.returncode}); "
            f"output of {' '.join(self.command[2:])}:\n" + "\n".join(self.output[-60:])
        )

    def drain(self) -> list[str]:
        while True:
            try:
                self.output.append(self.lines.get_nowait())
            except queue.Empty:
                return self.output

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class EmulatorServer(Process):
    """``jxdaq emulator serve``: a pty and/or a JACK MIDI port, audio into PulseAudio.

    Commands play ``command_delay_ms`` after they arrive, to the sample: a fixed latency like
    a real board's, instead of the output callbacks' jitter (see daq.emulator.timing).
    """

    def __init__(self, midi_port: str | None = None, serial: bool = True,
                 audio_device: str = PULSE, command_delay_ms: float = 100.0,
                 sink: str | None = None, outputs: tuple[str, ...] = ()) -> None:  # fmt: skip
        command = [
            sys.executable, "-m", "jxdaq", "emulator", "serve",
            "--serial", "pty" if serial else "none", "--audio-device", audio_device,
            "--sample-rate", str(FS), "--command-delay-ms", str(command_delay_ms), *outputs,
        ]  # fmt: skip
        if midi_port is not None:
            command += ["--midi-in", midi_port, "--midi-backend", JACK_BACKEND]
        super().__init__(command, env=None if sink is None else {"PULSE_SINK": sink})
        self.announced: dict[str, str] = {}
        self.wait_for_line(self._announce, READY_TIMEOUT_S, "the emulator's 'ready'")

    def _announce(self, line: str) -> bool:
        key, _, value = line.partition(": ")
        self.announced[key] = value
        return line == "ready"

    @property
    def pty(self) -> str:
        return self.announced["serial"]

    def mute(self, muted: bool = True) -> None:
        """Silence what this emulator plays (or let it sound again), as a pulled cable would:
        its PulseAudio stream is muted and the process runs on. (Stopping the process instead
        would stall the JACK server too: PortAudio makes every process a JACK client, and the
        server waits on a client that no longer reads its notifications.)"""
        listed = subprocess.run(["pactl", "-f", "json", "list", "sink-inputs"],
                                capture_output=True, text=True, timeout=10, check=True)  # fmt: skip
        pid = str(self.process.pid)
        streams = [stream["index"] for stream in json.loads(listed.stdout)
                   if stream["properties"].get("application.process.id") == pid]  # fmt: skip
        assert streams, f"the emulator (pid {pid}) plays no PulseAudio stream"
        for index in streams:
            subprocess.run(["pactl", "set-sink-input-mute", str(index), "1" if muted else "0"],
                           timeout=10, check=True)  # fmt: skip

    def underruns(self) -> int | None:
        """Audio under/overflows the stopped server reported: when the machine is too busy
        for the emulator to keep real time, its output (and so every timing) slips."""
        self.stop()
        self._reader.join(timeout=10)  # the output to its end
        for line in self.drain():
            if line.startswith("stopped:") and "audio under/overflows" in line:
                return int(line.rsplit(",", 1)[1].split()[0])
        return None


def interrupt(process: subprocess.Popen, timeout_s: float = 30) -> None:
    """Stop a ``jxdaq`` process as Ctrl-C would (a server shuts down cleanly on SIGINT); kill
    it if it has not exited within ``timeout_s``."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def worker_env(catalog_url: str, var_dir: Path) -> dict[str, str]:
    """Environment for a ``jxdaq`` process on the test's catalog and store."""
    return {
        "JXDAQ_CATALOG_URL": catalog_url,
        "JXDAQ_STORE_URL": str(var_dir / "audio"),
        "JXDAQ_VAR_DIR": str(var_dir),
    }


class WorkerProcess(Process):
    """``jxdaq worker --rig NAME ...`` logging logfmt lines at debug level."""

    def __init__(
        self, rig: str, catalog_url: str, var_dir: Path, *args: str, sink: str | None = None
    ) -> None:
        command = [sys.executable, "-m", "jxdaq", "worker", "--rig", rig,
                   "--log-level", "debug", *args]  # fmt: skip
        env = worker_env(catalog_url, var_dir)
        if sink is not None:
            env["PULSE_SOURCE"] = f"{sink}.monitor"
        super().__init__(command, env=env)

    def wait_for_event(self, event: str, timeout: float = 60.0) -> str:
        return self.wait_for_line(lambda line: f"event={event} " in line + " ", timeout, event)

    def terminate_and_wait(self, timeout: float = 30.0) -> int:
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.drain()


#: Short emulated takes of tones from the preset prior (each its own audio, a few kB to
#: about 40 kB of FLAC): many of them per second.
PRIOR_SPEC = {
    "source": {"kind": "prior"},
    "seed": 5,
    "capture": {"hold_s": 0.3, "tail": {"max_s": 0.2}},
}


def prior(count: int):
    """A job of ``count`` short takes on the emulated rig (a :class:`daq.spec.JobSpec`)."""
    from daq.spec import JobSpec

    return JobSpec.model_validate({**PRIOR_SPEC, "count": count})


def wait_until(condition: Callable[[], object], what: str, timeout: float = 120.0) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)
