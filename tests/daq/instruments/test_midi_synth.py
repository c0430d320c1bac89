"""A whole synth over MIDI: what it sends for a tone, and (through JACK, against the standalone
emulator) how an OS4 instrument confirms its firmware and reads back the tone it holds; a port
that is not there is an instrument error naming the ports there are, and nothing is sent before
the port is open."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from device_support import JACK_BACKEND, JACK_ENV, EmulatorServer, require_services, same_port

from daq.instruments.base import InstrumentError
from daq.instruments.midi_synth import FirmwareMismatch, MidiSynth, ReadbackMismatch
from firmware_protocol.parameters import OS4_BY_IPR, lookup
from firmware_protocol.sysex import IPR, Device, Firmware, ToneAPR, decode_message
from firmware_protocol.tone import INIT_TONE


def decoded(wires: list[bytes]) -> list[object]:
    return [decode_message(wire)[0] for wire in wires]


def test_an_os4_synth_gets_the_first_tone_whole_then_os4_ipr_for_what_changed():
    synth = MidiSynth("unused", firmware=Firmware.OS4, tone_message="ipr")
    (first,) = decoded(synth.tone_messages(INIT_TONE))
    assert isinstance(first, ToneAPR) and first.firmware is Firmware.OS4
    synth._tone = INIT_TONE  # as program() leaves it
    changed = INIT_TONE.replace(vcf_freq=3).replace_os4(pwm1_width=90)
    messages = decoded(synth.tone_messages(changed))
    assert all(isinstance(m, IPR) and m.firmware is Firmware.OS4 for m in messages)
    assert {(OS4_BY_IPR[m.parameter].name, m.value) for m in messages} == {
        ("VCF FREQ", 3),
        ("PWM1 WIDTH", 90),
    }


def test_a_stock_synth_gets_stock_ipr_and_an_apr_synth_whole_tones_only():
    stock = MidiSynth("unused", tone_message="ipr")
    stock._tone = INIT_TONE
    (message,) = decoded(stock.tone_messages(INIT_TONE.replace(vcf_freq=3)))
    assert isinstance(message, IPR) and message.firmware is Firmware.STOCK
    assert message.parameter == lookup("VCF FREQ").apr_index
    whole = MidiSynth("unused", tone_message="apr")
    whole._tone = INIT_TONE
    (message,) = decoded(whole.tone_messages(INIT_TONE.replace(vcf_freq=3)))
    assert isinstance(message, ToneAPR) and message.firmware is Firmware.STOCK
    assert whole.tone_messages(INIT_TONE) == []


def test_os4_on_a_jx8p_is_refused():
    with pytest.raises(ValueError, match="JX-10/MKS-70 only"):
        MidiSynth("unused", device=Device.JX8P, firmware=Firmware.OS4)


# -- through JACK -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[str, str]]:
    """The emulator's MIDI input and answer output, as this process's clients name them."""
    import mido

    require_services(jack=True)
    server = EmulatorServer(midi_port=f"jxdaq-synth-{os.getpid()}", serial=False,
                            audio_device="none")  # fmt: skip
    try:
        backend = mido.Backend(JACK_BACKEND, load=True)
        out = [n for n in backend.get_output_names() if same_port(n, server.announced["midi-in"])]
        ins = [n for n in backend.get_input_names() if same_port(n, server.announced["midi-out"])]
        assert out and ins, f"no JACK ports for {server.announced}"
        yield out[0], ins[0]
    finally:
        server.stop()


def synth(ports: tuple[str, str], **options: object) -> MidiSynth:
    out, answers = ports
    options = {"firmware": Firmware.OS4, "input_port": answers, **options}
    return MidiSynth(out, name="rig os4-test", backend=JACK_BACKEND, **options)  # type: ignore[arg-type]


@pytest.mark.devices
def test_an_os4_synth_reads_back_the_tone_its_ipr_made(emulator):
    device = synth(emulator, tone_message="ipr")
    device.open()
    try:
        device.program(INIT_TONE)
        tone = INIT_TONE.replace(vcf_freq=30, vcf_res=70).replace_os4(pwm1_width=90, lfo2_rate=5)
        device.program(tone)
        assert device.read_back().differing_os4(tone) == ()
        device.verify()
    finally:
        device.close()


@pytest.mark.devices
def test_a_tone_other_than_the_one_sent_is_named_parameter_by_parameter(emulator):
    device = synth(emulator, tone_message="ipr")
    device.open()
    try:
        device.program(INIT_TONE.replace(vcf_freq=30))
        device._sent = INIT_TONE.replace(vcf_freq=31)  # what a lost IPR leaves behind
        with pytest.raises(ReadbackMismatch, match=r"rig os4-test: .*VCF FREQ sent 31, read 30"):
            device.verify()
        assert device.tone_messages(INIT_TONE)  # in doubt: the next tone goes whole
        assert isinstance(decoded(device.tone_messages(INIT_TONE))[0], ToneAPR)
    finally:
        device.close()


@pytest.mark.devices
def test_a_stock_setting_on_an_os4_instrument_is_a_clear_error(emulator):
    device = synth(emulator, firmware=Firmware.STOCK)
    expected = r"rig os4-test: firmware = 'stock', but .* set firmware = 'os4'"
    with pytest.raises(FirmwareMismatch, match=expected):
        device.open()
    device.close()


@pytest.mark.devices
def test_an_os4_setting_with_no_answer_is_a_clear_error(emulator):
    import mido

    backend = mido.Backend(JACK_BACKEND, load=True)
    with backend.open_output(f"silent-{os.getpid()}", virtual=True, client_name="jxdaq-silent"):
        silent = next(n for n in backend.get_input_names() if f"silent-{os.getpid()}" in n)
        device = synth((emulator[0], silent), answer_timeout_s=0.3)
        with pytest.raises(FirmwareMismatch, match=r"firmware = 'os4', but no answer .* 0\.3 s"):
            device.open()
        device.close()


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


@pytest.mark.devices
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
