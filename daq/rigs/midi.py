"""A rig of whole synths (JX-10, MKS-70, JX-8P) played over MIDI, one output port per lane."""

from __future__ import annotations

from daq.instruments.base import Instrument
from daq.instruments.midi_synth import MidiSynth
from daq.rigs.config import RigConfigError
from daq.rigs.live import LiveRig
from firmware_protocol.sysex import Device


class MidiRig(LiveRig):
    def make_instruments(self) -> list[Instrument]:
        definition = self.definition
        device = Device.JX8P if definition.midi_device == "jx8p" else Device.MKS70
        synths: list[Instrument] = []
        ports = [definition.lane(index).port for index in range(self.lanes)]
        if None in ports or len(set(ports)) != len(ports):
            raise RigConfigError(
                f"rig {self.name!r}: instrument = 'midi' needs a port per lane, got {ports}"
            )
        for index, port in enumerate(ports):
            assert port is not None
            synths.append(
                MidiSynth(
                    port,
                    name=self.name,
                    channel=definition.lane(index).midi_channel or 0,
                    device=device,
                    tone_message=definition.tone_message,
                    backend=definition.midi_backend,
                )
            )
        return synths

    def lane_device(self, lane: int) -> str:
        return f"MIDI output {self.definition.lane(lane).port!r}"
