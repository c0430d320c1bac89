"""An OS4 MIDI rig end to end through JACK: the standalone emulator as its own process, a
filtering MIDI hop between the rig and it, a worker capturing a job of 200 takes programmed
by per-parameter IPR with a read-back every 10 takes.

The hop forwards every message between two real JACK ports (rtmidi, polled from a thread)
and counts the edit-buffer requests; told to, it drops one chosen IPR in transit, as a
loose cable or a busy MIDI merger would: the read-back after it must catch the difference,
and none of the takes since the read-back before must be stored from the bad tone.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from catalog_support import all_takes
from device_support import PULSE, EmulatorServer, jack_period_s, require_services, same_port

from daq.jobs import submit_job
from daq.qc import QcThresholds
from daq.rigs import RigConfigError, RigDefinition, load_rigs, open_rig
from daq.spec import JobSpec
from daq.worker import FaultPolicy, Worker
from db.schema import JobState, SampleState
from firmware_protocol.parameters import OS4_BY_NAME
from firmware_protocol.sysex import IPR, EditBufferRequest, Firmware, decode_message

FS = 48000
TAKES = 200
EVERY = 10
#: The sample whose tone changes VCF RES (and every later one keeps it): the hop drops
#: that one IPR.
CHANGED_AT = 25
#: The dropped-IPR job: long enough for the read-backs after the change (at 30 and 40).
DROP_TAKES = 45
READBACK = EditBufferRequest(0).encode()


def rigs_from(tmp_path, text: str) -> dict[str, RigDefinition]:
    path = tmp_path / "rigs.toml"
    path.write_text(text)
    return load_rigs(path)


def test_the_rigs_file_says_the_firmware_the_answers_port_and_the_interval(tmp_path):
    text = ('[rigs.m]\ninstrument = "midi"\nport = "out"\nfirmware = "os4"\n'
            'midi_input = "in"\ntone_message = "ipr"\nreadback_every = 5\n')  # fmt: skip
    rig = rigs_from(tmp_path, text)["m"]
    assert (rig.firmware, rig.lane(0).midi_input, rig.readback_every) == ("os4", "in", 5)
    assert "every 5 takes" in open_rig(rig).verification
    plain = rigs_from(tmp_path, '[rigs.m]\ninstrument = "midi"\nport = "out"\n')["m"]
    assert (plain.firmware, plain.readback_every) == ("stock", 10)
    assert open_rig(plain).verification.startswith("cannot verify")
    no_input = plain.model_copy(update={"firmware": "os4"})
    assert "no midi_input" in open_rig(no_input).verification
    serial = rigs_from(tmp_path, '[rigs.s]\ninstrument = "serial"\nport = "loop://"\n')["s"]
    assert "voice board" in open_rig(serial).verification


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ('firmware = "os4"\nmidi_device = "jx8p"', "JX-10/MKS-70 only"),
        ('firmware = "os3"', "firmware"),
        ("readback_every = 0", "readback_every"),
    ],
)
def test_bad_midi_settings_are_refused_naming_the_rig(tmp_path, setting, error):
    with pytest.raises(RigConfigError, match=r"\[rigs\.m\]") as refused:
        rigs_from(tmp_path, f'[rigs.m]\ninstrument = "midi"\nport = "out"\n{setting}\n')
    assert error in str(refused.value)


class Hop:
    """Forwards MIDI from a virtual input (the rig's output port) to ``target``; drops the
    first message ``drop`` accepts, and counts edit-buffer requests."""

    def __init__(self, target: str, drop: Callable[[bytes], bool] | None = None) -> None:
        import rtmidi

        self.drop = drop
        self.dropped: bytes | None = None
        self.requests = 0
        self.name = f"hop-{os.getpid()}-{time.monotonic_ns()}"
        self._out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "jxdaq-hop-out")
        names = self._out.get_ports()
        self._out.open_port(names.index(target))
        self._in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "jxdaq-hop", 4096)
        self._in.ignore_types(sysex=False)
        self._in.open_virtual_port(self.name)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._in.get_message()
            if message is None:
                time.sleep(0.0002)
                continue
            wire = bytes(message[0])
            self.requests += wire == READBACK
            if self.dropped is None and self.drop is not None and self.drop(wire):
                self.dropped = wire
                continue
            self._out.send_message(wire)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for port in (self._in, self._out):
            port.close_port()
            port.delete()


def res_ipr(value: int) -> Callable[[bytes], bool]:
    """Accepts the OS4 IPR that sets VCF RES to ``value``."""
    number = OS4_BY_NAME["VCF RES"].ipr

    def accepts(wire: bytes) -> bool:
        if wire[:3] != bytes((0xF0, 0x41, 0x39)):
            return False
        message = decode_message(wire)[0]
        assert isinstance(message, IPR) and message.firmware is Firmware.OS4
        return (message.parameter, message.value) == (number, value)

    return accepts


def job(takes: int) -> JobSpec:
    """VCF FREQ changes every take; VCF RES once, at sample CHANGED_AT, and then stays."""
    tones = [{"VCF FREQ": 70 + i % 50, "VCF RES": 0 if i < CHANGED_AT else 100}
             for i in range(takes)]  # fmt: skip
    return JobSpec.model_validate(
        {
            "source": {"kind": "list", "tones": tones},
            "capture": {"sample_rate": FS, "pre_roll_s": 0.05, "hold_s": 0.15,
                        "tail": {"max_s": 0.15}, "notes": {"key": 69, "velocity": 127}},
        }
    )  # fmt: skip


@contextmanager
def os4_rig(
    sink: str, drop: Callable[[bytes], bool] | None = None
) -> Iterator[tuple[RigDefinition, Hop]]:
    import mido

    require_services(jack=True)
    server = EmulatorServer(sink=sink, midi_port=f"jxdaq-os4-{os.getpid()}", serial=False)
    hop = None
    try:
        backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
        target = next(n for n in backend.get_output_names()
                      if same_port(n, server.announced["midi-in"]))  # fmt: skip
        answers = next(n for n in backend.get_input_names()
                       if same_port(n, server.announced["midi-out"]))  # fmt: skip
        hop = Hop(target, drop)
        port = next(n for n in backend.get_output_names() if hop.name in n)
        rig = RigDefinition(
            name="mks70-os4", instrument="midi", port=port, midi_input=answers,
            midi_backend="mido.backends.rtmidi/UNIX_JACK", firmware="os4",
            tone_message="ipr", readback_every=EVERY, audio_device=PULSE, sample_rate=FS,
        )  # fmt: skip
        yield rig, hop
    finally:
        if hop is not None:
            hop.close()
        server.stop()


def run(catalog, store, rig: RigDefinition, takes: int) -> int:
    job_id = submit_job(catalog, job(takes)).id
    guard = QcThresholds(pre_roll_guard_s=jack_period_s() + 0.005)
    faults = FaultPolicy(backoff_s=0.2, backoff_max_s=1.0)
    Worker(catalog, store, rig, faults=faults, qc=guard).run(job_id=job_id)
    assert catalog.get_job(job_id).state == JobState.COMPLETED
    return job_id


def stored(catalog, job_id: int, takes: int) -> dict[int, object]:
    failed = [(s.index, s.attempts, s.last_error) for s in catalog.list_samples(job_id)
              if s.state is not SampleState.CAPTURED]  # fmt: skip
    assert not failed
    rows = all_takes(catalog, job_id)
    by_index = {take.sample_index: take for take in rows}
    assert len(by_index) == len(rows) == takes, "every sample stored once"
    return by_index


def readback_faults(catalog, rig: str) -> list[object]:
    """The rig's faults that a read-back raised. Under heavy CPU load (this machine runs
    at load 7-14) JACK's dummy backend can lose an event by itself (a starved client misses
    a cycle): a lost note is a silent take or probe the worker recovers from, a lost tone
    parameter is a read-back fault; either way no take is stored from a tone not sent."""
    faults = [e for e in catalog.list_events(rig=rig, limit=1000) if e.kind == "rig.fault"]
    return [e for e in faults if "the tone read back differs" in e.message]


@pytest.mark.devices
def test_an_os4_rig_programs_200_takes_by_ipr_and_reads_back_every_10(sink, services):
    catalog, store = services
    with os4_rig(sink) as (rig, hop):
        job_id = run(catalog, store, rig, TAKES)
    stored(catalog, job_id, TAKES)
    faults = readback_faults(catalog, rig.name)
    # the firmware check at connect, after the first take, every 10, after the last
    assert hop.requests >= 1 + 1 + TAKES // EVERY
    assert len(faults) <= 1, [e.message for e in faults]  # not a rig that loses by itself


@pytest.mark.devices
def test_an_ipr_lost_in_transit_is_caught_and_its_takes_are_captured_again(sink, services):
    catalog, store = services
    with os4_rig(sink, drop=res_ipr(100)) as (rig, hop):
        job_id = run(catalog, store, rig, DROP_TAKES)
    assert hop.dropped is not None, "the hop never saw the VCF RES change"
    faults = readback_faults(catalog, rig.name)
    caught = [e for e in faults if "VCF RES sent 100, read 0" in e.message]
    assert len(caught) == 1, [e.message for e in faults]
    takes = stored(catalog, job_id, DROP_TAKES)
    # From sample CHANGED_AT on, every take made before the read-back caught the loss
    # had the wrong VCF RES: each stored take of those samples was captured after it.
    wrong = [i for i in range(CHANGED_AT, DROP_TAKES) if takes[i].captured_at < caught[0].at]
    assert not wrong, f"samples {wrong} stored from the tone with the lost IPR"
    samples = {s.index: s for s in catalog.list_samples(job_id)}
    assert samples[CHANGED_AT].attempts == 2  # withheld once, captured again
