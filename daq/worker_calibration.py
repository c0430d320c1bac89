"""A rig worker's calibration duties: latency compensation, drift checks, requests.

* Latency: a real-time rig needs its round-trip latency to cut takes on their note-on. The
  newest ``latency`` calibration is used (``jxdaq rig calibrate`` makes one too); a rig that
  has none is measured when its worker opens it.
* Drift: analog rigs drift over days. When asked to (:class:`DriftPolicy`), the worker
  re-captures the reference tone between batches, records its distance to the rig's
  baseline (the first check makes the baseline, kept in the catalog for later workers), and
  above the threshold pauses the job with the reason.
* Requests: ``POST /rigs/{rig}/calibrate`` logs a ``rig.calibrate`` event; the worker reads
  the events log between batches and measures what was asked for. ``jxdaq rig rebaseline``
  asks for a new drift baseline (after an operator re-tuned the rig) the same way, and also
  records the old one as cleared, so that a worker started later makes a new one too.

Device errors propagate: the worker treats them as the faults they are.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daq.capture_backends import CaptureBackend
from daq.logs import log_event
from db.catalog import Catalog
from db.records import InvalidTransition
from db.registry import LATENCY
from db.schema import JobState, RigStatus

#: Calibration kinds the worker writes (``latency`` is db.registry's).
DRIFT, DRIFT_BASELINE = "drift", "drift-baseline"
#: Event kind of calibration requests (daq.api.routers.rigs logs them).
CALIBRATE_EVENT = "rig.calibrate"
#: What a request may ask for: the latency, a drift check, a new drift baseline.
LATENCY_REQUEST, DRIFT_REQUEST, BASELINE_REQUEST = "latency", "drift", "baseline"
#: How often the events log is read for requests.
REQUESTS_EVERY_S = 2.0

log = logging.getLogger("jxdaq.worker")


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


class WorkerCalibration:
    """Latency, drift and calibration requests for one rig's worker."""

    def __init__(
        self,
        catalog: Catalog,
        rig: str,
        backend: CaptureBackend,
        drift: DriftPolicy | None,
        set_status: Callable[[RigStatus], None],
    ) -> None:
        self.catalog = catalog
        self.rig = rig
        self.backend = backend
        self.drift = drift
        self._set_status = set_status
        self._monitor: Any = None
        self._events_seen = 0
        self._last_read = 0.0

    def start(self) -> None:
        """Mark the events log: requests from here on are this worker's to serve."""
        self._events_seen = self.catalog.log_event(
            "rig.worker", f"rig {self.rig}: worker started", rig=self.rig
        )

    # -- latency --------------------------------------------------------------------------
    def latency(self) -> float:
        """The rig's newest calibrated latency, measured and recorded now if it has none."""
        latest = self.catalog.list_calibrations(self.rig, LATENCY, limit=1)
        if latest and latest[0].value is not None:
            return latest[0].value
        return self.measure_latency()

    def measure_latency(self) -> float:
        self._set_status(RigStatus.CALIBRATING)
        result: Any = self.backend.measure_latency()
        self.catalog.record_calibration(
            self.rig,
            LATENCY,
            {
                "latency_s": result.latency_s,
                "jitter_s": result.jitter_s,
                "attempts": result.attempts,
                "sample_rate": self.backend.sample_rate,
                "measured_by": "worker",
            },
            value=result.latency_s,
        )
        log_event(log, "rig.latency", rig=self.rig, latency_ms=result.latency_s * 1000,
                  jitter_ms=result.jitter_s * 1000)  # fmt: skip
        self.backend.latency_s = result.latency_s
        return result.latency_s

    # -- drift ----------------------------------------------------------------------------
    def _drift_monitor(self) -> Any:
        if self._monitor is None:
            import numpy as np

            from daq.calibration import DriftMonitor

            policy = self.drift or DriftPolicy()
            saved = self.catalog.list_calibrations(self.rig, DRIFT_BASELINE, limit=1)
            spectrum = saved[0].result.get("spectrum_db") if saved else None  # None: cleared
            baseline = None if spectrum is None else np.asarray(spectrum)
            self._monitor = DriftMonitor(
                policy.every_takes, policy.every_s, policy.threshold_db, baseline
            )
        return self._monitor

    def scheduled_drift(self, takes_done: int, job_id: int | None) -> None:
        """A drift check if the policy says one is due after ``takes_done`` takes."""
        if self.drift is None or job_id is None:
            return
        if self._drift_monitor().due(takes_done, time.monotonic()):
            self.check_drift(job_id)

    def check_drift(self, job_id: int | None) -> None:
        """Capture the reference tone, record its distance; pause ``job_id`` if it drifted."""
        from daq.calibration import REFERENCE_TONE, reference_capture_spec

        monitor = self._drift_monitor()
        backend = self.backend
        had_baseline = monitor.baseline is not None
        spec = reference_capture_spec(backend.sample_rate, backend.channels)
        result = monitor.check(backend.capture_one(REFERENCE_TONE, spec))
        if not had_baseline:
            spectrum = [round(float(v), 3) for v in monitor.baseline]
            self.catalog.record_calibration(self.rig, DRIFT_BASELINE, {"spectrum_db": spectrum})
        threshold = monitor.threshold
        self.catalog.record_calibration(
            self.rig,
            DRIFT,
            {"distance_db": result.distance, "threshold_db": threshold, "job_id": job_id,
             "exceeded": result.exceeded},
            value=result.distance,
        )  # fmt: skip
        log_event(log, "rig.drift", rig=self.rig, distance_db=result.distance,
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
            f"rig {self.rig}: the reference tone drifted {distance:.2f} dB from its baseline "
            f"(threshold {threshold:g} dB); recalibrate the rig, then resume the job"
        )
        self.catalog.log_event("rig.drift", reason, level="warning", rig=self.rig,
                               job_id=job_id, data={"distance_db": distance})  # fmt: skip
        with contextlib.suppress(InvalidTransition):  # over or paused: nothing to protect
            pause_job(self.catalog, job_id, reason, by=f"rig {self.rig}")
        if self.catalog.get_job(job_id).state == JobState.PAUSED:
            log_event(log, "job.paused", logging.WARNING, rig=self.rig, job=job_id, reason=reason)

    # -- requests -------------------------------------------------------------------------
    def serve_requests(self, job_id: int | None) -> None:
        """Measure what ``rig.calibrate`` events asked for since the last look."""
        now = time.monotonic()
        if now - self._last_read < REQUESTS_EVERY_S:
            return
        self._last_read = now
        events = self.catalog.list_events(rig=self.rig, after_id=self._events_seen, limit=100)
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
        if LATENCY_REQUEST in kinds and not self.backend.deterministic:  # the emulator has none
            self.measure_latency()
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
                f"rig {self.rig}: {' and '.join(done)} calibrated on request",
                rig=self.rig,
                data={"kinds": done},
            )
