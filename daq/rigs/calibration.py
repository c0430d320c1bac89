"""A rig's calibrations: latency compensation, drift checks, requests.

* Latency: a real-time rig needs its round-trip latency to cut takes on their note-on. A
  latency fixed by the rigs file (``latency_s``) is used as it is, and recorded as the rig's
  so that every reader sees the value the capture uses; otherwise the newest ``latency``
  calibration is used (``jxdaq rig calibrate`` makes one too), and a rig that has none is
  measured when it connects.
* Drift: analog rigs drift over days. When asked to (:class:`DriftPolicy`), the rig
  re-captures the reference tone between batches, records its distance to its baseline
  (the first check makes the baseline, kept in the catalog for later workers), and above the
  threshold pauses the job with the reason.
* Requests: ``POST /rigs/{rig}/calibrate`` logs a ``rig.calibrate`` event; the rig reads
  the events log between batches and measures what was asked for. ``jxdaq rig rebaseline``
  asks for a new drift baseline (after an operator re-tuned the rig) the same way, and also
  records the old one as cleared, so that a worker started later makes a new one too.

Device errors propagate: the worker treats them as the faults they are. A rig without a
catalog (a benchmark's) records nothing and serves no requests.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daq.calibration import LATENCY_ATTEMPTS, LatencyResult
from daq.logs import log_event
from db.records import InvalidTransition
from db.registry import LATENCY
from db.schema import JobState, RigStatus

if TYPE_CHECKING:
    from daq.rigs.base import Rig
    from db.catalog import Catalog

#: Calibration kinds a rig writes (``latency`` is db.registry's).
DRIFT, DRIFT_BASELINE = "drift", "drift-baseline"
#: Event kind of calibration requests (daq.api.routers.rigs logs them).
CALIBRATE_EVENT = "rig.calibrate"
#: What a request may ask for: the latency, a drift check, a new drift baseline.
LATENCY_REQUEST, DRIFT_REQUEST, BASELINE_REQUEST = "latency", "drift", "baseline"
#: How often the events log is read for requests.
REQUESTS_EVERY_S = 2.0

log = logging.getLogger("jxdaq.worker")
#: How the record of a latency fixed by the rigs file says so.
FIXED_BY_RIGS_FILE = "the rigs file (latency_s)"


def request_rebaseline(catalog: Catalog, rig: str, by: str, reason: str | None = None) -> int:
    """Forget ``rig``'s drift baseline (it was re-tuned) and ask its worker for a new one.

    The cleared baseline is recorded, so a worker started later makes a new one at its first
    drift check; a running worker reads the request from the events log. Returns the
    request's event id. Raises NotFound for an unknown rig.
    """
    catalog.get_rig(rig)  # NotFound: "rig 'x' is not registered"
    why = f"drift baseline cleared by {by}" + (f": {reason}" if reason else "")
    catalog.record_calibration(
        rig, DRIFT_BASELINE, {"spectrum_db": None, "cleared_by": by, "reason": reason}
    )
    return catalog.log_event(
        CALIBRATE_EVENT,
        f"rig {rig}: {why}; new baseline requested",
        rig=rig,
        data={"kinds": [BASELINE_REQUEST], "requested_by": by, "reason": reason},
    )


@dataclass(frozen=True, slots=True)
class DriftPolicy:
    """Re-capture the reference tone every ``every_takes`` takes or ``every_s`` seconds."""

    every_takes: int = 500
    every_s: float = 3600.0
    threshold_db: float = 3.0


def latency_record(result: LatencyResult, sample_rate: int, by: str) -> dict[str, Any]:
    """What a latency calibration keeps of a measurement (each lane's too, from lane 1)."""
    record: dict[str, Any] = {
        "latency_s": result.latency_s,
        "jitter_s": result.jitter_s,
        "attempts": result.attempts,
        "sample_rate": sample_rate,
        "measured_by": by,
    }
    if result.lanes:
        record["lanes"] = list(result.lanes)
    return record


class RigCalibration:
    """Latency, drift and calibration requests of one rig."""

    def __init__(self, rig: Rig, drift: DriftPolicy | None) -> None:
        self.rig = rig
        self.drift = drift
        self._monitor: Any = None
        self._events_seen = 0
        self._last_read = 0.0

    @property
    def catalog(self) -> Catalog:
        assert self.rig.catalog is not None  # only rigs in a catalog calibrate
        return self.rig.catalog

    def start(self) -> None:
        """Mark the events log: requests from here on are this rig's to serve."""
        self._events_seen = self.catalog.log_event(
            "rig.worker", f"rig {self.rig.name}: worker started", rig=self.rig.name
        )

    # -- latency --------------------------------------------------------------------------
    def resolve_latency(self, fixed: float | None) -> tuple[float, dict[str, Any]]:
        """The latency the rig uses from now and its record (each lane's may be in it):
        ``fixed`` (recorded as the rig's, unless the catalog has it already), else the newest
        calibration, else one measured now."""
        rig = self.rig
        if fixed is not None:
            record = {"latency_s": fixed, "measured_by": FIXED_BY_RIGS_FILE}
            if rig.catalog is None or rig.catalog.get_rig(rig.name).latency_s != fixed:
                rig.record_latency(fixed, record)
            return fixed, record
        if rig.catalog is not None:
            latest = rig.catalog.list_calibrations(rig.name, LATENCY, limit=1)
            if latest and latest[0].value is not None:
                return latest[0].value, latest[0].result
        result = self.measure_latency("worker")
        return result.latency_s, latency_record(result, rig.sample_rate, "worker")

    def measure_latency(self, by: str, attempts: int = LATENCY_ATTEMPTS) -> LatencyResult:
        """Measure the latency of each lane in use (the rig is open) and make it the rig's."""
        rig = self.rig
        rig.set_status(RigStatus.CALIBRATING)
        result = rig.measure_latency(attempts)
        rig.record_latency(result.latency_s, latency_record(result, rig.sample_rate, by))
        lanes_ms = [None if v is None else round(v * 1000, 2) for v in result.lanes]
        log_event(log, "rig.latency", rig=rig.name, latency_ms=result.latency_s * 1000,
                  jitter_ms=result.jitter_s * 1000, lanes_ms=lanes_ms or None)  # fmt: skip
        return result

    # -- drift ----------------------------------------------------------------------------
    def _drift_monitor(self) -> Any:
        if self._monitor is None:
            import numpy as np

            from daq.calibration import DriftMonitor

            policy = self.drift or DriftPolicy()
            saved = self.catalog.list_calibrations(self.rig.name, DRIFT_BASELINE, limit=1)
            spectrum = saved[0].result.get("spectrum_db") if saved else None  # None: cleared
            baseline = None if spectrum is None else np.asarray(spectrum)
            self._monitor = DriftMonitor(
                policy.every_takes, policy.every_s, policy.threshold_db, baseline
            )
        return self._monitor

    def scheduled_drift(self, takes_done: int, job_id: int | None) -> None:
        """A drift check if the policy says one is due after ``takes_done`` takes."""
        if self.drift is None or job_id is None or self.rig.catalog is None:
            return
        if self._drift_monitor().due(takes_done, time.monotonic()):
            self.check_drift(job_id)

    def check_drift(self, job_id: int | None) -> None:
        """Capture the reference tone, record its distance; pause ``job_id`` if it drifted."""
        from daq.calibration import REFERENCE_TONE, reference_capture_spec

        monitor = self._drift_monitor()
        rig = self.rig
        had_baseline = monitor.baseline is not None
        spec = reference_capture_spec(rig.sample_rate, rig.channels)
        result = monitor.check(rig.capture_one(REFERENCE_TONE, spec))
        if not had_baseline:
            spectrum = [round(float(v), 3) for v in monitor.baseline]
            self.catalog.record_calibration(rig.name, DRIFT_BASELINE, {"spectrum_db": spectrum})
        threshold = monitor.threshold
        self.catalog.record_calibration(
            rig.name,
            DRIFT,
            {"distance_db": result.distance, "threshold_db": threshold, "job_id": job_id,
             "exceeded": result.exceeded},
            value=result.distance,
        )  # fmt: skip
        log_event(log, "rig.drift", rig=rig.name, distance_db=result.distance,
                  exceeded=result.exceeded)  # fmt: skip
        if result.exceeded and job_id is not None:
            self._pause(job_id, result.distance, threshold)

    def rebaseline(self, job_id: int | None) -> None:
        """Capture the reference tone as the rig's new baseline (it was re-tuned)."""
        self._drift_monitor().forget_baseline()
        self.check_drift(job_id)

    def _pause(self, job_id: int, distance: float, threshold: float) -> None:
        from daq.jobs import pause_job

        reason = (
            f"rig {self.rig.name}: the reference tone drifted {distance:.2f} dB from its baseline "
            f"(threshold {threshold:g} dB); recalibrate the rig, then resume the job"
        )
        self.catalog.log_event("rig.drift", reason, level="warning", rig=self.rig.name,
                               job_id=job_id, data={"distance_db": distance})  # fmt: skip
        with contextlib.suppress(InvalidTransition):  # over or paused: nothing to protect
            pause_job(self.catalog, job_id, reason, by=f"rig {self.rig.name}")
        if self.catalog.get_job(job_id).state == JobState.PAUSED:
            log_event(log, "job.paused", logging.WARNING, rig=self.rig.name, job=job_id,
                      reason=reason)  # fmt: skip

    # -- requests -------------------------------------------------------------------------
    def serve_requests(self, job_id: int | None) -> None:
        """Measure what ``rig.calibrate`` events asked for since the last look."""
        now = time.monotonic()
        if self.rig.catalog is None or now - self._last_read < REQUESTS_EVERY_S:
            return
        self._last_read = now
        events = self.catalog.list_events(rig=self.rig.name, after_id=self._events_seen, limit=100)
        if not events:
            return
        self._events_seen = events[-1].id
        kinds = {
            kind
            for event in events
            if event.kind == CALIBRATE_EVENT
            for kind in (event.data or {}).get("kinds", (LATENCY_REQUEST, DRIFT_REQUEST))
        }
        done = []
        if LATENCY_REQUEST in kinds and self.rig.fixed_latency() is None:  # fixed: kept
            self.measure_latency("worker, on request")
            done.append(LATENCY_REQUEST)
        if BASELINE_REQUEST in kinds:  # its check is the drift check too: 0 dB by definition
            self.rebaseline(job_id)
            done.append(BASELINE_REQUEST)
        elif DRIFT_REQUEST in kinds:
            self.check_drift(job_id)
            done.append(DRIFT_REQUEST)
        if done:
            self.catalog.log_event(
                "rig.calibrated",
                f"rig {self.rig.name}: {' and '.join(done)} calibrated on request",
                rig=self.rig.name,
                data={"kinds": done},
            )
