"""Which output channel of the served emulator carries which sound: the mix or one board.

A Super JX sums its two boards into one output, and so does the emulator by default
(``mix``: that mono sum on every channel of the stream). On a bench each board's own output
can go to an input of its own; ``boards`` does that, lower and upper on the channels
:data:`BOARD_CHANNELS` names. An explicit map (``lower=3,upper=4``) puts the sounds anywhere
in a wider stream, so that several emulators share one multi-channel device: PulseAudio sums
the streams played into a sink, and a channel that no source names carries silence.

Channels are numbered from 1, as on an audio interface's front panel. Every board's output
is clipped to [-1, 1] like the mix (:func:`daq.emulator.board.mix`): one full-scale output
stage per jack.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from daq.emulator.board import BOARDS, mix
from firmware_protocol.soundboard import Board

#: Where ``boards`` puts each board (channels from 1).
BOARD_CHANNELS: Mapping[Board, int] = MappingProxyType({Board.LOWER: 1, Board.UPPER: 2})
MIX = "mix"
BOARDS_NAME = "boards"


class Source(enum.StrEnum):
    """What one output channel plays."""

    MIX = "mix"
    LOWER = "lower"
    UPPER = "upper"


_BOARD_OF = {Source.LOWER: Board.LOWER, Source.UPPER: Board.UPPER}


@dataclass(frozen=True)
class OutputMap:
    """The source of each output channel, from channel 1; ``None`` is a silent channel."""

    sources: tuple[Source | None, ...]

    def __post_init__(self) -> None:
        if not any(self.sources):
            raise ValueError("an output map needs at least one channel with a source")

    @property
    def channels(self) -> int:
        return len(self.sources)

    @classmethod
    def parse(cls, text: str, channels: int | None = None) -> OutputMap:
        """``mix``, ``boards`` or ``SOURCE=CHANNEL,...`` (SOURCE: mix, lower, upper) on a
        stream of ``channels`` (default: the highest channel named; 1 for ``mix``).

        ``mix`` plays the mix on every channel; a channel named nowhere is silent.
        Raises ValueError naming the item at fault.
        """
        text = text.strip()
        if channels is not None and channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        if text == MIX:
            return cls((Source.MIX,) * (channels or 1))
        if text == BOARDS_NAME:
            text = ",".join(f"{Source(b.name.lower())}={c}" for b, c in BOARD_CHANNELS.items())
        placed: dict[int, Source] = {}
        for item in text.split(","):
            name, equals, number = (part.strip() for part in item.partition("="))
            if not equals:
                raise ValueError(
                    f"outputs {text!r}: {item.strip()!r} is not SOURCE=CHANNEL "
                    f"(or use {MIX!r} or {BOARDS_NAME!r})"
                )
            try:
                source = Source(name)
            except ValueError:
                sources = ", ".join(s.value for s in Source)
                raise ValueError(
                    f"outputs {text!r}: unknown source {name!r} (one of {sources})"
                ) from None
            if not number.isdigit() or int(number) < 1:
                raise ValueError(f"outputs {text!r}: channel {number!r} is not a number from 1")
            channel = int(number)
            if channel in placed:
                raise ValueError(f"outputs {text!r}: channel {channel} is named twice")
            placed[channel] = source
        wanted = max(placed)
        if channels is not None and channels < wanted:
            raise ValueError(f"outputs {text!r}: channel {wanted} is past the {channels} channels")
        return cls(tuple(placed.get(c) for c in range(1, (channels or wanted) + 1)))

    def __str__(self) -> str:
        """The text :meth:`parse` reads back into this map (given :attr:`channels`)."""
        if all(source is Source.MIX for source in self.sources):
            return MIX
        return ",".join(f"{s}={c}" for c, s in enumerate(self.sources, 1) if s is not None)

    def fill(self, boards: np.ndarray, out: np.ndarray) -> None:
        """Write ``boards`` (float32 [2, frames], lower then upper, as
        :meth:`BoardEmulator.process` gives them) into ``out`` [frames, channels]."""
        mixed = mix(boards) if Source.MIX in self.sources else None
        for channel, source in enumerate(self.sources):
            if source is None:
                out[:, channel] = 0.0
            elif source is Source.MIX:
                out[:, channel] = mixed
            else:
                row = boards[BOARDS.index(_BOARD_OF[source])]
                out[:, channel] = np.clip(row, -1.0, 1.0)
