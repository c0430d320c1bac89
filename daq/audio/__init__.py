"""How audio comes back from a rig: a ring buffer fed by an input stream kept open all job,
each lane reading its own channels of it."""

from daq.audio.ring import (
    AudioOverrun,
    AudioTimeout,
    ChannelSelection,
    Frames,
    RingBuffer,
    StreamClock,
)

__all__ = [
    "AudioOverrun",
    "AudioTimeout",
    "ChannelSelection",
    "Frames",
    "RingBuffer",
    "StreamClock",
]
