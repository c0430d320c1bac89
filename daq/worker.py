"""A rig worker: claims samples, captures them, hands takes to the writer, survives faults.

Everything a worker holds is either leased (a claim that expires if the worker dies) or
durable (a stored, recorded take), so SIGKILL at any moment loses nothing: the lease runs
out and another claim captures the sample again. Setting ``stop`` (the CLI does on SIGTERM
and SIGINT) finishes the take in hand, flushes the writer and gives back what was claimed but
not captured.

The worker is a plain loop: claim -> ``rig.capture`` -> writer, with leases and heartbeats.
What differs between rigs (how takes are made, what a failure or an error means, latency,
calibration and drift) is the rig's own (:class:`daq.rigs.base.Rig`). A real-time rig can
fault: its serial port disappears, its audio input errors, or its takes go silent. The worker
then gives back the claims in hand (a bad take is never stored), marks the rig FAULTED with a
reason that names the rig, the device and the last good take, and reconnects with
exponential backoff until a probe tone is heard again. A fault of one lane (one board of the
rig) stops that lane only: its claims go back and the other lanes go on. Other rigs never
notice: their workers are separate processes sharing only the catalog.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from daq import sampling
from daq.capture import render_seed
from daq.logs import log_event
from daq.qc import QcReport, QcThresholds, assess
from daq.rigs import RigDefinition, open_rig
from daq.rigs.base import FaultPolicy, LaneDown, Rig, Taken, Work
from daq.rigs.calibration import DRIFT, DriftPolicy
from daq.settings import get_settings
from daq.spec import JobSpec, validate_spec
from daq.writer import (
    OUTAGE_BACKOFF_MAX_S,
    OUTAGE_BACKOFF_S,
    FinishedTake,
    LocalFault,
    TakeWriter,
    catalog_device,
    store_device,
)
from db.catalog import Catalog
from db.engine import error_line, is_outage, storage_refusal
from db.records import ClaimedSample, LeaseLost
from db.registry import LATENCY
from db.schema import FINAL_JOB_STATES, QcCode, QcVerdict, RigStatus, utcnow
from db.store import AudioStore

# DRIFT and LATENCY: the calibration kinds a rig records, under the names the API reads;
# FaultPolicy: the rig's, named here for the worker's callers.
__all__ = ["DRIFT", "LATENCY", "FaultPolicy", "Worker", "WorkerStats"]

#: How often idle workers look for work.
POLL_S = 0.5
#: How often the keeper returns leases that ran out (any worker's) to the queue.
REQUEUE_EVERY_S = 10.0
HEARTBEAT_EVERY_S = 5.0
PROGRESS_EVERY_S = 10.0
MB = 1024 * 1024

log = logging.getLogger("jxdaq.worker")


@dataclass
class WorkerStats:
    submitted: int = 0
    failed_attempts: int = 0
    released: int = 0
    faults: int = 0  # times the rig went from working to FAULTED


@dataclass(frozen=True, slots=True)
class _JobPlan:
    spec: JobSpec
    sampler: sampling.Sampler
    notes: list[dict[str, Any]]


class LeaseKeeper:
    """A thread that keeps a worker's claims and heartbeat alive while it captures.

    A real-time take lasts seconds to minutes; the claims in hand are extended every third
    of the lease so that a long take never loses its sample to another rig, while a worker
    that dies stops extending and its leases run out.
    """

    def __init__(self, catalog: Catalog, rig: str, lease_s: float) -> None:
        self.catalog = catalog
        self.rig = rig
        self.lease_s = lease_s
        self._held: dict[int, ClaimedSample] = {}
        self._lock = threading.Lock()
        self._last_requeue = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def hold(self, claims: list[ClaimedSample]) -> None:
        with self._lock:
            self._held.update((c.sample_id, c) for c in claims)

    def done(self, claim: ClaimedSample) -> bool:
        """Forget ``claim``; False if it was no longer held (its lease was lost).

        The worker calls this before it records a take or a failure for the claim: once the
        sample is captured or failed, extending its lease would fail as if it were lost.
        """
        with self._lock:
            return self._held.pop(claim.sample_id, None) is not None

    def holds(self, claim: ClaimedSample) -> bool:
        with self._lock:
            return claim.sample_id in self._held

    def take_all(self) -> list[ClaimedSample]:
        """The claims still in hand (no take for them), forgetting them."""
        with self._lock:
            held, self._held = list(self._held.values()), {}
        return held

    def _run(self) -> None:
        interval = min(HEARTBEAT_EVERY_S, self.lease_s / 3)
        while not self._stop.wait(interval):
            try:
                self.renew()
            except Exception as error:  # a catalog hiccup must not kill the keeper
                log_event(log, "keeper.error", logging.ERROR, rig=self.rig,
                          error=error_line(error))  # fmt: skip

    def renew(self) -> None:
        """One round: the heartbeat, the claims in hand extended, expired leases requeued."""
        self.catalog.heartbeat(self.rig)
        with self._lock:
            held = list(self._held.values())
        for claim in held:
            try:
                self.catalog.extend_lease(claim, self.lease_s)
            except LeaseLost:
                # Lost only if still held: the worker may have finished it since the copy.
                if self.done(claim):
                    _log_claim("lease.lost", logging.WARNING, self.rig, claim)
        if time.monotonic() - self._last_requeue > REQUEUE_EVERY_S:
            self.catalog.requeue_expired()
            self._last_requeue = time.monotonic()


class Worker:
    """Captures for one rig until stopped (or until a given job is over)."""

    def __init__(
        self,
        catalog: Catalog,
        store: AudioStore,
        rig: RigDefinition,
        *,
        lease_s: float = 60.0,
        batch: int | None = None,
        qc: QcThresholds | None = None,
        stop: threading.Event | None = None,
        on_take: Callable[[int], None] | None = None,
        device: Rig | None = None,
        faults: FaultPolicy | None = None,
        drift: DriftPolicy | None = None,
        min_free_mb: int | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.definition = rig
        self.lease_s = lease_s
        self.qc = qc or QcThresholds()
        self.fault_policy = faults or FaultPolicy()
        #: The rig as a device (``device``: one made elsewhere, e.g. a test's spy).
        self.rig: Rig = device or open_rig(
            rig, catalog, drift=drift, qc=self.qc, faults=self.fault_policy
        )
        self.batch = batch or max(self.rig.batch, self.rig.lanes)
        self.stop = stop or threading.Event()
        self.on_take = on_take
        self.stats = WorkerStats()
        #: The claims in hand while :meth:`run` runs.
        self.keeper = LeaseKeeper(catalog, rig.name, lease_s)
        self._plans: dict[int, _JobPlan] = {}
        self._connected = False
        self._faulted = False
        self._backoff = self.fault_policy.backoff_s
        self._last_good = "none yet"
        self._last_job: int | None = None
        self._last_progress = time.monotonic()
        self.min_free_mb = get_settings().store_min_free_mb if min_free_mb is None else min_free_mb
        self._job_id: int | None = None
        self._registered = False
        self._one_at_a_time = False  # after a capture failure, until a take comes back
        self._unrecorded_fault: tuple[str, dict[str, str]] | None = None
        self._outage_since: float | None = None
        self._outage_error = ""
        self._outage_backoff = OUTAGE_BACKOFF_S

    def _fault_device(self, error: BaseException) -> str | None:
        """The device ``error`` is about if it means the rig (or this host) cannot capture,
        else None."""
        if isinstance(error, LocalFault):
            return error.device
        return self.rig.fault_device(error)

    # -- the loop -------------------------------------------------------------------------
    def run(self, job_id: int | None = None) -> WorkerStats:
        """Capture until ``stop`` is set, or until job ``job_id`` is over (taking only its
        samples)."""
        self._job_id = job_id
        log_event(log, "worker.start", rig=self.rig.name, instrument=self.definition.instrument,
                  lanes=self.rig.lanes, job=job_id)  # fmt: skip
        writer = TakeWriter(self.catalog, self.store, stop=self.stop)
        keeper = self.keeper
        keeper.start()
        try:
            while not self.stop.is_set():
                try:
                    over = self._step(writer, keeper)
                    self._outage_over()
                except Exception as error:
                    self._trouble(error)
                    continue
                if over:
                    break
        finally:
            self._shut_down(writer, keeper)
        return self.stats

    def _step(self, writer: TakeWriter, keeper: LeaseKeeper) -> bool:
        """One round of the loop: claim (or take up the claims kept through an outage) and
        capture; True once the worker's job is over."""
        job_id = self._job_id
        if not self._registered:
            self._register()
        if job_id is not None and not self._connected and self._job_over(job_id):
            return True
        if not self._connected and not self._connect(writer):
            return False
        claims = keeper.take_all() or self._claim_batch()
        if not claims:
            self._set_status(RigStatus.IDLE)
            writer.flush()
            if job_id is not None and self._job_over(job_id):
                return True
            self._calibrate()
            self.stop.wait(POLL_S)
            return False
        self._set_status(RigStatus.CAPTURING)
        try:
            self._capture(claims, writer, keeper)
        except Exception as error:
            if self._fault_device(error) is not None:
                self._fault(error)
            elif is_outage(error) or storage_refusal(error):
                raise
            else:
                self._capture_failed(error, keeper)
        self._give_back(keeper)
        return False

    def _capture_failed(self, error: Exception, keeper: LeaseKeeper) -> None:
        """Capture broke on something that is not the rig's fault (a spec the rig
        refuses, a tone it cannot render): each claim in hand has a failed attempt with the
        reason, and claims go one at a time until a take comes back, so that a sample that
        can never be captured fails alone after the job's attempts."""
        reason = f"capture failed: {error}"
        self._one_at_a_time = True
        for claim in keeper.take_all():
            self.stats.failed_attempts += 1
            try:
                state = self.catalog.fail_sample(
                    claim, reason, retry=True, code=QcCode.CAPTURE_FAILED
                )
            except LeaseLost:
                continue
            _log_claim("take.uncaptured", logging.WARNING, self.rig.name, claim,
                       attempt=claim.attempt, sample=state.value, reason=reason)  # fmt: skip
            self.catalog.log_event(
                "take.uncaptured",
                f"job {claim.job_id} sample {claim.index} attempt {claim.attempt} on rig "
                f"{self.rig.name}: {reason} (sample {state.value})",
                level="warning",
                job_id=claim.job_id,
                rig=self.rig.name,
                data={"index": claim.index, "attempt": claim.attempt, "reason": reason},
            )

    def _register(self) -> None:
        rig = self.definition
        audio = None if rig.audio_device is None else str(rig.audio_device)
        self.catalog.upsert_rig(
            rig.name, rig.transport, audio_device=audio, config=rig.model_dump(mode="json")
        )
        self._set_status(RigStatus.IDLE)
        self.rig.calibration.start()
        self._registered = True

    def _trouble(self, error: Exception) -> None:
        """What the loop does when a round ends in ``error``: ride out a catalog outage (the
        claims in hand are kept for the next round), fault the rig where storage on this
        host refuses (a read-only catalog), re-raise anything else."""
        if is_outage(error):
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                self._outage_backoff = OUTAGE_BACKOFF_S
                log_event(log, "catalog.outage", logging.WARNING, rig=self.rig.name,
                          error=error_line(error))  # fmt: skip
            self._outage_error = error_line(error)
            self.stop.wait(self._outage_backoff)
            self._outage_backoff = min(self._outage_backoff * 2, OUTAGE_BACKOFF_MAX_S)
            return
        if not isinstance(error, LocalFault):
            refusal = storage_refusal(error)
            if refusal is None:
                raise error
            error = LocalFault(catalog_device(self.catalog), refusal)
        self._fault(error)
        self._retry_later()

    def _outage_over(self) -> None:
        """A round went through after an outage: say so, in the log and in the catalog."""
        if self._outage_since is None:
            return
        seconds = round(time.monotonic() - self._outage_since, 1)
        self._outage_since = None
        log_event(log, "catalog.back", rig=self.rig.name, after_s=seconds)
        self.catalog.log_event(
            "rig.catalog_outage",
            f"rig {self.rig.name}: the catalog was unreachable for {seconds} s "
            f"({self._outage_error}); capture went on after it",
            level="warning",
            rig=self.rig.name,
            data={"seconds": seconds, "error": self._outage_error},
        )

    def _shut_down(self, writer: TakeWriter, keeper: LeaseKeeper) -> None:
        """Record what was captured, give back the rest, say the rig is offline. The catalog
        may be unreachable now: what cannot be given back comes back when its lease runs out."""
        unrecorded = writer.close()
        keeper.close()
        self.rig.close()
        try:
            if self._registered:
                self._give_back(keeper, unrecorded)
                self._set_status(RigStatus.OFFLINE)
        except Exception as error:
            if not (is_outage(error) or storage_refusal(error)):
                raise
            log_event(log, "worker.unreleased", logging.WARNING, rig=self.rig.name,
                      error=error_line(error))  # fmt: skip
        log_event(
            log,
            "worker.stop",
            rig=self.rig.name,
            recorded=writer.recorded,
            failed=self.stats.failed_attempts + writer.refused,
            released=self.stats.released,
            faults=self.stats.faults,
            lost=writer.lost,
        )

    def _set_status(
        self, status: RigStatus, reason: str | None = None, force: bool = False
    ) -> None:
        self.rig.set_status(status, reason, force)

    def _job_over(self, job_id: int) -> bool:
        """Whether the job a ``--job`` worker serves is over (a tombstone is: it was over
        before it could be deleted)."""
        return self.catalog.get_job(job_id, include_deleted=True).state in FINAL_JOB_STATES

    def _claim_batch(self) -> list[ClaimedSample]:
        self._check_free_space()
        claims: list[ClaimedSample] = []
        while len(claims) < (1 if self._one_at_a_time else self.batch):
            claim = self.catalog.claim_next(self.rig.name, self.lease_s, job_id=self._job_id)
            if claim is None:
                break
            claims.append(claim)
        return claims

    def _give_back(self, keeper: LeaseKeeper, more: list[ClaimedSample] | None = None) -> None:
        """Claims in hand without a take (and ``more``: claims whose takes were not
        recorded) go back to the queue untouched. Those the catalog could not take back
        (it went away) stay in hand, leased, for the next round."""
        claims = [*keeper.take_all(), *(more or [])]
        for done, claim in enumerate(claims):
            try:
                released = self.catalog.release(claim)
            except Exception:
                keeper.hold(claims[done:])
                raise
            self.stats.released += released

    def _progress(self, writer: TakeWriter) -> None:
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY_S:
            self._last_progress = now
            log_event(
                log,
                "worker.progress",
                rig=self.rig.name,
                submitted=self.stats.submitted,
                recorded=writer.recorded,
                failed=self.stats.failed_attempts,
            )

    # -- devices and faults ---------------------------------------------------------------
    def _connect(self, writer: TakeWriter) -> bool:
        """Connect the rig (it knows its latency and makes sound) once this host can keep
        takes (free space, a writable store and catalog).

        On failure the rig is (or stays) FAULTED and the next try waits twice as long.
        """
        try:
            self._check_host()
            self.rig.connect()
        except Exception as error:
            if self._fault_device(error) is None:
                raise
            self._fault(error)
            self._retry_later()
            return False
        self._connected = True
        self._backoff = self.fault_policy.backoff_s
        if self._unrecorded_fault is not None:  # the catalog could not take it then
            self._record_fault(*self._unrecorded_fault)
        self._set_status(RigStatus.CAPTURING)
        self._give_back(self.keeper, writer.resume())
        if self._faulted:
            self._faulted = False
            message = f"rig {self.rig.name} works again"
            self.catalog.log_event("rig.recovered", message, rig=self.rig.name)
            log_event(log, "rig.recovered", rig=self.rig.name)
        return True

    def _retry_later(self) -> None:
        """Wait before the next try at a faulted rig, twice as long as the last time."""
        log_event(log, "rig.retry", logging.WARNING, rig=self.rig.name,
                  in_s=round(self._backoff, 3))  # fmt: skip
        self.stop.wait(self._backoff)
        self._backoff = min(self._backoff * 2, self.fault_policy.backoff_max_s)

    def _check_host(self) -> None:
        """Raise :class:`LocalFault` unless takes can be kept here: the store has room above
        its floor and (after a fault) takes a file, and the catalog takes a write."""
        self._check_free_space()
        if self._faulted:
            try:
                self.store.check_writable()
            except OSError as error:
                raise LocalFault(store_device(self.store), str(error)) from error
        try:
            self.catalog.heartbeat(self.rig.name)
        except Exception as error:
            refusal = storage_refusal(error)
            if refusal is None:
                raise
            raise LocalFault(catalog_device(self.catalog), refusal) from error

    def _check_free_space(self) -> None:
        """Stop before the store's disk is full: below the floor, a take could not be kept."""
        free = self.store.free_bytes()
        if free is not None and free < self.min_free_mb * MB:
            raise LocalFault(
                store_device(self.store),
                f"{free // MB} MB free, below the floor of {self.min_free_mb} MB "
                "(setting store_min_free_mb)",
            )

    def _fault(self, error: BaseException) -> None:
        """The rig is broken: close it, say why, and let ``_connect`` retry later."""
        self._connected = False
        self.rig.close()
        device = self._fault_device(error)
        reason = (
            f"rig {self.rig.name} faulted on {device}: {error}; last good take: {self._last_good}"
        )
        first = not self._faulted
        self._faulted = True
        if first:
            self.stats.faults += 1
        log_event(
            log,
            "rig.fault",
            logging.ERROR,
            rig=self.rig.name,
            device=device,
            error=str(error),
            last_good=self._last_good,
        )
        data = {"device": device, "error": str(error), "last_good_take": self._last_good}
        try:
            if not self._registered:  # the catalog refused to register the rig
                raise LocalFault(catalog_device(self.catalog), "the rig is not registered")
            self._record_fault(reason, data if first else None)
        except Exception as failure:
            if not (isinstance(failure, LocalFault) or is_outage(failure)
                    or storage_refusal(failure)):  # fmt: skip
                raise
            # Recorded once the catalog takes writes again (``_connect``).
            self._unrecorded_fault = (reason, data)
            log_event(log, "rig.fault_unrecorded", logging.ERROR, rig=self.rig.name,
                      error=error_line(failure))  # fmt: skip

    def _record_fault(self, reason: str, data: dict[str, str] | None) -> None:
        """The rig's FAULTED status with ``reason``, and (``data``) a ``rig.fault`` event."""
        self._set_status(RigStatus.FAULTED, reason, force=True)
        if data is not None:
            self.catalog.log_event("rig.fault", reason, level="error", rig=self.rig.name,
                                   data=data)  # fmt: skip
        self._unrecorded_fault = None

    def _calibrate(self) -> None:
        """While idle: drift checks when due, calibrations operators asked for."""
        if not self._connected:
            return
        try:
            self._calibrations_due()
        except Exception as error:
            if self._fault_device(error) is None:
                raise
            self._fault(error)

    def _calibrations_due(self) -> None:
        """Drift checks when due, calibrations operators asked for (faults propagate)."""
        takes = self.stats.submitted + self.stats.failed_attempts  # the rig's use, pass or fail
        self.rig.calibrate(takes, self._last_job)

    # -- one batch ------------------------------------------------------------------------
    def _plan(self, job_id: int) -> _JobPlan:
        if job_id not in self._plans:
            spec = validate_spec(self.catalog.get_job_spec(job_id))  # it holds its banks
            notes = [n.model_dump() for n in spec.capture.notes]
            self._plans[job_id] = _JobPlan(spec, sampling.sampler(spec), notes)
        return self._plans[job_id]

    def _work(self, claims: list[ClaimedSample]) -> list[Work]:
        by_job: dict[int, list[ClaimedSample]] = {}
        for claim in claims:
            by_job.setdefault(claim.job_id, []).append(claim)
        work = []
        for job_id, job_claims in by_job.items():
            plan = self._plan(job_id)
            seed = plan.spec.seed
            tones = plan.sampler.tones(seed, [c.index for c in job_claims])
            for claim, tone in zip(job_claims, tones, strict=True):
                work.append(Work(claim, tone, plan.spec.capture, render_seed(seed, claim.index)))
        return work

    def _capture(
        self, claims: list[ClaimedSample], writer: TakeWriter, keeper: LeaseKeeper
    ) -> None:
        batches = self._batches(claims, writer, keeper)
        # closed before an error leaves: the rig's lanes stop before it is faulted or reused
        with contextlib.closing(self.rig.capture(batches, self.stop)) as events:
            for event in events:
                if isinstance(event, LaneDown):
                    self._lane_down(event, keeper)
                else:
                    self._finish(event, writer, keeper)

    def _batches(
        self, claims: list[ClaimedSample], writer: TakeWriter, keeper: LeaseKeeper
    ) -> Iterator[Iterator[Work]]:
        """The work of ``claims``, then of batch after batch claimed as the rig asks for
        the next, until the queue is empty or ``stop`` is set.

        A real-time rig asks while the last take of a batch is still coming back, so its
        pipeline does not empty at batch boundaries. Between batches come the calibrations
        (a fault there ends the capture through the rig) and the progress line.
        """
        while claims:
            keeper.hold(claims)
            yield self._held(self._work(claims), keeper)
            if self.stop.is_set():
                return
            self._calibrations_due()
            self._progress(writer)
            if self.stop.is_set():
                return
            claims = self._claim_batch()
            if claims:
                self._set_status(RigStatus.CAPTURING)

    def _held(self, work: list[Work], keeper: LeaseKeeper) -> Iterator[Work]:
        """``work`` as it is taken in, less items whose lease the keeper found lost meanwhile
        (another claim has them now)."""
        for item in work:
            if keeper.holds(item.claim):
                self._last_job = item.claim.job_id
                yield item

    def _lane_down(self, event: LaneDown, keeper: LeaseKeeper) -> None:
        """A lane stopped (the rig said why in the catalog): its claims in hand go back to
        the queue for the other lanes; with no lane left, the rig faults."""
        log_event(log, "rig.lane_fault", logging.ERROR, rig=self.rig.name, lane=event.lane + 1,
                  device=event.device, error=str(event.error))  # fmt: skip
        for work in event.works:
            if keeper.done(work.claim):
                self.stats.released += self.catalog.release(work.claim)
        if len(self.rig.down) >= self.rig.lanes:
            raise event.error

    def _finish(self, taken: Taken, writer: TakeWriter, keeper: LeaseKeeper) -> None:
        """QC the take, then hand it on: to the writer, or to the catalog as a failure.

        The keeper forgets the claim before the hand-off (after it the sample is no longer
        leased), and a claim it no longer holds is not stored: its lease was lost.
        """
        item, take = taken.work, taken.take
        claim = item.claim
        report = assess(take.audio, take.sample_rate, take.note_on_frame, self.qc)
        report = report.with_problems(take.problems)
        if report.verdict is QcVerdict.FAIL:
            self._failed(taken, report, keeper)
            return
        self.rig.take_passed(taken.lane)
        self._one_at_a_time = False
        if not keeper.done(claim):
            return
        writer.submit(
            FinishedTake(
                claim, item.tone.data, take, report, self._plans[claim.job_id].notes, taken.lane + 1
            )
        )
        self.stats.submitted += 1
        self._last_good = (
            f"job {claim.job_id} sample {claim.index} at {utcnow():%Y-%m-%d %H:%M:%SZ}"
        )
        _log_claim(
            "take", logging.DEBUG, self.rig.name, claim,
            lane=taken.lane + 1, qc=report.verdict.value, onset_ms=_ms(report.onset_s),
        )  # fmt: skip
        if self.on_take is not None:
            self.on_take(self.stats.submitted)

    def _failed(self, taken: Taken, report: QcReport, keeper: LeaseKeeper) -> None:
        """A take failed QC; the rig says whether its sample gets another attempt (the
        emulator's failures are final, a real rig's are retried while attempts remain) and
        faults itself, or the lane, on a run of silent takes that a probe confirms."""
        item = taken.work
        claim = item.claim
        retry = self.rig.retry_failed(taken.lane, report)
        self.stats.failed_attempts += 1
        if not keeper.done(claim):
            return
        reason = "; ".join(report.reasons)
        try:
            state = self.catalog.fail_sample(
                claim, reason, tone=item.tone.data, retry=retry, code=report.code
            )
        except LeaseLost:
            _log_claim("lease.lost", logging.WARNING, self.rig.name, claim)
            return
        _log_claim(
            "take.failed", logging.INFO, self.rig.name, claim,
            lane=taken.lane + 1, attempt=claim.attempt, sample=state.value, reason=reason,
        )  # fmt: skip


def _log_claim(event: str, level: int, rig: str, claim: ClaimedSample, **fields: object) -> None:
    """A log line about one claimed sample: which rig, job and index, then ``fields``."""
    log_event(log, event, level, rig=rig, job=claim.job_id, index=claim.index, **fields)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
