"""Capture backends: how a worker turns claimed samples into raw takes on one kind of rig.

One worker loop (:mod:`daq.worker`) drives every rig; what differs sits behind
:class:`CaptureBackend`. The accelerated emulated rig renders a batch at once, is
deterministic (a failed take would fail again) and cannot fault. A real-time rig plays takes
one after another through an instrument and an input stream kept open between takes; its
takes vary, so failures are retried, and its devices can go away.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from daq.audio.ring import AudioOverrun, AudioTimeout
from daq.capture import Played, RawTake, RealtimeCapture, RenderedCapture
from daq.instruments.base import Instrument, InstrumentError
from daq.rigs import RigDefinition, make_audio_input, make_instrument
from daq.spec import CaptureSpec, Note, TailSpec
from db.records import ClaimedSample
from firmware_protocol.tone import INIT_TONE, Tone

#: A tone every working rig makes heard: the INIT tone (one saw through an open filter).
PROBE_TONE = INIT_TONE


@dataclass(frozen=True, slots=True)
class Work:
    """One claimed sample and everything needed to capture it."""

    claim: ClaimedSample
    tone: Tone
    spec: CaptureSpec
    seed: int  # the emulator's seed for this sample (ignored by real rigs)


#: A work item and its take.
Taken = tuple[Work, RawTake]


class CaptureBackend(Protocol):
    #: The same work always gives the same take: a failed take is final, never retried,
    #: and silence says something about the tone, not about the rig.
    deterministic: bool
    #: Claims per batch when the worker is not told otherwise (and, for a backend that
    #: renders several takes at once, how many it takes from its work at a time).
    batch: int
    #: Errors that mean the rig (not one take) is broken: the worker faults the rig on them.
    faults: tuple[type[BaseException], ...]
    #: Seconds between a note-on and its sound; None until the worker resolved it.
    latency_s: float | None
    sample_rate: int
    channels: int

    def open(self) -> None: ...

    def close(self) -> None: ...

    def capture(self, batches: Iterable[Iterable[Work]], stop: threading.Event) -> Iterator[Taken]:
        """Takes for the work of ``batches`` in order; stops early (after the take in hand)
        once ``stop`` is set. The worker claims a batch when the backend asks for it and
        may skip items of a batch as it goes (their lease was lost), so both are read only
        as far as the takes to come need. The caller gives back the claims it got no take
        for."""

    def capture_one(self, tone: Tone, spec: CaptureSpec) -> RawTake:
        """A take that belongs to no sample (a probe, a reference tone)."""

    def device(self, error: BaseException) -> str:
        """Which device ``error`` is about, as an operator would look for it."""

    def measure_latency(self) -> object:
        """A :class:`daq.calibration.LatencyResult` for this rig."""


def probe_spec(sample_rate: int, channels: int) -> CaptureSpec:
    """A short take that answers one question: does the rig make sound at all?"""
    return CaptureSpec(
        sample_rate=sample_rate,
        channels=channels,
        settle_s=0.05,
        pre_roll_s=0.05,
        hold_s=0.3,
        tail=TailSpec(silence_db=-60.0, max_s=0.3),
        notes=[Note(key=69, velocity=127)],
    )


class RenderedBackend:
    """The accelerated emulated rig: batches rendered as fast as the CPU allows."""

    deterministic = True
    batch = 8
    faults: tuple[type[BaseException], ...] = ()
    latency_s: float | None = 0.0

    def __init__(self, rig: RigDefinition) -> None:
        self.rig = rig
        self.sample_rate = rig.sample_rate
        self.channels = rig.channels
        self._renderers: dict[str, RenderedCapture] = {}

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def _renderer(self, spec: CaptureSpec) -> RenderedCapture:
        key = spec.model_dump_json()
        if key not in self._renderers:
            self._renderers[key] = RenderedCapture(spec)
        return self._renderers[key]

    def capture(self, batches: Iterable[Iterable[Work]], stop: threading.Event) -> Iterator[Taken]:
        for batch in batches:
            items = iter(batch)
            while not stop.is_set() and (chunk := list(itertools.islice(items, self.batch))):
                yield from self._render(chunk)
            if stop.is_set():
                return

    def _render(self, chunk: list[Work]) -> Iterator[Taken]:
        groups: dict[str, list[Work]] = {}
        for item in chunk:
            groups.setdefault(item.spec.model_dump_json(), []).append(item)
        for group in groups.values():
            renderer = self._renderer(group[0].spec)
            takes = renderer.capture_many([i.tone for i in group], [i.seed for i in group])
            yield from zip(group, takes, strict=True)

    def capture_one(self, tone: Tone, spec: CaptureSpec) -> RawTake:
        return self._renderer(spec).capture_many([tone], [0])[0]

    def device(self, error: BaseException) -> str:
        return "the in-process emulator"

    def measure_latency(self) -> object:
        raise NotImplementedError("the rendered emulator has no latency to measure")


def _audio_faults() -> tuple[type[BaseException], ...]:
    """Audio errors that mean the input is broken (PortAudio's own type when it is loaded)."""
    import sounddevice

    return (AudioTimeout, AudioOverrun, sounddevice.PortAudioError)


class RealtimeBackend:
    """A rig in real time: an instrument and one input stream, open from one fault to the next.

    Takes of a batch are pipelined: take k+1 is programmed and played as soon as the synth
    has finished take k, and take k is collected afterwards, when its last frames (delayed
    by the rig's latency) are long in the ring buffer. The audio of consecutive takes is
    contiguous and never overlaps.
    """

    deterministic = False
    batch = 8

    def __init__(
        self,
        rig: RigDefinition,
        instrument_factory: Callable[[RigDefinition], Instrument] = make_instrument,
        input_factory: Callable[..., object] = make_audio_input,
    ) -> None:
        from daq.calibration import CalibrationError

        self.rig = rig
        self.latency_s: float | None = rig.latency_s
        self.sample_rate = rig.sample_rate
        self.channels = rig.channels
        self.faults = (InstrumentError, CalibrationError, *_audio_faults())
        self._make_instrument = instrument_factory
        self._make_input = input_factory
        self._instrument: Instrument | None = None
        self._input = None

    # -- devices --------------------------------------------------------------------------
    def open(self) -> None:
        self.close()
        instrument = self._make_instrument(self.rig)
        instrument.open()
        self._instrument = instrument
        self._open_input(self.sample_rate, self.channels)

    def _open_input(self, sample_rate: int, channels: int) -> None:
        if self._input is not None:
            self._input.stop()
            self._input = None
        audio = self._make_input(self.rig, sample_rate=sample_rate, channels=channels)
        audio.start()
        self._input = audio
        self.sample_rate, self.channels = sample_rate, channels

    def close(self) -> None:
        """Close both sides, whatever state they are in (this runs after faults)."""
        instrument, audio = self._instrument, self._input
        self._instrument = self._input = None
        if instrument is not None:
            with contextlib.suppress(InstrumentError):  # the port may be what failed
                instrument.all_notes_off()
            instrument.close()
        if audio is not None:
            audio.stop()

    def _fits(self, spec: CaptureSpec) -> bool:
        """The open input records in ``spec``'s format."""
        return (spec.sample_rate, spec.channels) == (self.sample_rate, self.channels)

    def _capture_for(self, spec: CaptureSpec) -> RealtimeCapture:
        """The capture for ``spec``'s format (reopening the input only if it changes)."""
        if self._instrument is None:
            raise InstrumentError(f"rig {self.rig.name}: not open")
        if not self._fits(spec):
            self._open_input(spec.sample_rate, spec.channels)
        return RealtimeCapture(self._instrument, self._input, self.latency_s or 0.0)

    # -- takes ----------------------------------------------------------------------------
    def capture(self, batches: Iterable[Iterable[Work]], stop: threading.Event) -> Iterator[Taken]:
        """Batch boundaries are no pipeline boundaries: the next batch is asked for while
        the last take of this one is still coming back."""
        pending: tuple[Work, RealtimeCapture, Played] | None = None
        for item in itertools.chain.from_iterable(batches):
            if stop.is_set():
                break
            if pending is not None and not self._fits(item.spec):
                yield self._last(pending)  # before its input is reopened in another format
                pending = None
            capture = self._capture_for(item.spec)
            played = capture.play(item.tone, item.spec)
            if pending is not None:
                yield pending[0], pending[1].collect(pending[2])
            pending = (item, capture, played)
        if pending is not None:
            yield self._last(pending)

    def _last(self, pending: tuple[Work, RealtimeCapture, Played]) -> Taken:
        """The take in hand when no next take follows it at once.

        A take is kept only if the instrument still answers after it (a port that went away
        during the tail would otherwise leave a truncated take looking whole); otherwise the
        next take's first write proves that.
        """
        assert self._instrument is not None
        self._instrument.all_notes_off()
        item, capture, played = pending
        return item, capture.collect(played)

    def capture_one(self, tone: Tone, spec: CaptureSpec) -> RawTake:
        return self._capture_for(spec).capture(tone, spec)

    def measure_latency(self) -> object:
        from daq.calibration import measure_latency

        if self._instrument is None or self._input is None:
            raise InstrumentError(f"rig {self.rig.name}: not open")
        return measure_latency(self._instrument, self._input, sample_rate=self.sample_rate)

    def device(self, error: BaseException) -> str:
        if isinstance(error, InstrumentError):
            return self.rig.instrument_description
        return self.rig.audio_description


def backend_for(rig: RigDefinition) -> CaptureBackend:
    """The backend a rig definition calls for."""
    return RenderedBackend(rig) if rig.accelerated else RealtimeBackend(rig)
