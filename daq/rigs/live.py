"""A rig in real time: an instrument per lane and one input stream, open from fault to fault.

Each lane plays its takes in its own thread, on its own board, and cuts them from its own
channels of the one stream with its own latency; lanes take the next work item when they are
free, so a rig of N boards captures N takes at once. Within a lane, takes are pipelined:
take k+1 is programmed and played as soon as the synth has finished take k, and take k is
collected afterwards, when its last frames (delayed by the latency) are long in the ring
buffer. The audio of a lane's consecutive takes is contiguous and never overlaps.

Faults are per lane where the cause is: a lane whose takes go silent (and a probe confirms
it), or whose own port fails, stops while the others go on (a silent one is probed again
between batches, and its thread starts again once it is heard); a lost shared port or a
broken input stream faults the rig. Each lane's latency is measured through its own
instrument and channel.
"""

from __future__ import annotations

import contextlib
import queue
import statistics
import sys
import threading
from abc import abstractmethod
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from daq.audio.device_input import DeviceInput
from daq.audio.ring import AudioOverrun, AudioTimeout
from daq.calibration import LATENCY_ATTEMPTS, CalibrationError, LatencyResult, measure_latency
from daq.capture import Played, RawTake, RealtimeCapture
from daq.instruments.base import Instrument, InstrumentError
from daq.qc import QcReport
from daq.rigs.base import LaneDown, Rig, SilentRig, Taken, Work
from daq.rigs.config import RigDefinition
from daq.spec import CaptureSpec
from firmware_protocol.tone import Tone

#: While lanes play in threads, a thread that waits for the GIL gets it within this long
#: (Python's default is 5 ms): a lane stamps its note-on on time while others run QC.
SWITCH_INTERVAL_S = 0.0005


def make_audio_input(definition: RigDefinition, sample_rate: int, channels: int) -> DeviceInput:
    """The (unstarted) input stream of a real-time rig."""
    return DeviceInput(definition.audio_device, sample_rate, channels)


def _audio_faults() -> tuple[type[BaseException], ...]:
    """Audio errors that mean the input is broken (PortAudio's own type when it is loaded)."""
    import sounddevice

    return (AudioTimeout, AudioOverrun, sounddevice.PortAudioError)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A take a lane has played but not collected yet."""

    work: Work
    capture: RealtimeCapture
    played: Played


class _Raised:
    """A lane thread's error for the consumer to raise."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_LANE_OVER = object()


@dataclass(frozen=True, slots=True)
class _LaneBack:
    """A faulted lane was heard again: the consumer starts its thread."""

    lane: int


class _Source:
    """The work items, shared by the lane threads (the first free lane takes the next)."""

    def __init__(self, batches: Iterable[Iterable[Work]]) -> None:
        self._items = (item for batch in batches for item in batch)
        self._lock = threading.Lock()

    def next(self) -> Work | None:
        with self._lock:
            return next(self._items, None)


