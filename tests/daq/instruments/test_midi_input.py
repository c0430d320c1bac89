"""A MIDI input polled from rtmidi's queue, on a real JACK server: what a port sends arrives
whole and in order (SysEx included, which rtmidi drops unless told), and a backend that is
not rtmidi's is refused by name."""

from __future__ import annotations

import time
import uuid

import pytest
from device_support import JACK_BACKEND, JACK_ENV, require_services

from daq.instruments.midi_input import PolledInput, rtmidi_api


@pytest.mark.parametrize(
    ("backend", "error"),
    [
        ("mido.backends.portmidi", "needs an rtmidi backend, got 'mido.backends.portmidi'"),
        ("mido.backends.rtmidi/NO_SUCH_API", "unknown rtmidi API 'NO_SUCH_API'"),
    ],
)
def test_a_backend_that_cannot_be_polled_is_named(backend, error):
    with pytest.raises(ValueError, match=error):
        rtmidi_api(backend)


def test_none_means_rtmidis_default_api():
    import rtmidi

    assert rtmidi_api(None) == rtmidi.API_UNSPECIFIED
    assert rtmidi_api(JACK_BACKEND) == rtmidi.API_UNIX_JACK


@pytest.mark.devices
def test_messages_sent_to_a_virtual_input_are_polled_whole_and_in_order(monkeypatch):
    import mido

    require_services(jack=True)
    for name, value in JACK_ENV.items():
        monkeypatch.setenv(name, value)
    name = f"jxdaq-test-{uuid.uuid4().hex[:8]}"
    port = PolledInput(name, JACK_BACKEND, client=name, virtual=True)
    try:
        assert port.poll() is None
        api = mido.Backend(JACK_BACKEND)
        (listed,) = [n for n in api.get_output_names() if n.endswith(f":{name}")]
        sent = [
            mido.Message("note_on", note=60, velocity=100),
            mido.Message("sysex", data=[0x41, 0x36, 0x00, 0x24, 0x20, 0x01, 0x10, 0x40]),
            mido.Message("note_off", note=60),
        ]
        with api.open_output(listed) as output:
            # JACK makes a new connection part of its graph at a later cycle: what is sent
            # before that goes nowhere. Ping until one arrives, then the messages under test.
            ping = mido.Message("note_off", note=1)
            deadline = time.monotonic() + 10
            while port.poll() is None:
                assert time.monotonic() < deadline, "no ping arrived in 10 s"
                output.send(ping)
                time.sleep(0.05)
            time.sleep(0.05)
            port.drain()
            for message in sent:
                output.send(message)
            received: list[bytes] = []
            while len(received) < len(sent) and time.monotonic() < deadline + 10:
                message = port.poll()
                if message is None:
                    time.sleep(0.005)
                else:
                    received.append(message)
        assert received == [bytes(m.bytes()) for m in sent]
        output_again = api.open_output(listed)
        output_again.send(mido.Message("note_on", note=61))
        time.sleep(0.2)
        port.drain()
        output_again.close()
        assert port.poll() is None
    finally:
        port.close()
