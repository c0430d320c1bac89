"""The capture ring buffer and stream clock (the device path is tested with PulseAudio)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.audio.ring import AudioOverrun, AudioTimeout, ChannelSelection, RingBuffer, StreamClock


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


@given(
    channels=st.integers(1, 6),
    capacity=st.integers(1, 64),
    blocks=st.lists(st.integers(1, 80), min_size=1, max_size=10),
    data=st.data(),
)
def test_a_selection_reads_its_channels_of_the_same_frames(channels, capacity, blocks, data):
    ring = RingBuffer(capacity, channels)
    stream = np.arange(sum(blocks) * channels, dtype=np.float32).reshape(-1, channels)
    chosen = data.draw(st.permutations(range(channels)).flatmap(
        lambda order: st.integers(1, channels).map(lambda n: list(order[:n]))
    ))  # fmt: skip
    lane = ring.select(chosen)
    position = 0
    for frames in blocks:
        ring.write(stream[position : position + frames])
        position += frames
    assert lane.written == ring.written == position
    assert lane.channels == len(chosen)
    start = data.draw(st.integers(max(0, position - capacity), position))
    stop = data.draw(st.integers(start, position))
    np.testing.assert_array_equal(lane.read(start, stop), stream[start:stop][:, chosen])


@pytest.mark.parametrize(
    ("chosen", "names"),
    [([], "at least one channel"), ([4], "index 4 is not among the ring's 4"),
     ([-1], "index -1"), ([1, 1], r"\[1, 1\] name one channel twice")],
)  # fmt: skip
def test_a_selection_of_channels_the_ring_lacks_is_refused(chosen, names):
    with pytest.raises(ValueError, match=names):
        ChannelSelection(RingBuffer(8, channels=4), chosen)


def test_a_selection_sees_the_ring_overrun_and_waits_on_its_writes():
    ring = RingBuffer(10, channels=2)
    lane = ring.select([1])
    writer = threading.Timer(0.05, ring.write, args=(np.ones((25, 2), np.float32),))
    writer.start()
    lane.wait_for(25, timeout_s=5)
    with pytest.raises(AudioOverrun, match="overwritten"):
        lane.read(5, 20)


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