class LiveRig(Rig):
    """Instruments and an input stream, played in real time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instruments: list[Instrument] = []
        self._input: Any = None
        self._locks = [threading.Lock() for _ in range(self.lanes)]
        self._silent = [0] * self.lanes
        #: The running capture's event queue (None between captures).
        self._events: queue.Queue[Any] | None = None

    @abstractmethod
    def make_instruments(self) -> list[Instrument]:
        """One unopened instrument per lane."""

    @abstractmethod
    def lane_device(self, lane: int) -> str:
        """Lane ``lane``'s instrument as an operator looks for it."""

    def shares_port(self, lane: int) -> bool:
        """Whether lane ``lane``'s instrument port serves other lanes too (then its failure
        is the rig's)."""
        port = self.definition.lane(lane).port
        return sum(self.definition.lane(i).port == port for i in range(self.lanes)) > 1

    # -- devices --------------------------------------------------------------------------
    def open(self) -> None:
        self.close()
        instruments = self.make_instruments()
        try:
            for instrument in instruments:
                instrument.open()
                self._instruments.append(instrument)
        except BaseException:
            self.close()
            raise
        self._silent = [0] * self.lanes
        self._open_input(self.sample_rate, self._stream_channels(self.channels))

    def _stream_channels(self, take_channels: int) -> int:
        """A rig of one lane records in the take's format; lanes share the rig's channels."""
        return self.definition.channels if self.definition.lanes else take_channels

    def _open_input(self, sample_rate: int, channels: int) -> None:
        if self._input is not None:
            self._input.stop()
            self._input = None
        audio = make_audio_input(self.definition, sample_rate, channels)
        audio.start()
        self._input = audio
        self.sample_rate = sample_rate
        if not self.definition.lanes:
            self.channels = channels

    def close(self) -> None:
        """Close every side, whatever state it is in (this runs after faults)."""
        instruments, audio = self._instruments, self._input
        self._instruments, self._input = [], None
        for instrument in instruments:
            with contextlib.suppress(InstrumentError):  # the port may be what failed
                instrument.all_notes_off()
            instrument.close()
        if audio is not None:
            audio.stop()

    def _channels(self, lane: int, channels: int) -> range | None:
        """Lane ``lane``'s channels of the stream (indices from 0) for a take of ``channels``;
        None: all of them (a rig of one lane)."""
        if not self.definition.lanes:
            return None
        first = self.definition.lanes[lane].input - 1
        if first + channels > self.definition.channels:
            raise ValueError(
                f"rig {self.name} lane {lane + 1}: a {channels}-channel take from input "
                f"{first + 1} is past the rig's {self.definition.channels} channels"
            )
        return range(first, first + channels)

    def _fits(self, spec: CaptureSpec) -> bool:
        """The open input records in ``spec``'s format."""
        return (spec.sample_rate, spec.channels) == (self.sample_rate, self.channels)

    def _capture_for(self, lane: int, spec: CaptureSpec) -> RealtimeCapture:
        """Lane ``lane``'s capture for ``spec`` (reopening the input of a one-lane rig if the
        format changes; lanes record at the rig's rate)."""
        if not self._instruments:
            raise InstrumentError(f"rig {self.name}: not open")
        if self.definition.lanes:
            if spec.sample_rate != self.sample_rate:
                raise ValueError(
                    f"capture.sample_rate = {spec.sample_rate}: rig {self.name} has lanes, "
                    f"which record at the rig's {self.sample_rate} Hz"
                )
        elif not self._fits(spec):
            self._open_input(spec.sample_rate, spec.channels)
        channels = self._channels(lane, spec.channels)
        audio = self._input if channels is None else self._input.select(channels)
        return RealtimeCapture(self._instruments[lane], audio, self.lane_latency(lane))

    def measure_latency(self, attempts: int = LATENCY_ATTEMPTS) -> LatencyResult:
        """Timed on each lane in use, through its own instrument and channel."""
        if not self._instruments or self._input is None:
            raise InstrumentError(f"rig {self.name}: not open")
        results: list[LatencyResult | None] = []
        for lane in range(self.lanes):
            if lane in self.down:
                results.append(None)
                continue
            with self._locks[lane]:
                results.append(measure_latency(
                    self._instruments[lane], self._input, sample_rate=self.sample_rate,
                    attempts=attempts, channels=self._channels(lane, 1),
                ))  # fmt: skip
        measured = [r for r in results if r is not None]
        if not self.definition.lanes:
            return measured[0]
        return LatencyResult(
            latency_s=statistics.median(r.latency_s for r in measured),
            jitter_s=max(r.jitter_s for r in measured),  # the widest spread of one lane
            attempts=attempts,
            lanes=tuple(None if r is None else r.latency_s for r in results),
        )

    # -- takes ----------------------------------------------------------------------------
    def capture(
        self, batches: Iterable[Iterable[Work]], stop: threading.Event
    ) -> Generator[Taken | LaneDown, None, None]:
        """Batch boundaries are no pipeline boundaries: a lane asks for the next item while
        its last take is still coming back. A rig of one instrument plays in the caller's
        thread (nothing competes with its timing); lanes play in a thread each, and a lane
        that comes back mid-capture (:meth:`lane_back`) gets its thread again."""
        source = _Source(batches)
        if self.lanes == 1:
            yield from self._lane(0, source, stop, threading.Event())
            return
        out: queue.Queue[Any] = queue.Queue()
        halt = threading.Event()
        threads: dict[int, threading.Thread] = {}

        def start(lane: int) -> None:
            if lane in threads:
                threads[lane].join()  # its last take is out (it ended when the lane fell)
            threads[lane] = threading.Thread(
                target=self._lane_thread,
                args=(lane, source, out, stop, halt),
                name=f"lane-{lane + 1}",
                daemon=True,
            )
            threads[lane].start()

        switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._events = out
        for lane in range(self.lanes):
            if lane not in self.down:
                start(lane)
        running = len(threads)
        try:
            while running:
                event = out.get()
                if event is _LANE_OVER:
                    running -= 1
                elif isinstance(event, _LaneBack):
                    if not (stop.is_set() or halt.is_set()):
                        start(event.lane)
                        running += 1
                elif isinstance(event, _Raised):
                    raise event.error
                else:
                    yield event
        finally:
            self._events = None
            halt.set()
            for thread in threads.values():
                thread.join()
            sys.setswitchinterval(switch)

    def lane_back(self, lane: int) -> None:
        super().lane_back(lane)
        self._silent[lane] = 0
        events = self._events
        if events is not None:
            events.put(_LaneBack(lane))

    def _lane_thread(
        self,
        lane: int,
        source: _Source,
        out: queue.Queue[Any],
        stop: threading.Event,
        halt: threading.Event,
    ) -> None:
        """Lane ``lane``'s takes, and the error that ended them, handed to the consumer."""
        try:
            for event in self._lane(lane, source, stop, halt):
                out.put(event)
        except BaseException as error:  # raised in the consumer
            out.put(_Raised(error))
        finally:
            out.put(_LANE_OVER)

    def _lane(
        self, lane: int, source: _Source, stop: threading.Event, halt: threading.Event
    ) -> Iterator[Taken | LaneDown]:
        """Lane ``lane`` plays work items from ``source`` until there are none, ``stop`` or
        ``halt`` is set, or the lane is faulted; a failure of its own port faults the lane
        alone (any other error propagates)."""
        pending: _Pending | None = None
        item: Work | None = None
        try:
            while not (stop.is_set() or halt.is_set() or lane in self.down):
                item = source.next()
                if item is None:
                    break
                if pending is not None and not self.definition.lanes and not self._fits(item.spec):
                    yield self._last(lane, pending)  # before the input is reopened
                    pending = None
                capture = self._capture_for(lane, item.spec)
                with self._locks[lane]:
                    played = capture.play(item.tone, item.spec)
                if pending is not None:
                    yield Taken(pending.work, pending.capture.collect(pending.played), lane)
                pending, item = _Pending(item, capture, played), None
            if pending is not None:
                yield self._last(lane, pending)
            if lane in self.down:
                device, error = self.down[lane]
                yield LaneDown(lane, device, error)
        except InstrumentError as error:
            if not self.definition.lanes or self.shares_port(lane):
                raise
            self.lane_down(lane, self.lane_device(lane), error)
            works = tuple(w for w in (pending and pending.work, item) if w is not None)
            yield LaneDown(lane, self.lane_device(lane), error, works)

    def _last(self, lane: int, pending: _Pending) -> Taken:
        """The take in hand when no next take follows it at once.

        A take is kept only if the instrument still answers after it (a port that went away
        during the tail would otherwise leave a truncated take looking whole); otherwise the
        next take's first write proves that.
        """
        with self._locks[lane]:
            self._instruments[lane].all_notes_off()
        return Taken(pending.work, pending.capture.collect(pending.played), lane)

    def capture_one(self, tone: Tone, spec: CaptureSpec, lane: int = 0) -> RawTake:
        capture = self._capture_for(lane, spec)
        with self._locks[lane]:
            return capture.capture(tone, spec)

    # -- what failures mean ---------------------------------------------------------------
    def retry_failed(self, lane: int, report: QcReport) -> bool:
        """Always (a real take varies); a run of silent takes on a lane is probed, and a
        silent probe faults the lane (the rig, when no other lane is left)."""
        if report.silent:
            self._silent[lane] += 1
            if self._silent[lane] >= self.faults.silent_takes:
                failure = (
                    f"{self._silent[lane]} takes in a row were silent, and so was a probe tone"
                )
                self._silent[lane] = 0
                self.probe_lane(lane, failure)
        return True

    def take_passed(self, lane: int) -> None:
        self._silent[lane] = 0

    def fault_device(self, error: BaseException) -> str | None:
        if isinstance(error, InstrumentError):
            return self.definition.instrument_description
        if isinstance(error, (SilentRig, CalibrationError, *_audio_faults())):
            return self.definition.audio_description
        return None
