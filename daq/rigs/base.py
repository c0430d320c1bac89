"""The device interface of a rig: what the worker asks of every kind of rig.

As ophyd-async has one device interface with real and mock backends, a worker talks to
:class:`Rig` only: ``connect``, ``capture``, ``probe``, ``latency``/``record_latency``,
``calibrate``, and what a failed take or an error means (:meth:`Rig.retry_failed`,
:meth:`Rig.fault_device`). Each kind of rig answers these its own way, in its own module
(:mod:`daq.rigs.rendered`, :mod:`daq.rigs.serial`, :mod:`daq.rigs.midi`).

A rig holds one or more lanes (boards), each with its own tone state and its own input
channel; a take says which lane made it.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from daq.calibration import LATENCY_ATTEMPTS, LatencyResult
from daq.capture import RawTake
from daq.logs import log_event
from daq.qc import QcReport, QcThresholds, assess
from daq.rigs.calibration import DriftPolicy, RigCalibration
from daq.rigs.config import RigDefinition
from daq.spec import CaptureSpec, Note, TailSpec
from db.records import ClaimedSample
from db.registry import LATENCY
from db.schema import RigStatus
from firmware_protocol.tone import INIT_TONE, Tone

if TYPE_CHECKING:
    from db.catalog import Catalog

log = logging.getLogger(__name__)

#: A tone every working rig makes heard: the INIT tone (one saw through an open filter).
PROBE_TONE = INIT_TONE


@dataclass(frozen=True, slots=True)
class Work:
    """One claimed sample and everything needed to capture it."""

    claim: ClaimedSample
    tone: Tone
    spec: CaptureSpec
    seed: int  # the emulator's seed for this sample (ignored by real rigs)


@dataclass(frozen=True, slots=True)
class Taken:
    """A work item's take, and the lane that made it."""

    work: Work
    take: RawTake
    lane: int = 0


@dataclass(frozen=True, slots=True)
class LaneDown:
    """Lane ``lane`` stopped (its cause: ``error`` on ``device``); the rig goes on without
    it. ``work`` is the item it had in hand, if any, with no take."""

    lane: int
    device: str
    error: BaseException
    work: Work | None = None


class SilentRig(RuntimeError):
    """Takes keep coming back silent and a probe tone is not heard either."""


@dataclass(frozen=True, slots=True)
class FaultPolicy:
    """When a real-time rig (or lane) counts as broken and how eagerly it is retried."""

    silent_takes: int = 3  # consecutive silent takes before the lane is probed
    reprobe_s: float = 30.0  # a lane faulted for silence is probed again this often
    backoff_s: float = 1.0  # first wait before reopening; doubles up to backoff_max_s
    backoff_max_s: float = 60.0


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


