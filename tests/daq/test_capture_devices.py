"""Real-time rigs end to end through real devices: the standalone emulator as its own process
(a pty for the voice-board serial line, a JACK MIDI port for the whole synth), its audio
recorded back from PulseAudio's null sink through sounddevice, a worker capturing a job.

The worker measures the rig's latency (nothing tells it the emulator's command delay or
PulseAudio's buffering), records it as a calibration, and compensates it: every stored
take's onset must sit on its note-on, 2 ms either way.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from device_support import (
    FS,
    JACK_BACKEND,
    PULSE,
    EmulatorServer,
    WorkerProcess,
    jack_period_s,
    require_services,
    same_port,
)

from daq.calibration import CALIBRATION_TONE
from daq.jobs import submit_job
from daq.qc import QcThresholds, assess
from daq.rigs import RigDefinition, open_rig
from daq.spec import JobSpec
from daq.worker import FaultPolicy, Worker
from db.records import TakeFilter
from db.schema import JobState, QcVerdict, SampleState

# Real-time device tests share a 2-core machine with everything else: a scheduler stall makes
# PulseAudio/JACK underrun and shifts a take by milliseconds, which is the machine, not a bug.
# Such a test gets two more tries; a real fault fails all three.
# A rerun allowance, not a fix: on a 2-core machine the PulseAudio path still shifts a take by
# 2-50 ms at times, unseen by both stream clocks (see the README, Development).
pytestmark = [pytest.mark.devices, pytest.mark.flaky(reruns=2, reruns_delay=2)]
PRE_ROLL_S = 0.1
DEFAULT_QC = QcThresholds()


def sweep_job(count: int, hold_s: float = 0.4) -> JobSpec:
    """The filter swept over ``count`` takes of an instant-attack tone, A4 at full velocity."""
    return JobSpec.model_validate(
        {
            "source": {"kind": "sweep", "parameter": "VCF FREQ", "start": 60, "stop": 127,
                       "steps": count},
            "capture": {"sample_rate": FS, "pre_roll_s": PRE_ROLL_S, "hold_s": hold_s,
                        "tail": {"max_s": 0.3}, "notes": {"key": 69, "velocity": 127}},
        }
    )  # fmt: skip


def onset_errors_ms(catalog, store, job_id: int, qc: QcThresholds = DEFAULT_QC) -> dict[int, float]:
    """Each stored take's onset (QC's rule, from the stored FLAC) minus its note-on, in ms."""
    errors = {}
    for take in catalog.query_takes(TakeFilter(job_id=job_id), limit=1000).items:
        audio, rate = store.read(take.audio.key)
        note_on = round(PRE_ROLL_S * rate)
        report = assess(audio.reshape(audio.shape[0], -1), rate, note_on, qc)
        assert report.onset_s is not None, f"take {take.sample_index}: no onset found"
        errors[take.sample_index] = report.onset_s * 1000
    return errors


def run_job(
    catalog, store, rig: RigDefinition, spec: JobSpec, qc: QcThresholds | None = None
) -> int:
    job = submit_job(catalog, spec)
    faults = FaultPolicy(backoff_s=0.2, backoff_max_s=1.0)
    Worker(catalog, store, rig, faults=faults, qc=qc).run(job_id=job.id)
    assert catalog.get_job(job.id).state == JobState.COMPLETED
    return job.id


def check_job(
    catalog,
    store,
    job_id: int,
    server: EmulatorServer,
    tolerance_ms: float,
    qc: QcThresholds = DEFAULT_QC,
) -> None:
    """Every sample captured, every onset within ``tolerance_ms`` of its note-on."""
    underruns = server.underruns()
    busy = f"(the emulator reported {underruns} audio underruns)" if underruns else ""
    failed = [(s.index, s.last_error) for s in catalog.list_samples(job_id, SampleState.FAILED)]
    assert not failed, f"{failed} {busy}"
    errors = onset_errors_ms(catalog, store, job_id, qc)
    assert len(errors) == catalog.get_job(job_id).count
    assert all(abs(e) <= tolerance_ms for e in errors.values()), f"{errors} {busy}"


def assert_latency_calibrated(catalog, rig: str) -> float:
    (calibration,) = catalog.list_calibrations(rig, "latency")
    # about the emulator's 100 ms command delay (give or take PulseAudio's own timing
    # estimates), measured, not told
    assert 0.05 <= calibration.value <= 0.3
    assert catalog.get_rig(rig).latency_s == pytest.approx(calibration.value)
    return calibration.value


def test_serial_rig_over_a_pty_captures_a_job_with_its_latency_compensated(sink, services):
    catalog, store = services
    server = EmulatorServer(sink=sink)
    try:
        rig = RigDefinition(name="board-pty", instrument="serial", port=server.pty,
                            audio_device=PULSE, sample_rate=FS)  # fmt: skip
        job_id = run_job(catalog, store, rig, sweep_job(8))
        latency = assert_latency_calibrated(catalog, rig.name)
        # A second run uses the stored latency rather than measuring again.
        run_job(catalog, store, rig, sweep_job(2))
        assert [c.value for c in catalog.list_calibrations(rig.name, "latency")] == [latency]
    finally:
        server.stop()
    check_job(catalog, store, job_id, server, tolerance_ms=2.0)


def test_the_first_take_after_the_input_opens_sits_on_its_note_on(sink):
    """PortAudio's PulseAudio stream clock is off by up to hundreds of milliseconds for the
    first moments after a stream opens; a take stamped on it then would be cut in the wrong
    place. Opening waits until the clock is steady, so a take right after it is on time."""
    server = EmulatorServer(sink=sink)
    spec = sweep_job(2).capture
    try:
        rig = RigDefinition(name="board-warm", instrument="serial", port=server.pty,
                            audio_device=PULSE, sample_rate=FS)  # fmt: skip
        device = open_rig(rig)
        device.open()
        try:
            device.calibration.measure_latency("test")
        finally:
            device.close()
        device.open()  # a new stream, as after a fault or a new job's format
        try:
            take = device.capture_one(CALIBRATION_TONE, spec)
        finally:
            device.close()
    finally:
        server.stop()
    report = assess(take.audio, take.sample_rate, take.note_on_frame, DEFAULT_QC)
    assert report.onset_s is not None, report.reasons
    assert abs(report.onset_s) <= 0.002, f"onset {report.onset_s * 1000:.1f} ms off"


def test_midi_rig_through_jack_captures_a_job_with_its_latency_compensated(sink, services):
    """JACK MIDI delivers a message at the start of the cycle after it was sent (rtmidi
    writes every queued event at frame 0), so a note lands up to one cycle late. The test
    services run JACK's dummy backend with a 64-frame cycle (1.3 ms at 48 kHz); latency
    calibration takes out the mean, and every onset must sit within 2 ms of its note-on.
    QC's guard before the note-on covers the cycle too (an onset a cycle early is not bleed)."""
    import mido

    require_services(jack=True)
    catalog, store = services
    cycle_ms = jack_period_s() * 1000
    assert cycle_ms <= 1.5, (
        f"jackd runs a {cycle_ms:.1f} ms cycle; the 2 ms onset check needs 64 frames at 48 kHz "
        "(scripts/test-services.sh sets it: jack_bufsize 64)"
    )
    server = EmulatorServer(sink=sink, midi_port=f"jxdaq-rt-{os.getpid()}", serial=False)
    try:
        announced = server.announced["midi-in"]
        names = [n for n in mido.Backend(JACK_BACKEND, load=True).get_output_names()
                 if same_port(n, announced)]  # fmt: skip
        assert names, f"no JACK MIDI port {announced!r}"
        rig = RigDefinition(name="jx10-jack", instrument="midi", port=names[0],
                            midi_backend=JACK_BACKEND, audio_device=PULSE,
                            sample_rate=FS)  # fmt: skip
        guard = QcThresholds(pre_roll_guard_s=jack_period_s() + 0.005)
        job_id = run_job(catalog, store, rig, sweep_job(8), qc=guard)
        assert_latency_calibrated(catalog, rig.name)
    finally:
        server.stop()
    check_job(catalog, store, job_id, server, tolerance_ms=2.0, qc=guard)


