"""A whole synth over MIDI on a real JACK server: a port that is not there is an instrument
error naming the ports there are; nothing is sent before the port is open; the channel is
checked. What reaches a synth is checked end to end where a MIDI rig captures the emulator
(tests/daq/test_capture_devices.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from device_support import JACK_BACKEND, JACK_ENV, require_services

from daq.instruments.base import InstrumentError
from daq.instruments.midi_synth import MidiSynth


@pytest.fixture
def inbox(monkeypatch) -> Iterator[str]:
    """A virtual JACK MIDI input of the test's own; the name its output side is opened by."""
    import mido

    require_services(jack=True)
    for name, value in JACK_ENV.items():
        monkeypatch.setenv(name, value)
    api = mido.Backend(JACK_BACKEND)
    name = f"jxdaq-test-{uuid.uuid4().hex[:8]}"
    # A client name of its own: other programs on the JACK server look for the default one.
    port = api.open_input(name, virtual=True, client_name=name)
    try:
        (output,) = [n for n in api.get_output_names() if n.endswith(f":{name}")]
        yield output
    finally:
        port.close()


def test_a_missing_port_names_the_ports_there_are(inbox):
    output = inbox
    synth = MidiSynth("no such port", name="jx10", backend=JACK_BACKEND)
    with pytest.raises(InstrumentError, match=r"jx10: cannot open MIDI output 'no such port'") as e:
        synth.open()
    assert output in str(e.value)
    with pytest.raises(InstrumentError, match="is not open"):
        synth.note_on(60, 100)
    with pytest.raises(ValueError, match="channel=16"):
        MidiSynth("x", channel=16)
