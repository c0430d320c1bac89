"""One take: program -> settle -> notes -> record -> tail -> cut -> compensate latency.

Two ways to get a take's audio, with the same result layout (:class:`RawTake`): a real-time
capture from a rig (an instrument plus an input stream kept open for the whole job), and a
rendered capture from the emulator's batch renderer (the accelerated emulated rig, as fast
as the CPU allows). QC, storage and the catalog come after, in :mod:`daq.worker`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from daq.instruments.base import Instrument
from daq.spec import CaptureSpec
from firmware_protocol.tone import Tone

#: A take keeps this much audio past the last frame above the silence threshold.
SILENCE_MARGIN_S = 0.02
#: How often the tail is checked for silence while a real-time take records.
TAIL_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class RawTake:
    """A take's audio ``[frames, channels]`` starting ``note_on_frame`` before its first note."""

    audio: np.ndarray
    sample_rate: int
    note_on_frame: int
    latency_s: float = 0.0


def render_seed(job_seed: int, index: int) -> int:
    """The emulator seed of sample ``index`` of a job: reproducible from the catalog alone."""
    return int(np.random.SeedSequence([job_seed, index]).generate_state(1)[0])


def silence_end(audio: np.ndarray, not_before: int, silence_db: float, sample_rate: int) -> int:
    """Where a take may end: past the last frame above ``silence_db`` dBFS (plus a margin),
    never before ``not_before`` (the end of the hold)."""
    magnitude = np.abs(audio).max(axis=1)
    loud = np.flatnonzero(magnitude[not_before:] >= 10 ** (silence_db / 20))
    last = not_before + (int(loud[-1]) + 1 if loud.size else 0)
    return min(audio.shape[0], last + int(SILENCE_MARGIN_S * sample_rate))


class RenderedCapture:
    """The accelerated emulated rig: takes rendered by the batch renderer, many at once."""

    def __init__(self, spec: CaptureSpec) -> None:
        from daq.emulator.render import SAMPLE_RATES, Note

        if spec.sample_rate not in SAMPLE_RATES:
            raise ValueError(
                f"capture.sample_rate = {spec.sample_rate}: the emulated rig renders at "
                f"{', '.join(map(str, SAMPLE_RATES))} Hz"
            )
        self.spec = spec
        self._melody = [Note(n.key, n.velocity, n.start_s, n.duration_s) for n in spec.notes]

    def capture_many(self, tones: Sequence[Tone], seeds: Sequence[int]) -> list[RawTake]:
        from daq.emulator.render import render

        spec = self.spec
        rate = spec.sample_rate
        audio = render(tones, self._melody, spec.hold_s, spec.tail.max_s, rate, list(seeds))
        pre_roll = round(spec.pre_roll_s * rate)
        hold_end = pre_roll + round(spec.hold_s * rate)
        takes = []
        for item in audio:
            take = np.zeros((pre_roll + item.shape[0], spec.channels), np.float32)
            take[pre_roll:] = item[:, None]  # the emulated board is mono: same on each channel
            if spec.tail.silence_db is not None:
                take = take[: silence_end(take, hold_end, spec.tail.silence_db, rate)]
            takes.append(RawTake(take, rate, pre_roll))
        return takes


class AudioSource(Protocol):
    """What a real-time capture needs of its input: see :class:`daq.audio.DeviceInput`."""

    sample_rate: int

    def now(self) -> float: ...


class RealtimeCapture:
    """A take from a rig in real time: notes sent on the stream's clock, audio cut from the
    input's ring buffer by frame index, shifted by the rig's measured latency."""

    def __init__(self, instrument: Instrument, audio: AudioSource, latency_s: float = 0.0) -> None:
        self.instrument = instrument
        self.audio = audio
        self.latency_s = latency_s

    def _sleep_until(self, stream_time: float) -> None:
        delay = stream_time - self.audio.now()
        if delay > 0:
            time.sleep(delay)

    def capture(self, tone: Tone, spec: CaptureSpec) -> RawTake:
        audio = self.audio
        rate = audio.sample_rate
        self.instrument.program(tone)
        time.sleep(spec.settle_s)
        start = audio.now() + spec.pre_roll_s
        events = sorted(
            [(n.start_s, 1, n) for n in spec.notes]
            + [(n.start_s + (n.duration_s or spec.hold_s), 0, n) for n in spec.notes],
            key=lambda e: (e[0], e[1]),  # at equal times, note-offs go first
        )
        first_on: float | None = None
        for at, is_on, note in events:
            self._sleep_until(start + at)
            if is_on:
                self.instrument.note_on(note.key, note.velocity)
                first_on = audio.now() if first_on is None else first_on
            else:
                self.instrument.note_off(note.key)
        assert first_on is not None  # a spec has at least one note
        clock, buffer = audio.clock, audio.buffer  # type: ignore[attr-defined]
        note_on = clock.frame_at(first_on) + round(self.latency_s * rate)
        begin = note_on - round(spec.pre_roll_s * rate)
        hold_end = note_on + round(spec.hold_s * rate)
        end = hold_end + round(spec.tail.max_s * rate)
        if spec.tail.silence_db is not None:
            end = self._tail_until_silence(hold_end, end, spec.tail.silence_db, buffer, clock)
        buffer.wait_for(end, timeout_s=spec.tail.max_s + 5.0)
        return RawTake(buffer.read(begin, end), rate, note_on - begin, self.latency_s)

    def _tail_until_silence(self, hold_end: int, end: int, silence_db: float, buffer, clock) -> int:
        """Stop recording once the last ``TAIL_POLL_S`` of the tail is below the threshold."""
        window = round(TAIL_POLL_S * self.audio.sample_rate)
        level = 10 ** (silence_db / 20)
        buffer.wait_for(hold_end + window, timeout_s=5.0)
        while True:
            written = min(buffer.written, end)
            if written >= end:
                return end
            recent = buffer.read(max(hold_end, written - window), written)
            if recent.size and np.abs(recent).max() < level:
                return written
            time.sleep(TAIL_POLL_S)