def test_a_latency_request_remeasures_and_later_takes_use_it(sink, services):
    """The rig's stored latency is wrong (its interface changed, say); an operator asks for
    a calibration (``POST /rigs/{rig}/calibrate`` logs a ``rig.calibrate`` event): the
    worker measures between batches, and the takes after that sit on their note-ons."""
    catalog, store = services
    server = EmulatorServer(sink=sink)
    rig = RigDefinition(name="board-recal", instrument="serial", port=server.pty,
                        audio_device=PULSE, sample_rate=FS)  # fmt: skip
    catalog.upsert_rig(rig.name, rig.transport)
    catalog.record_calibration(rig.name, "latency", {"latency_s": 0.02}, value=0.02)
    job = submit_job(catalog, sweep_job(24, hold_s=0.2))
    worker = Worker(catalog, store, rig, batch=4)
    thread = threading.Thread(target=worker.run, kwargs={"job_id": job.id}, daemon=True)
    thread.start()
    try:
        while catalog.job_progress(job.id).captured + catalog.job_progress(job.id).failed < 1:
            thread.join(timeout=0.1)
        catalog.log_event("rig.calibrate", "requested", rig=rig.name,
                          data={"kinds": ["latency"], "requested_by": "test"})  # fmt: skip
        thread.join(timeout=120)
    finally:
        worker.stop.set()
        thread.join(timeout=30)
        server.stop()
    newest, wrong = catalog.list_calibrations(rig.name, "latency")
    assert wrong.value == 0.02 and 0.05 <= newest.value <= 0.3
    assert catalog.get_rig(rig.name).latency_s == pytest.approx(newest.value)
    recorded_after = {t.sample_index for t in catalog.query_takes(TakeFilter(job_id=job.id),
                      limit=100).items if t.recorded_at > newest.created_at}  # fmt: skip
    errors = onset_errors_ms(catalog, store, job.id)
    late = [errors[i] for i in sorted(recorded_after)][4:]  # past the batch in flight
    assert late and all(abs(e) <= 2.0 for e in late), errors