class Rig(ABC):
    """One rig: its devices, its latency, its calibrations and its status in the catalog.

    ``catalog`` may be None (a rig used outside a worker, e.g. by a benchmark): then
    nothing is recorded.
    """

    #: Claims per batch when the worker is not told otherwise.
    batch = 8

    def __init__(
        self,
        definition: RigDefinition,
        catalog: Catalog | None = None,
        drift: DriftPolicy | None = None,
        qc: QcThresholds | None = None,
        faults: FaultPolicy | None = None,
    ) -> None:
        self.definition = definition
        self.name = definition.name
        self.catalog = catalog
        self.qc = qc or QcThresholds()
        self.faults = faults or FaultPolicy()
        #: Lanes out of use: lane -> (device, error). A silent lane comes back when a
        #: probe is heard again (:meth:`reprobe`); any other, when the rig reconnects.
        self.down: dict[int, tuple[str, BaseException]] = {}
        self._reprobe_at = 0.0
        self.calibration = RigCalibration(self, drift)
        #: Sample rate and channels of a take as the rig is set now.
        self.sample_rate = definition.sample_rate
        self.channels = 1 if definition.lanes else definition.channels
        self._latency: float | None = None
        self._lane_latencies: tuple[float | None, ...] = ()
        self._status: tuple[RigStatus, str | None] | None = None

    # -- devices --------------------------------------------------------------------------
    @abstractmethod
    def open(self) -> None:
        """Open the devices (no latency or probe yet): :meth:`connect` does the rest."""

    @abstractmethod
    def close(self) -> None:
        """Close the devices, whatever state they are in (this runs after faults)."""

    def connect(self) -> None:
        """Open the devices, know the latency, prove the rig makes sound (faults raise)."""
        self.open()
        log_event(log, "rig.verification", logging.INFO, rig=self.name,
                  verification=self.verification)  # fmt: skip
        self.down = {}
        self.resolve_latency()
        self.probe("the probe tone was not heard")

    @property
    def lanes(self) -> int:
        return self.definition.lane_count

    @property
    def verification(self) -> str:
        """Whether (and how) the rig checks that its synth holds the tone it was sent."""
        return "cannot verify the tone its synth holds"

    # -- latency --------------------------------------------------------------------------
    @property
    def latency(self) -> float | None:
        """Seconds between a note-on and its sound: the one value every reader uses (the
        capture, and through the catalog the API, metrics and dashboard); None until known."""
        return self._latency

    def lane_latency(self, lane: int) -> float:
        """Lane ``lane``'s latency: its own override, else the rig's override, else its own
        measured one (each lane has its own channel path), else the rig's."""
        own = self.definition.lanes[lane].latency_s if self.definition.lanes else None
        if own is not None:
            return own
        measured = self._lane_latencies[lane] if lane < len(self._lane_latencies) else None
        if self.fixed_latency() is None and measured is not None:
            return measured
        return self.latency or 0.0

    def resolve_latency(self) -> float:
        """Know the latency (fixed, calibrated, or measured now: the rig is open)."""
        value, details = self.calibration.resolve_latency(self.fixed_latency())
        self._use_latency(value, details)
        return value

    def fixed_latency(self) -> float | None:
        """A latency that needs no measuring (the rigs file's override), else None."""
        return self.definition.latency_s

    def record_latency(self, value: float, details: dict[str, object]) -> float:
        """The one writer of the rig's latency: in use from now, and in the catalog. Each
        lane's own, when measured, is in ``details["lanes"]`` (:func:`latency_record`)."""
        if self.catalog is not None:
            self.catalog.record_calibration(self.name, LATENCY, details, value=value)
        self._use_latency(value, details)
        return value

    def _use_latency(self, value: float, details: dict[str, object] | None) -> None:
        self._latency = value
        lanes = (details or {}).get("lanes")
        self._lane_latencies = tuple(lanes) if isinstance(lanes, list | tuple) else ()

    @abstractmethod
    def measure_latency(self, attempts: int = LATENCY_ATTEMPTS) -> LatencyResult:
        """Time a calibration tone through the rig (open) and back, on each lane in use."""

    # -- takes ----------------------------------------------------------------------------
    @abstractmethod
    def capture(
        self, batches: Iterable[Iterable[Work]], stop: threading.Event
    ) -> Generator[Taken | LaneDown, None, None]:
        """Takes for the work of ``batches`` in order (per lane); stops early (after the
        takes in hand) once ``stop`` is set. The worker claims a batch when the rig asks for
        it and may skip items of a batch as it goes (their lease was lost), so both are read
        only as far as the takes to come need. The caller gives back the claims it got no
        take for."""

    @abstractmethod
    def capture_one(self, tone: Tone, spec: CaptureSpec, lane: int = 0) -> RawTake:
        """A take that belongs to no sample (a probe, a reference tone)."""

    def probe(self, failure: str) -> None:
        """Every lane in use plays a known loud tone; a silent one is faulted (saying
        ``failure``), and :class:`SilentRig` raised when none is left."""
        for lane in range(self.lanes):
            if lane not in self.down:
                self.probe_lane(lane, failure)

    def probe_lane(self, lane: int, failure: str) -> None:
        """Fault lane ``lane`` (the rig: raise :class:`SilentRig`, when it is the last one)
        unless a known loud tone is heard from it."""
        if self._heard(lane):
            return
        if len(self.down) + 1 >= self.lanes:
            raise SilentRig(failure)
        self.lane_down(lane, self.lane_audio(lane), SilentRig(failure))
        self._reprobe_at = time.monotonic() + self.faults.reprobe_s

    def _heard(self, lane: int) -> bool:
        """Whether a known loud tone played on lane ``lane`` comes back."""
        spec = probe_spec(self.sample_rate, self.channels)
        take = self.capture_one(PROBE_TONE, spec, lane)
        return not assess(take.audio, take.sample_rate, take.note_on_frame, self.qc).silent

    def reprobe(self) -> None:
        """Every :attr:`FaultPolicy.reprobe_s`, probe the lanes faulted for silence again;
        one that is heard comes back into use (:meth:`lane_back`)."""
        silent = [lane for lane, (_, error) in self.down.items() if isinstance(error, SilentRig)]
        if not silent or time.monotonic() < self._reprobe_at:
            return
        self._reprobe_at = time.monotonic() + self.faults.reprobe_s
        for lane in silent:
            if self._heard(lane):
                self.lane_back(lane)

    def lane_back(self, lane: int) -> None:
        """Lane ``lane`` is in use again (its probe was heard), and say so."""
        device, error = self.down.pop(lane)
        message = f"rig {self.name} lane {lane + 1} is back: {device} sounds again ({error})"
        if self.catalog is not None:
            self.catalog.log_event("rig.lane_back", message, rig=self.name,
                                   data={"lane": lane + 1, "device": device})  # fmt: skip
            if self._status is not None:
                self.set_status(self._status[0])

    def lane_audio(self, lane: int) -> str:
        """Where lane ``lane``'s sound comes back, as an operator looks for it."""
        audio = self.definition.audio_description
        if not self.definition.lanes:
            return audio
        return f"{audio} channel {self.definition.lanes[lane].input}"

    def lane_down(self, lane: int, device: str, error: BaseException) -> None:
        """Take lane ``lane`` out of use until the rig reconnects, and say so."""
        self.down[lane] = (device, error)
        where = f"rig {self.name} lane {lane + 1}"
        message = f"{where} faulted on {device}: {error}; the other lanes go on"
        if self.catalog is not None:
            data = {"lane": lane + 1, "device": device, "error": str(error)}
            self.catalog.log_event("rig.lane_fault", message, level="error", rig=self.name,
                                   data=data)  # fmt: skip
            if self._status is not None:
                self.set_status(self._status[0])

    # -- what failures mean ---------------------------------------------------------------
    @abstractmethod
    def retry_failed(self, lane: int, report: QcReport) -> bool:
        """A take of ``lane`` failed QC: whether its sample gets another attempt. May raise
        a fault (a run of silent takes that a probe confirms)."""

    def take_passed(self, lane: int) -> None:  # noqa: B027  (most rigs keep no count)
        """A take of ``lane`` passed QC."""

    @abstractmethod
    def fault_device(self, error: BaseException) -> str | None:
        """The device ``error`` is about if it means the rig is broken, else None (an error
        of one take, or of the job)."""

    # -- calibration and status -----------------------------------------------------------
    def calibrate(self, takes_done: int, job_id: int | None) -> None:
        """Between batches and while idle: silent lanes probed again, drift checks when due,
        calibrations asked for."""
        self.reprobe()
        self.calibration.scheduled_drift(takes_done, job_id)
        self.calibration.serve_requests(job_id)

    def set_status(self, status: RigStatus, reason: str | None = None, force: bool = False) -> None:
        """Tell the catalog, unless it already knows (``force``: it may have been changed
        by someone else, e.g. an operator clearing a fault)."""
        if reason is None and self.down and status != RigStatus.OFFLINE:
            reason = "; ".join(
                f"lane {lane + 1} faulted on {device}: {error}"
                for lane, (device, error) in sorted(self.down.items())
            )
        if self.catalog is not None and (force or self._status != (status, reason)):
            self.catalog.heartbeat(self.name, status, reason)
            self._status = (status, reason)
