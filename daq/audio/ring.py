"""A single-writer ring buffer of audio frames and the clock that maps stream time to frames.

The input stream stays open for a whole job (opening a device per take costs hundreds of
milliseconds and drops the first blocks), so takes are cut out of this buffer by frame
index. The writer is the audio callback thread; readers are capture threads. Frames are
addressed by an absolute counter that never wraps, so a reader can tell when what it asks
for has been overwritten (an overrun: the capture fell too far behind).
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Sequence
from typing import Protocol

import numpy as np


class AudioOverrun(RuntimeError):
    """Requested frames were already overwritten: the reader fell behind the device."""


class AudioTimeout(RuntimeError):
    """The device stopped delivering frames (unplugged, stalled, or the stream died)."""


class Frames(Protocol):
    """What a capture reads audio from: a :class:`RingBuffer` or some of its channels."""

    @property
    def channels(self) -> int: ...

    @property
    def written(self) -> int: ...

    def wait_for(self, frame: int, timeout_s: float) -> None: ...

    def read(self, start: int, stop: int) -> np.ndarray: ...


class RingBuffer:
    """Fixed-capacity float32 frames ``[capacity, channels]`` with an absolute write counter.

    One ring holds every channel of an input stream; :meth:`select` gives a reader (a lane)
    its own channels, counted in the same frames.
    """

    def __init__(self, capacity_frames: int, channels: int) -> None:
        if capacity_frames <= 0 or channels <= 0:
            raise ValueError("capacity_frames and channels must be positive")
        self._data = np.zeros((capacity_frames, channels), dtype=np.float32)
        self._written = 0
        self._reserved = 0  # frames the writer is filling; ahead of _written while it copies
        self._arrived = threading.Condition()

    @property
    def capacity(self) -> int:
        return self._data.shape[0]

    @property
    def channels(self) -> int:
        return self._data.shape[1]

    @property
    def written(self) -> int:
        """Absolute index of the next frame to be written (frames ever written)."""
        return self._written

    def write(self, block: np.ndarray) -> None:
        """Append frames (called from the audio thread; never blocks on readers)."""
        frames = block.shape[0]
        if frames > self.capacity:
            block = block[-self.capacity :]
            self._written += frames - self.capacity
            frames = self.capacity
        self._reserved = self._written + frames
        start = self._written % self.capacity
        first = min(frames, self.capacity - start)
        self._data[start : start + first] = block[:first]
        self._data[: frames - first] = block[first:]
        with self._arrived:
            self._written += frames
            self._arrived.notify_all()

    def wait_for(self, frame: int, timeout_s: float) -> None:
        """Block until frames up to ``frame`` (exclusive) have been written."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: self._written >= frame, timeout_s):
                raise AudioTimeout(
                    f"no audio for {timeout_s:.1f} s: waited for frame {frame}, "
                    f"device delivered {self._written}"
                )

    def select(self, channels: Sequence[int]) -> ChannelSelection:
        """These channels (indices from 0, in this order) as a buffer of their own."""
        return ChannelSelection(self, channels)

    def read(self, start: int, stop: int, channels: Sequence[int] | None = None) -> np.ndarray:
        """Copy of frames ``[start, stop)`` (of ``channels`` only, if given: indices from 0);
        they must be written and not yet overwritten."""
        if stop > self._written:
            raise ValueError(f"frames up to {stop} requested, only {self._written} written")
        if start < self._written - self.capacity or start < 0:
            raise AudioOverrun(
                f"frames from {start} were overwritten (buffer holds "
                f"{self._written - self.capacity}..{self._written}); the capture fell behind"
            )
        index = np.arange(start, stop) % self.capacity
        out = self._data[index] if channels is None else self._data[np.ix_(index, channels)]
        # The writer fills slots before it advances ``written``; ``reserved`` covers a block
        # in flight, so frames it overwrote while we copied are caught here.
        if start < self._reserved - self.capacity:
            raise AudioOverrun(f"frames from {start} were overwritten while being read")
        return out


class ChannelSelection:
    """Some channels of a :class:`RingBuffer`, read as a buffer of their own: a lane's input.

    Frame indices are the ring's, so every selection of one ring counts the same frames on
    the same stream clock; a frame index one lane computes is valid in every other.
    """

    def __init__(self, ring: RingBuffer, channels: Sequence[int]) -> None:
        chosen = tuple(channels)
        if not chosen:
            raise ValueError("select at least one channel")
        outside = [c for c in chosen if not 0 <= c < ring.channels]
        if outside:
            raise ValueError(
                f"channel index {outside[0]} is not among the ring's {ring.channels} "
                f"(indices 0..{ring.channels - 1})"
            )
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"channels {list(chosen)} name one channel twice")
        self.ring = ring
        self.selected = chosen

    @property
    def channels(self) -> int:
        return len(self.selected)

    @property
    def written(self) -> int:
        return self.ring.written

    def wait_for(self, frame: int, timeout_s: float) -> None:
        self.ring.wait_for(frame, timeout_s)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Copy of frames ``[start, stop)`` of the selected channels: [frames, channels]."""
        return self.ring.read(start, stop, self.selected)


class StreamClock:
    """Maps a stream timestamp (seconds, the device clock) to an absolute frame index.

    Each audio callback reports the timestamp of its first frame. Host APIs jitter these
    by up to a block, so the mapping uses the median offset over recent callbacks rather
    than the last one: ``frame = t * sample_rate + offset``.
    """

    def __init__(self, sample_rate: int, history: int = 64) -> None:
        self.sample_rate = sample_rate
        self._offsets: deque[float] = deque(maxlen=history)

    def anchor(self, first_frame: int, timestamp_s: float) -> None:
        self._offsets.append(first_frame - timestamp_s * self.sample_rate)

    @property
    def ready(self) -> bool:
        return bool(self._offsets)

    def frame_at(self, timestamp_s: float) -> int:
        if not self._offsets:
            raise AudioTimeout("no audio callback has run yet: the stream is not delivering")
        return round(timestamp_s * self.sample_rate + statistics.median(self._offsets))