def test_takes_longer_than_the_lease_keep_their_claims(sink, services):
    """The worker extends the leases of the claims in hand while it plays; meanwhile the
    queue keeps returning expired leases (as every worker does), so a claim left to expire
    would be captured twice."""
    catalog, store = services
    server = EmulatorServer(sink=sink)
    rig = RigDefinition(name="board-lease", instrument="serial", port=server.pty,
                        audio_device=PULSE, sample_rate=FS, latency_s=0.1)  # fmt: skip
    job = submit_job(catalog, sweep_job(3, hold_s=2.0))
    worker = Worker(catalog, store, rig, lease_s=1.5)
    thread = threading.Thread(target=worker.run, kwargs={"job_id": job.id}, daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            catalog.requeue_expired()
            thread.join(timeout=0.2)
    finally:
        worker.stop.set()
        thread.join(timeout=30)
        server.stop()
    assert catalog.get_job(job.id).captured == 3
    assert [s.attempts for s in catalog.list_samples(job.id)] == [1, 1, 1]
    # The override is the one latency: the takes were cut with it, the catalog shows it.
    assert worker.rig.latency == catalog.get_rig(rig.name).latency_s == 0.1


def test_sigterm_stores_the_take_in_hand_and_exits_0(sink, services, tmp_path):
    catalog, _store = services
    server = EmulatorServer(sink=sink)
    rigs_file = tmp_path / "rigs.toml"
    rigs_file.write_text(
        f'[rigs.board-term]\ninstrument = "serial"\nport = "{server.pty}"\n'
        f'audio_device = "{PULSE}"\nsample_rate = {FS}\nlatency_s = 0.1\n'
    )
    job = submit_job(catalog, sweep_job(40, hold_s=0.6))
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    worker = WorkerProcess("board-term", url, tmp_path, "--rigs-file", str(rigs_file), sink=sink)
    try:
        worker.wait_for_event("take", timeout=120)
        submitted = sum("event=take " in line for line in worker.output)
        sent = time.monotonic()
        worker.signal(signal.SIGTERM)
        assert worker.process.wait(timeout=30) == 0, "\n".join(worker.drain())
        took = time.monotonic() - sent
    finally:
        worker.stop()
        server.stop()
    log = "\n".join(worker.drain())
    assert "event=worker.stopping" in log and "signal=SIGTERM" in log
    assert took < 5.0, f"{took:.1f} s to stop: more than the take in hand"
    takes = catalog.query_takes(TakeFilter(job_id=job.id), limit=1000).items
    assert len(takes) == catalog.job_progress(job.id).captured
    assert len(takes) >= submitted + 1  # the take being played when the signal came
    assert all(t.qc_verdict != QcVerdict.FAIL for t in takes)
    assert not catalog.list_samples(job.id, SampleState.CLAIMED)
