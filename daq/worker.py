"""A rig worker: claims samples, captures them, hands takes to the writer, survives faults.

Everything a worker holds is either leased (a claim that expires if the worker dies) or
durable (a stored, recorded take), so SIGKILL at any moment loses nothing: the lease runs
out and another claim captures the sample again. SIGTERM sets ``stop``; the worker finishes
the take in hand, flushes the writer and gives back what it claimed but did not capture.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from daq import sampling
from daq.capture import RawTake, RenderedCapture, render_seed
from daq.qc import QcReport, QcThresholds, assess
from daq.rigs import RigDefinition
from daq.spec import JobSpec
from daq.writer import FinishedTake, TakeWriter
from db.catalog import Catalog
from db.records import ClaimedSample
from db.schema import FINAL_JOB_STATES, QcVerdict, RigStatus
from db.store import AudioStore
from firmware_protocol.tone import Tone

#: How often idle workers look for work and for leases that ran out.
POLL_S = 0.5
REQUEUE_EVERY_S = 10.0
HEARTBEAT_EVERY_S = 5.0


@dataclass
class WorkerStats:
    submitted: int = 0
    failed_attempts: int = 0


@dataclass(frozen=True, slots=True)
class _JobPlan:
    spec: JobSpec
    sampler: sampling.Sampler
    rendered: RenderedCapture


class Worker:
    """Captures for one rig until stopped (or until a given job is over)."""

    def __init__(
        self,
        catalog: Catalog,
        store: AudioStore,
        rig: RigDefinition,
        *,
        lease_s: float = 60.0,
        batch: int = 8,
        qc: QcThresholds | None = None,
        stop: threading.Event | None = None,
        on_take: Callable[[int], None] | None = None,
    ) -> None:
        if not rig.accelerated:
            raise NotImplementedError(
                f"rig {rig.name!r}: real-time {rig.instrument} rigs run through "
                "daq.capture.RealtimeCapture; the worker loop drives the emulated rig only"
            )
        self.catalog = catalog
        self.store = store
        self.rig = rig
        self.lease_s = lease_s
        self.batch = batch
        self.qc = qc or QcThresholds()
        self.stop = stop or threading.Event()
        self.on_take = on_take
        self.stats = WorkerStats()
        self._plans: dict[int, _JobPlan] = {}
        self._last_heartbeat = 0.0
        self._last_requeue = 0.0

    # -- the loop -------------------------------------------------------------------------
    def run(self, job_id: int | None = None) -> WorkerStats:
        """Capture until ``stop`` is set, or until job ``job_id`` is over."""
        rig = self.rig
        self.catalog.upsert_rig(rig.name, rig.transport, config=rig.model_dump(mode="json"))
        self.catalog.heartbeat(rig.name, RigStatus.IDLE)
        writer = TakeWriter(self.catalog, self.store)
        try:
            while not self.stop.is_set():
                self._housekeeping()
                claims = self._claim_batch()
                if not claims:
                    writer.flush()
                    if job_id is not None and self._job_over(job_id):
                        break
                    self.stop.wait(POLL_S)
                    continue
                self._capture(claims, writer)
        finally:
            writer.close()
            self.catalog.heartbeat(rig.name, RigStatus.OFFLINE)
        return self.stats

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_requeue > REQUEUE_EVERY_S:
            self.catalog.requeue_expired()
            self._last_requeue = now
        if now - self._last_heartbeat > HEARTBEAT_EVERY_S:
            self.catalog.heartbeat(self.rig.name, RigStatus.CAPTURING)
            self._last_heartbeat = now

    def _job_over(self, job_id: int) -> bool:
        return self.catalog.get_job(job_id).state in FINAL_JOB_STATES

    def _claim_batch(self) -> list[ClaimedSample]:
        claims: list[ClaimedSample] = []
        while len(claims) < self.batch:
            claim = self.catalog.claim_next(self.rig.name, self.lease_s)
            if claim is None:
                break
            claims.append(claim)
        return claims

    def _plan(self, job_id: int) -> _JobPlan:
        if job_id not in self._plans:
            spec = JobSpec.model_validate(self.catalog.get_job(job_id).spec)
            self._plans[job_id] = _JobPlan(
                spec, sampling.sampler(spec), RenderedCapture(spec.capture)
            )
        return self._plans[job_id]

    # -- one batch ------------------------------------------------------------------------
    def _capture(self, claims: list[ClaimedSample], writer: TakeWriter) -> None:
        by_job: dict[int, list[ClaimedSample]] = {}
        for claim in claims:
            by_job.setdefault(claim.job_id, []).append(claim)
        for job_id, job_claims in by_job.items():
            plan = self._plan(job_id)
            tones = plan.sampler.tones(plan.spec.seed, [c.index for c in job_claims])
            seeds = [render_seed(plan.spec.seed, c.index) for c in job_claims]
            takes = plan.rendered.capture_many(tones, seeds)
            notes = [n.model_dump() for n in plan.spec.capture.notes]
            for claim, tone, take in zip(job_claims, tones, takes, strict=True):
                self._finish(claim, tone, take, notes, writer)

    def _finish(
        self,
        claim: ClaimedSample,
        tone: Tone,
        take: RawTake,
        notes: list[dict[str, float]],
        writer: TakeWriter,
    ) -> None:
        report: QcReport = assess(take.audio, take.sample_rate, take.note_on_frame, self.qc)
        if report.verdict is QcVerdict.FAIL:
            # The emulator is deterministic: the same tone and seed would fail again, so a
            # failed take (e.g. a tone whose levels make it silent) is final, not retried.
            self.stats.failed_attempts += 1
            reason = "; ".join(report.reasons)
            self.catalog.fail_sample(claim, reason, tone=tone.data, retry=False)
            return
        writer.submit(FinishedTake(claim, tone.data, take, report, notes))
        self.stats.submitted += 1
        if self.on_take is not None:
            self.on_take(self.stats.submitted)
