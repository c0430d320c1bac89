"""One take: program -> settle -> notes -> record -> tail -> cut -> compensate latency.

Two ways to get a take's audio, with the same result layout (:class:`RawTake`): a real-time
capture from a rig (an instrument plus an input stream kept open for the whole job), and a
rendered capture from the emulator's batch renderer (the accelerated emulated rig, as fast
as the CPU allows). QC, storage and the catalog come after, in :mod:`daq.worker`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from daq.audio.ring import Frames, StreamClock
from daq.instruments.base import Instrument
from daq.spec import CaptureSpec
from firmware_protocol.tone import Tone

#: A take keeps this much audio past the last frame above the silence threshold.
SILENCE_MARGIN_S = 0.02
#: How often the tail is checked for silence while a real-time take records.
TAIL_POLL_S = 0.05
#: Level below which a rig counts as quiet between takes when a take's tail gives none.
QUIET_DBFS = -60.0
#: The longest a real-time capture waits for a release that outlived its take's tail.
QUIET_WAIT_MAX_S = 10.0


@dataclass(frozen=True, slots=True)
class RawTake:
    """A take's audio ``[frames, channels]`` starting ``note_on_frame`` before its first note."""

    audio: np.ndarray
    sample_rate: int
    note_on_frame: int
    latency_s: float = 0.0
    #: What went wrong while recording (e.g. an input overflow): such a take is not stored.
    problems: tuple[str, ...] = ()


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
    buffer: Frames
    clock: StreamClock
    status_flags: list[str]

    def now(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Played:
    """A take the synth has finished playing: where it lies in the input's frame count.

    Its last frames may still be on their way back (the rig's latency), so a capture can
    program and start the next take before it collects this one (:meth:`collect`).
    """

    begin: int
    note_on: int
    end: int
    problems: tuple[str, ...] = ()


def note_on_at(
    instrument: Instrument, key: int, velocity: int, clock: Callable[[], float]
) -> float:
    """Play a note-on; returns when it went out, on ``clock`` (an audio stream's).

    Stamped from the moment the bytes left, not from when the call returned: a write can
    return a millisecond or two later (the port draining, another thread holding the GIL),
    and a stamp that late puts the take's cut that much after its sound.
    """
    sent = instrument.note_on(key, velocity)
    return clock() - (time.monotonic() - sent)


class RealtimeCapture:
    """A take from a rig in real time: notes sent on the stream's clock, audio cut from the
    input's ring buffer by frame index, shifted by the rig's measured latency. A lane's input
    is its own channels of the rig's one stream (:meth:`daq.audio.DeviceInput.select`).

    The settle time runs during the pre-roll (both are quiet time before the note), so a take
    costs its own audio plus a few milliseconds; the tail stops once the recorded tail is
    silent or, at the latest, once the synth has played ``tail.max_s`` of it.
    """

    def __init__(self, instrument: Instrument, audio: AudioSource, latency_s: float = 0.0) -> None:
        self.instrument = instrument
        self.audio = audio
        self.latency_s = latency_s

    def capture(self, tone: Tone, spec: CaptureSpec) -> RawTake:
        return self.collect(self.play(tone, spec))

    def play(self, tone: Tone, spec: CaptureSpec) -> Played:
        """Program, wait, play the notes and the tail; returns when the synth is done."""
        audio = self.audio
        rate = audio.sample_rate
        flags_before = len(audio.status_flags)
        self.instrument.program(tone)
        start = audio.now() + max(spec.settle_s, spec.pre_roll_s)
        events = sorted(
            [(n.start_s, 1, n) for n in spec.notes]
            + [(n.start_s + (n.duration_s or spec.hold_s), 0, n) for n in spec.notes],
            key=lambda e: (e[0], e[1]),  # at equal times, note-offs go first
        )
        melody_start: float | None = None  # when the melody's time 0 really was
        for at, is_on, note in events:
            self._sleep_until(start + at)
            if is_on:
                sounded = note_on_at(self.instrument, note.key, note.velocity, audio.now)
                if melody_start is None:
                    melody_start = sounded - at
            else:
                self.instrument.note_off(note.key)
        assert melody_start is not None  # a spec has at least one note
        note_on = audio.clock.frame_at(melody_start) + round(self.latency_s * rate)
        hold_end = note_on + round(spec.hold_s * rate)
        end = hold_end + round(spec.tail.max_s * rate)
        synth_done = melody_start + spec.hold_s + spec.tail.max_s
        silence_db = QUIET_DBFS if spec.tail.silence_db is None else spec.tail.silence_db
        if spec.tail.silence_db is None:
            self._sleep_until(synth_done)
        else:
            end = self._tail(hold_end, end, synth_done, silence_db)
        if end == hold_end + round(spec.tail.max_s * rate):
            # The take ends here, the sound may not: the next take's pre-roll must not hear it.
            self._wait_for_quiet(hold_end, silence_db)
        flags = audio.status_flags[flags_before:]
        problems = tuple(f"audio input reported {flag!r}" for flag in dict.fromkeys(flags))
        return Played(note_on - round(spec.pre_roll_s * rate), note_on, end, problems)

    def collect(self, played: Played, timeout_s: float = 5.0) -> RawTake:
        """The take's audio once its last frame has come back (:class:`AudioTimeout` if not)."""
        buffer = self.audio.buffer
        buffer.wait_for(played.end, timeout_s=timeout_s + self.latency_s)
        return RawTake(
            buffer.read(played.begin, played.end),
            self.audio.sample_rate,
            played.note_on - played.begin,
            self.latency_s,
            played.problems,
        )

    def _sleep_until(self, stream_time: float) -> None:
        delay = stream_time - self.audio.now()
        if delay > 0:
            time.sleep(delay)

    def _quiet(self, since: int, silence_db: float) -> int | None:
        """The frame count if the last ``TAIL_POLL_S`` recorded after ``since`` is below
        ``silence_db`` dBFS, else None."""
        buffer = self.audio.buffer
        written = buffer.written
        window = round(TAIL_POLL_S * self.audio.sample_rate)
        if written < since + window:
            return None
        recent = buffer.read(written - window, written)
        return written if np.abs(recent).max() < 10 ** (silence_db / 20) else None

    def _wait_for_quiet(self, since: int, silence_db: float) -> None:
        """Until what comes back is quiet (the synth fell quiet a latency earlier)."""
        deadline = self.audio.now() + QUIET_WAIT_MAX_S
        while self._quiet(since, silence_db) is None and self.audio.now() < deadline:
            time.sleep(TAIL_POLL_S / 2)

    def _tail(self, hold_end: int, end: int, synth_done: float, silence_db: float) -> int:
        """The end of the take: where the recorded tail fell silent for ``TAIL_POLL_S``, or
        ``end`` if the synth played the whole tail first."""
        while self.audio.now() < synth_done:
            quiet = self._quiet(hold_end, silence_db)
            if quiet is not None:
                return min(quiet, end)
            time.sleep(TAIL_POLL_S / 2)
        return end
