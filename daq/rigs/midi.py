"""A rig of whole synths (JX-10, MKS-70, JX-8P) played over MIDI, one output port per lane.

Read-back (a Vecoven OS4 instrument with a ``midi_input``): a lane's takes are held back
until the instrument has said, by its answer to the edit-buffer request, that it holds the
tone last sent: after the first take, then every ``readback_every`` takes, and after the
last. A mismatch faults the rig (the lane, where it has a port of its own) naming the
differing parameters, and the takes held since the last good read-back are never handed
on: their claims go back to the queue, to be captured again once the rig reconnects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from daq.instruments.base import Instrument
from daq.instruments.midi_synth import MidiSynth, ReadbackMismatch
from daq.logs import log_event
from daq.rigs.base import LaneDown, Taken
from daq.rigs.config import RigConfigError
from daq.rigs.live import LiveRig, _Source
from firmware_protocol.sysex import Device, Firmware

log = logging.getLogger(__name__)


class MidiRig(LiveRig):
    def make_instruments(self) -> list[Instrument]:
        definition = self.definition
        device = Device.JX8P if definition.midi_device == "jx8p" else Device.MKS70
        firmware = Firmware.OS4 if definition.firmware == "os4" else Firmware.STOCK
        synths: list[Instrument] = []
        ports = [definition.lane(index).port for index in range(self.lanes)]
        if None in ports or len(set(ports)) != len(ports):
            raise RigConfigError(
                f"rig {self.name!r}: instrument = 'midi' needs a port per lane, got {ports}"
            )
        for index, port in enumerate(ports):
            assert port is not None
            lane = definition.lane(index)
            synths.append(
                MidiSynth(
                    port,
                    name=f"rig {self.name}",
                    channel=lane.midi_channel or 0,
                    device=device,
                    tone_message=definition.tone_message,
                    backend=definition.midi_backend,
                    firmware=firmware,
                    input_port=lane.midi_input,
                )
            )
        return synths

    def lane_device(self, lane: int) -> str:
        return f"MIDI output {self.definition.lane(lane).port!r}"

    @property
    def verification(self) -> str:
        definition = self.definition
        if definition.firmware != "os4":
            return "cannot verify: a stock JX-10/MKS-70/JX-8P cannot report the tone it holds"
        if definition.midi_input is None and not any(lane.midi_input for lane in definition.lanes):
            return "cannot verify: firmware = 'os4' but no midi_input to hear its answers on"
        return (
            "reads the tone back (OS4 edit-buffer request) after the first take and every "
            f"{definition.readback_every} takes"
        )

    def _lane(
        self, lane: int, source: _Source, stop: threading.Event, halt: threading.Event
    ) -> Iterator[Taken | LaneDown]:
        """The lane's takes, each handed on only once a read-back after it agrees."""
        synth = self._instruments[lane]
        if not (isinstance(synth, MidiSynth) and synth.can_read_back):
            yield from super()._lane(lane, source, stop, halt)
            return
        every = self.definition.readback_every
        held: list[Taken] = []
        checked = False
        events = super()._lane(lane, source, stop, halt)
        try:
            for event in events:
                if isinstance(event, LaneDown):
                    yield LaneDown(event.lane, event.device, event.error,
                                   tuple(t.work for t in held) + event.works)  # fmt: skip
                    held = []
                    continue
                held.append(event)
                if not checked or len(held) >= every:
                    self._read_back(lane, synth, len(held))
                    checked = True
                    yield from held
                    held = []
            if held:
                self._read_back(lane, synth, len(held))
                yield from held
        except ReadbackMismatch as error:
            events.close()
            if not self.definition.lanes or self.shares_port(lane):
                raise
            self.lane_down(lane, self.lane_device(lane), error)
            yield LaneDown(lane, self.lane_device(lane), error, tuple(t.work for t in held))

    def _read_back(self, lane: int, synth: MidiSynth, takes: int) -> None:
        with self._locks[lane]:
            try:
                synth.verify()
            except ReadbackMismatch as error:
                log_event(log, "rig.readback_mismatch", logging.ERROR, rig=self.name,
                          lane=lane + 1, takes_withheld=takes,
                          parameters=", ".join(p for p, _, _ in error.parameters))  # fmt: skip
                raise
        log_event(log, "rig.readback", logging.DEBUG, rig=self.name, lane=lane + 1, takes=takes)
