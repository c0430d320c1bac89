"""Rig definitions: which instrument, which boards (lanes) and which audio input make a rig.

Rigs are defined in a TOML file (``[rigs.NAME]`` tables) so a lab describes its benches once;
the built-in ``emulated`` rig (the accelerated in-process emulator) needs no file at all.

    [rigs.board-a]
    instrument = "serial"          # serial voice board | "midi" whole synth | "emulated"
    port = "/dev/ttyUSB0"          # any pyserial URL, or a MIDI output port name
    board = "upper"
    audio_device = "Scarlett 2i2"  # a PortAudio device name or index
    channels = 1
    sample_rate = 44100

A rig with several boards captures on all of them at once: each board is a lane, with its
own tone state and its own input channel of the rig's one audio stream. A Super JX (two
boards on one serial line, selected by the board-select bytes):

    [rigs.superjx]
    instrument = "serial"
    port = "/dev/ttyUSB0"
    audio_device = "Scarlett 18i8"
    channels = 2                   # the input stream's channels
    lanes = [{board = "upper", input = 1}, {board = "lower", input = 2}]

and N single-board rigs on one interface are lanes too, each with its own ``port``.

A Vecoven OS4 JX-10/MKS-70 over MIDI, programmed by per-parameter IPR and read back:

    [rigs.mks70]
    instrument = "midi"
    port = "MIDI interface OUT"    # to the synth's MIDI IN
    midi_input = "MIDI interface IN"  # from the synth's MIDI OUT: its answers
    firmware = "os4"               # confirmed at connect by the edit-buffer answer
    tone_message = "ipr"           # only the parameters that changed since the last tone
    readback_every = 10            # read the tone back before the first take, then every 10
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from daq.spec import format_errors

#: The rig kinds, by the name a rigs file gives as ``instrument``; each is one module of
#: :mod:`daq.rigs` (``emulated`` is the rendered emulator).
Kind = Literal["emulated", "serial", "midi"]


class LaneDefinition(BaseModel):
    """One board of a rig and the input channel its audio comes back on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    board: Literal["upper", "lower", "both"] | None = Field(None, description="default: the rig's")
    port: str | None = Field(None, description="default: the rig's port (one shared line)")
    midi_channel: int | None = Field(None, ge=0, le=15, description="default: the rig's")
    midi_input: str | None = Field(None, description="default: the rig's")
    input: int = Field(1, ge=1, description="the lane's first input channel (1-based)")
    latency_s: float | None = Field(None, ge=0, description="override the calibrated latency")


class RigDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    instrument: Kind
    port: str | None = Field(None, description="pyserial URL/device, or MIDI output port name")
    board: Literal["upper", "lower", "both"] = "upper"
    midi_channel: int = Field(0, ge=0, le=15)
    midi_device: Literal["jx10", "mks70", "jx8p"] = "mks70"
    midi_backend: str | None = Field(None, description="e.g. mido.backends.rtmidi/UNIX_JACK")
    tone_message: Literal["apr", "ipr"] = "apr"
    firmware: Literal["stock", "os4"] = Field(
        "stock", description="the synth's firmware: 'os4' for Vecoven OS4 (JX-10/MKS-70)"
    )
    midi_input: str | None = Field(
        None, description="MIDI input port from the synth's MIDI OUT: read-back (OS4)"
    )
    readback_every: int = Field(10, ge=1, description="read the tone back every N takes")
    audio_device: str | int | None = None
    channels: int = Field(1, ge=1, le=32, description="input channels (of all lanes)")
    sample_rate: Literal[44100, 48000, 96000] = 44100
    latency_s: float | None = Field(None, ge=0, description="override the calibrated latency")
    lanes: tuple[LaneDefinition, ...] = Field((), description="boards captured at once")

    @model_validator(mode="after")
    def _lanes_fit(self) -> RigDefinition:
        inputs = [lane.input for lane in self.lanes]
        if len(set(inputs)) != len(inputs):
            raise ValueError(f"lanes share an input channel: inputs {inputs}")
        if inputs and max(inputs) > self.channels:
            raise ValueError(f"lane input {max(inputs)} is past the rig's {self.channels} channels")
        if self.firmware == "os4" and self.midi_device == "jx8p":
            raise ValueError("firmware = 'os4': Vecoven OS4 runs on the JX-10/MKS-70 only")
        return self

    @property
    def accelerated(self) -> bool:
        return self.instrument == "emulated"

    @property
    def lane_count(self) -> int:
        return max(1, len(self.lanes))

    def lane(self, index: int) -> LaneDefinition:
        """Lane ``index`` with the rig's defaults filled in (a rig without lanes has one)."""
        lane = self.lanes[index] if self.lanes else LaneDefinition()
        return lane.model_copy(
            update={
                "board": lane.board or self.board,
                "port": lane.port or self.port,
                "midi_channel": (
                    self.midi_channel if lane.midi_channel is None else lane.midi_channel
                ),
                "midi_input": lane.midi_input or self.midi_input,
                "latency_s": self.latency_s if lane.latency_s is None else lane.latency_s,
            }
        )

    @property
    def transport(self) -> str:
        return {"emulated": "emulator", "serial": "voice-board serial", "midi": "midi"}[
            self.instrument
        ]

    @property
    def instrument_description(self) -> str:
        """The instrument's device as an operator looks for it: ``serial port /dev/ttyUSB0``."""
        if self.instrument == "serial":
            return f"serial port {self.port}"
        if self.instrument == "midi":
            return f"MIDI output {self.port!r}"
        return "the in-process emulator"

    @property
    def audio_description(self) -> str:
        return f"audio input {self.audio_device if self.audio_device is not None else 'default'!r}"


#: The rig every installation has: the emulated board, rendered as fast as the CPU allows.
EMULATED = RigDefinition(name="emulated", instrument="emulated")


class RigConfigError(ValueError):
    pass


def load_rigs(path: str | Path | None) -> dict[str, RigDefinition]:
    """Rigs from a TOML file (plus the built-in ``emulated`` rig)."""
    rigs = {EMULATED.name: EMULATED}
    if path is None:
        return rigs
    try:
        document = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RigConfigError(f"{path}: {error}") from error
    for name, table in document.get("rigs", {}).items():
        try:
            rigs[name] = RigDefinition(name=name, **table)
        except ValidationError as error:
            raise RigConfigError(f"{path}: [rigs.{name}]: {format_errors(error)}") from error
    return rigs


def find_rig(name: str, path: str | Path | None) -> RigDefinition:
    rigs = load_rigs(path)
    if name not in rigs:
        raise RigConfigError(f"no rig named {name!r}; defined: {', '.join(sorted(rigs))}")
    return rigs[name]
