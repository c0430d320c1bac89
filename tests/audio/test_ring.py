"""The capture ring buffer and stream clock (the device path is tested with PulseAudio)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.audio.ring import AudioOverrun, AudioTimeout, RingBuffer, StreamClock


@given(
    capacity=st.integers(1, 64),
    blocks=st.lists(st.integers(1, 80), min_size=1, max_size=20),
    data=st.data(),
)
def test_reads_return_exactly_the_frames_written(capacity, blocks, data):
    ring = RingBuffer(capacity, channels=2)
    stream = np.arange(sum(blocks) * 2, dtype=np.float32).reshape(-1, 2)
    position = 0
    for frames in blocks:
        ring.write(stream[position : position + frames])
        position += frames
    assert ring.written == position
    oldest = max(0, position - capacity)
    start = data.draw(st.integers(oldest, position))
    stop = data.draw(st.integers(start, position))
    np.testing.assert_array_equal(ring.read(start, stop), stream[start:stop])


def test_overwritten_frames_are_an_overrun_not_silent_garbage():
    ring = RingBuffer(10, channels=1)
    ring.write(np.zeros((25, 1), np.float32))
    with pytest.raises(AudioOverrun, match="overwritten"):
        ring.read(5, 20)
    with pytest.raises(ValueError, match="only 25 written"):
        ring.read(20, 30)


def test_wait_for_wakes_on_write_and_times_out_with_the_frame_named():
    ring = RingBuffer(100, channels=1)
    writer = threading.Timer(0.05, ring.write, args=(np.ones((40, 1), np.float32),))
    writer.start()
    ring.wait_for(40, timeout_s=5)
    with pytest.raises(AudioTimeout, match="frame 41"):
        ring.wait_for(41, timeout_s=0.05)


def test_clock_maps_time_to_frames_despite_jittered_callbacks():
    rng = np.random.default_rng(1)
    clock = StreamClock(sample_rate=48_000)
    start_time = 1234.5
    for block in range(50):
        first_frame = block * 256
        jitter = rng.normal(0, 0.0005) if block % 7 else 0.004  # a few late callbacks
        clock.anchor(first_frame, start_time + first_frame / 48_000 + jitter)
    assert abs(clock.frame_at(start_time + 1.0) - 48_000) <= 10


def test_clock_without_callbacks_says_the_stream_is_not_delivering():
    with pytest.raises(AudioTimeout, match="not delivering"):
        StreamClock(44_100).frame_at(0.0)
