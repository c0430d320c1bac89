"""Calibration: latency through real devices, drift against rendered reference takes.

Latency is measured the way a lab rig is: ``jxdaq emulator serve`` as its own process behind
a pty (driven with :class:`SerialVoiceBoard` through pyserial), its audio played into a
PulseAudio null sink and recorded back from that sink's monitor with :class:`DeviceInput`.
The sink is this module's own (loaded for the tests, unloaded after), so other device tests
playing into the shared ``jxdaq_null`` at the same time cannot be heard here, nor we there.
The emulator answers a fixed delay after each command, as a real board does, so the
measured latency is that delay plus the audio path. Without PulseAudio these tests FAIL
(never skip).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from device_support import FS, PULSE, READY_TIMEOUT_S, SETUP_HINT, Process

from daq.audio.device_input import DeviceInput
from daq.calibration import (
    CALIBRATION_TONE,
    REFERENCE_TONE,
    CalibrationError,
    DriftMonitor,
    measure_latency,
    reference_capture_spec,
)
from daq.capture import RawTake, RealtimeCapture, RenderedCapture
from daq.instruments.serial_board import SerialVoiceBoard
from daq.qc import onset_frame
from daq.spec import CaptureSpec, Note, TailSpec
from db.engine import open_catalog
from db.registry import LATENCY

#: The served emulator plays each command this long after it arrives, to the sample, as a
#: real board answers after a fixed processing time (see daq.emulator.timing). Its output keeps
#: OUTPUT_LATENCY_MS queued, which rides out a loaded 2-core machine without underruns; the
#: callbacks then run up to ~30 ms further ahead of their samples, which the delay exceeds
#: (measured: 80 ms of buffer ran them 53-110 ms ahead, and 100 ms of delay left commands late).
COMMAND_DELAY_MS = 250.0
OUTPUT_LATENCY_MS = 150.0
#: Kept: at load 4-12 the PulseAudio path between the emulator and the monitor still shifts
#: by 2-120 ms at times, unseen by both stream clocks (measured for the lanes tests); one such
#: shift made one latency attempt 22 ms off here. A rerun is what the machine needs.
REAL_TIME = pytest.mark.flaky(reruns=2, reruns_delay=2)


@pytest.fixture(scope="module")
def sink() -> Iterator[str]:
    """A null sink of this module's own; its monitor is what the rig 'records'."""
    name = f"jxdaq_cal_{os.getpid()}"
    try:
        loaded = subprocess.run(
            ["pactl", "load-module", "module-null-sink", f"sink_name={name}", f"rate={FS}"],
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as error:
        pytest.fail(f"cannot load a PulseAudio null sink ({error}): {SETUP_HINT}")
    yield name
    subprocess.run(["pactl", "unload-module", loaded.stdout.strip()], timeout=10, check=False)


@pytest.fixture(scope="module")
def emulator(sink: str) -> Iterator[str]:
    """``jxdaq emulator serve`` on a pty, playing into ``sink``; yields the pty's path."""
    server = Process(
        [sys.executable, "-m", "jxdaq", "emulator", "serve", "--serial", "pty",
         "--audio-device", PULSE, "--sample-rate", str(FS),
         "--command-delay-ms", str(COMMAND_DELAY_MS),
         "--output-latency-ms", str(OUTPUT_LATENCY_MS)],
        env={"PULSE_SINK": sink},
    )  # fmt: skip
    try:
        line = server.wait_for_line(lambda x: x.startswith("serial: "), READY_TIMEOUT_S, "pty")
        server.wait_for_line(lambda x: x == "ready", READY_TIMEOUT_S, "the emulator's 'ready'")
        yield line.partition(": ")[2]
    finally:
        server.stop()


@pytest.fixture
def audio(sink: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[DeviceInput]:
    """The sink's monitor through PortAudio, as a rig's audio interface."""
    monkeypatch.setenv("PULSE_SOURCE", f"{sink}.monitor")  # read when the stream connects
    with DeviceInput(PULSE, FS, channels=1, buffer_s=30.0) as device:
        yield device


@pytest.fixture
def board(emulator: str) -> Iterator[SerialVoiceBoard]:
    instrument = SerialVoiceBoard(emulator, name="bench-a")
    instrument.open()
    yield instrument
    instrument.close()


def test_latency_through_pty_and_pulseaudio_is_positive_plausible_and_repeatable(board, audio):
    first = measure_latency(board, audio, sample_rate=FS, attempts=3)
    second = measure_latency(board, audio, sample_rate=FS, attempts=3)
    for result in (first, second):
        assert result.attempts == 3
        assert COMMAND_DELAY_MS / 2000 < result.latency_s < 0.5, result
        assert result.jitter_s < 0.02, result  # one late attempt at most (a loaded CPU)
    assert abs(first.latency_s - second.latency_s) < 0.005, (first, second)


@REAL_TIME
def test_compensating_the_measured_latency_puts_each_onset_on_its_note_on(board, audio):
    """Uncompensated, onsets come ~60 ms late; compensated, they land on the note-on: within
    about 1 ms mostly, but the input's and the emulator's stream clocks wander against each
    other by a few ms over seconds, and a loaded CPU makes the odd command late."""
    result = measure_latency(board, audio, sample_rate=FS)
    spec = CaptureSpec(
        sample_rate=FS, pre_roll_s=0.2, hold_s=0.3, tail=TailSpec(max_s=0.2), notes=[Note(key=69)]
    )
    capture = RealtimeCapture(board, audio, latency_s=result.latency_s)
    onsets = []
    for _ in range(5):
        take = capture.capture(CALIBRATION_TONE, spec)
        first = onset_frame(take.audio, 0, float(np.abs(take.audio).max()) * 1e-3)
        assert first is not None
        onsets.append((first - take.note_on_frame) / FS)
    assert abs(float(np.median(onsets))) < 0.005, onsets
    assert max(abs(onset) for onset in onsets) < 0.020, onsets


def test_no_sound_back_is_an_error_naming_the_instrument_and_the_audio_device(audio):
    # pyserial's loopback: a real port whose bytes reach no synth, so nothing is heard.
    silent = SerialVoiceBoard("loop://", name="bench-b", paced=False)
    silent.open()
    with pytest.raises(CalibrationError) as error:
        measure_latency(silent, audio, sample_rate=FS, attempts=1)
    assert "bench-b" in str(error.value) and repr(PULSE) in str(error.value)


@REAL_TIME
def test_sound_already_playing_is_not_taken_for_the_onset(board, audio):
    board.program(CALIBRATION_TONE)
    board.note_on(60, 100)  # another source holding a note into the same input
    try:
        silent = SerialVoiceBoard("loop://", name="bench-b", paced=False)
        silent.open()
        with pytest.raises(CalibrationError, match="sound was already there before note 69"):
            measure_latency(silent, audio, sample_rate=FS, attempts=1)
    finally:
        board.all_notes_off()


def test_a_mismatched_sample_rate_is_refused(audio):
    with pytest.raises(ValueError, match="44100 Hz"):
        measure_latency(SerialVoiceBoard("loop://"), audio, sample_rate=44100)


@REAL_TIME
def test_jxdaq_rig_calibrate_measures_through_the_rigs_devices_and_stores_the_latency(
    sink, emulator, tmp_path
):
    rigs = tmp_path / "rigs.toml"
    rigs.write_text(
        f'[rigs.bench-c]\ninstrument = "serial"\nport = "{emulator}"\n'
        f'audio_device = "{PULSE}"\nsample_rate = {FS}\n'
    )
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    env = {
        **os.environ,
        "JXDAQ_CATALOG_URL": url,
        "JXDAQ_VAR_DIR": str(tmp_path),
        "PULSE_SOURCE": f"{sink}.monitor",
    }

    def rig(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jxdaq", "rig", *args, "--rigs-file", str(rigs)],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip

    done = rig("calibrate", "bench-c", "--attempts", "3")
    assert done.returncode == 0, done.stderr
    catalog = open_catalog(url)
    try:
        (stored,) = catalog.list_calibrations("bench-c", LATENCY)
        assert COMMAND_DELAY_MS / 2000 < stored.value < 0.5
        assert stored.result["attempts"] == 3 and stored.result["sample_rate"] == FS
        assert catalog.get_rig("bench-c").latency_s == stored.value  # the compensation
    finally:
        catalog.close()
    assert f"latency {stored.value * 1000:.1f} ms" in done.stdout
    rigs.write_text(rigs.read_text().replace(f'"{PULSE}"', '"no-such-device"'))
    failed = rig("calibrate", "bench-c")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.startswith("error: cannot open audio input 'no-such-device'")


# -- drift ------------------------------------------------------------------------------
def reference_takes(*tones, rate: int = 44100, seed: int = 3) -> list[RawTake]:
    capture = RenderedCapture(reference_capture_spec(rate))
    return capture.capture_many(list(tones), [seed + i for i in range(len(tones))])


def test_the_same_reference_tone_does_not_drift_even_at_another_level_or_with_noise():
    base, again = reference_takes(REFERENCE_TONE, REFERENCE_TONE)
    monitor = DriftMonitor(every_takes=100, every_s=600.0, threshold=3.0)
    first = monitor.check(base)
    assert first.distance == 0.0 and not first.exceeded
    assert monitor.check(again).distance < 0.1
    noisy = again.audio * 0.4 + np.random.default_rng(1).normal(0, 1e-4, again.audio.shape)
    result = monitor.check(
        RawTake(noisy.astype(np.float32), again.sample_rate, again.note_on_frame)
    )
    assert result.distance < 0.5 and not result.exceeded


@pytest.mark.parametrize(
    "change",
    [{"vcf_freq": 66}, {"vcf_freq": 75}, {"vcf_res": 100}, {"dco1_tune": 70}, {"dco2_ftune": 66}],
    ids=lambda change: ",".join(f"{k}={v}" for k, v in change.items()),
)
def test_a_filter_or_tuning_change_exceeds_the_threshold(change):
    base, drifted = reference_takes(REFERENCE_TONE, REFERENCE_TONE.replace(**change))
    monitor = DriftMonitor(every_takes=100, every_s=600.0, threshold=3.0)
    assert monitor.check(base).distance == 0.0  # the first check sets the baseline
    result = monitor.check(drifted)
    assert result.exceeded and result.distance > 3.0


def test_a_persisted_baseline_is_used_and_works_across_sample_rates():
    (at_44k,) = reference_takes(REFERENCE_TONE, rate=44100)
    (at_48k,) = reference_takes(REFERENCE_TONE, rate=48000)
    first = DriftMonitor(10, 60.0, 3.0)
    first.check(at_44k)
    restored = DriftMonitor(10, 60.0, 3.0, baseline=first.baseline.copy())
    assert restored.check(at_48k).distance < 0.2
    (detuned,) = reference_takes(REFERENCE_TONE.replace(vcf_freq=60), rate=48000)
    assert restored.check(detuned).exceeded


def test_a_silent_or_too_short_reference_take_is_an_error():
    monitor = DriftMonitor(10, 60.0, 3.0)
    with pytest.raises(CalibrationError, match="held part"):
        monitor.check(RawTake(np.full((4410, 1), 0.1, np.float32), 44100, 0))
    with pytest.raises(CalibrationError):
        monitor.check(RawTake(np.zeros((44100, 1), np.float32), 44100, 0))


def test_due_every_n_takes_or_m_seconds_whichever_first():
    monitor = DriftMonitor(every_takes=5, every_s=60.0, threshold=3.0)
    assert monitor.due(0, 0.0)  # no baseline yet: check at once
    assert monitor.due(1, 1.0)  # ... and keep asking until a check sets one
    (base,) = reference_takes(REFERENCE_TONE)
    monitor.check(base)
    assert not monitor.due(4, 10.0)
    assert monitor.due(6, 10.0)  # 5 takes since the last check
    assert not monitor.due(10, 69.0)
    assert monitor.due(10, 71.0)  # 60 s since the last check
    assert not monitor.due(14, 100.0)
    assert monitor.due(15, 100.0)


def test_with_a_baseline_the_schedule_starts_at_the_first_call():
    (base,) = reference_takes(REFERENCE_TONE)
    seeded = DriftMonitor(3, 30.0, 3.0)
    seeded.check(base)
    monitor = DriftMonitor(3, 30.0, 3.0, baseline=seeded.baseline)
    assert not monitor.due(100, 1000.0)
    assert not monitor.due(102, 1029.0)
    assert monitor.due(103, 1029.0)


def test_bad_schedules_are_refused():
    for args in ((0, 60.0, 3.0), (5, 0.0, 3.0), (5, 60.0, 0.0)):
        with pytest.raises(ValueError, match="drift monitor"):
            DriftMonitor(*args)
