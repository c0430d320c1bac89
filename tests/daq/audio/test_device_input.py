"""One input stream, several lanes: :meth:`DeviceInput.select` through PulseAudio.

A 4-channel output stream plays a level of its own on each channel into a 4-channel float32
null sink (device_support.quad_sink, this module's own); the sink's monitor is recorded as one
4-channel :class:`DeviceInput`, and each selection must read exactly its channels' levels, on
the stream's frames and clock. Without PulseAudio these tests FAIL (never skip).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from device_support import FS, PULSE, quad_sink, require_services

from daq.audio.device_input import DeviceInput

pytestmark = pytest.mark.devices

LEVELS = np.array([0.125, -0.25, 0.375, -0.5], np.float32)  # one per channel, exact in float32


@pytest.fixture(scope="module")
def audio() -> Iterator[DeviceInput]:
    import sounddevice as sd

    require_services()
    with quad_sink() as sink, pytest.MonkeyPatch.context() as patch:
        patch.setenv("PULSE_SINK", sink)  # both read when a stream connects
        patch.setenv("PULSE_SOURCE", f"{sink}.monitor")

        def levels(outdata: np.ndarray, *_: object) -> None:
            outdata[:] = LEVELS

        with (
            sd.OutputStream(device=PULSE, samplerate=FS, channels=4, callback=levels),
            DeviceInput(PULSE, FS, channels=4, buffer_s=10.0) as device,
        ):
            yield device


def steady(frames_of, audio: DeviceInput) -> np.ndarray:
    """The last 0.1 s read through ``frames_of`` once the levels have arrived."""
    window = FS // 10
    for _ in range(50):
        end = audio.buffer.written
        if end >= window and np.array_equal(audio.buffer.read(end - window, end)[-1], LEVELS):
            return frames_of(end - window, end)
        audio.buffer.wait_for(end + window, timeout_s=5.0)
    pytest.fail("the 4-channel levels never came back from the sink's monitor")


@pytest.mark.parametrize("channels", [0, 1, 2, 3, [3, 0]], ids=str)
def test_each_selection_reads_its_own_channels_of_the_one_stream(audio, channels):
    lane = audio.select(channels)
    chosen = [channels] if isinstance(channels, int) else channels
    heard = steady(lane.buffer.read, audio)
    assert heard.shape == (FS // 10, len(chosen))
    np.testing.assert_array_equal(heard, np.broadcast_to(LEVELS[chosen], heard.shape))


def test_selections_share_the_stream_clock_frames_and_status(audio):
    lanes = [audio.select(c) for c in range(4)]
    assert all(lane.clock is audio.clock for lane in lanes)
    assert all(lane.status_flags is audio.status_flags for lane in lanes)
    assert all(lane.sample_rate == FS for lane in lanes)
    now = lanes[0].now()
    assert audio.now() >= now  # the same clock, read later
    written = audio.buffer.written
    assert all(lane.buffer.written >= written for lane in lanes)


def test_a_channel_the_stream_lacks_is_refused_naming_the_device(audio):
    with pytest.raises(ValueError, match=r"audio input 'pulse': channel index 4 is not among"):
        audio.select(4)
