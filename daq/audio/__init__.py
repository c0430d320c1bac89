"""How audio comes back from a rig: a ring buffer fed by an input stream kept open all job."""

from daq.audio.ring import AudioOverrun, AudioTimeout, RingBuffer, StreamClock

__all__ = ["AudioOverrun", "AudioTimeout", "RingBuffer", "StreamClock"]
