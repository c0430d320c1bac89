"""Rig definitions: which instrument and which audio device make up a capture rig.

Rigs are defined in a TOML file (``[rigs.NAME]`` tables) so a lab describes its benches once;
the built-in ``emulated`` rig (the accelerated in-process emulator) needs no file at all.

    [rigs.board-a]
    instrument = "serial"          # serial voice board | "midi" whole synth | "emulated"
    port = "/dev/ttyUSB0"          # any pyserial URL, or a MIDI output port name
    board = "upper"
    audio_device = "Scarlett 2i2"  # a PortAudio device name or index
    channels = 1
    sample_rate = 44100
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from daq.spec import format_errors

if TYPE_CHECKING:
    from daq.audio.device_input import DeviceInput
    from daq.instruments.base import Instrument


class RigDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    instrument: Literal["emulated", "serial", "midi"]
    port: str | None = Field(None, description="pyserial URL/device, or MIDI output port name")
    board: Literal["upper", "lower", "both"] = "upper"
    midi_channel: int = Field(0, ge=0, le=15)
    midi_device: Literal["jx10", "mks70", "jx8p"] = "mks70"
    midi_backend: str | None = Field(None, description="e.g. mido.backends.rtmidi/UNIX_JACK")
    tone_message: Literal["apr", "ipr"] = "apr"
    audio_device: str | int | None = None
    channels: int = Field(1, ge=1, le=2)
    sample_rate: Literal[44100, 48000, 96000] = 44100
    latency_s: float | None = Field(None, description="override the calibrated latency")

    @property
    def accelerated(self) -> bool:
        return self.instrument == "emulated"

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


def make_instrument(rig: RigDefinition) -> Instrument:
    """The (unopened) instrument of a real-time rig."""
    from firmware_protocol.soundboard import Board

    if rig.port is None:
        raise RigConfigError(f"rig {rig.name!r}: instrument = {rig.instrument!r} needs a port")
    if rig.instrument == "serial":
        from daq.instruments.serial_board import SerialVoiceBoard

        return SerialVoiceBoard(rig.port, name=rig.name, board=Board[rig.board.upper()])
    if rig.instrument == "midi":
        from daq.instruments.midi_synth import MidiSynth
        from firmware_protocol.sysex import Device

        device = Device.JX8P if rig.midi_device == "jx8p" else Device.MKS70
        return MidiSynth(
            rig.port,
            name=rig.name,
            channel=rig.midi_channel,
            device=device,
            tone_message=rig.tone_message,
            backend=rig.midi_backend,
        )
    raise RigConfigError(f"rig {rig.name!r}: the {rig.instrument} rig has no instrument to open")


def make_audio_input(
    rig: RigDefinition, sample_rate: int | None = None, channels: int | None = None
) -> DeviceInput:
    """The (unstarted) input stream of a real-time rig, at its own format unless told."""
    from daq.audio.device_input import DeviceInput

    return DeviceInput(rig.audio_device, sample_rate or rig.sample_rate, channels or rig.channels)
