"""The writer thread: FLAC encoding, the audio store and the catalog, off the capture path.

Encoding a take and committing it take milliseconds that the next take should not wait for,
so the capture loop hands finished takes here. The queue is bounded: if storage falls
behind, capture slows down instead of holding unbounded audio in memory. Takes are
recorded in small batches, one transaction each, after their files are durable.

What can go wrong is told apart, because each calls for something else:

- the catalog server is unreachable (a restart, a network cut): the same batch is tried
  again with backoff until it is back. Recording is fenced by the claim's attempt, so a
  retry after a commit whose answer was lost records nothing twice;
- the host refuses writes (the store's disk is full or read-only, a local catalog is
  read-only): a :class:`LocalFault`; the takes in hand are not recorded, their claims are
  handed back to the worker, which faults its rig until the cause is gone;
- one take is refused (the catalog rejects its row, its audio cannot be encoded): the batch
  is recorded take by take, and a take refused on its own is a failed attempt of its sample,
  with the reason, so a sample that can never be recorded fails after the job's attempts.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from importlib.metadata import version

from daq.capture import RawTake
from daq.logs import log_event
from daq.qc import QcReport
from db.catalog import Catalog
from db.engine import error_line, is_outage, storage_refusal
from db.records import AudioRef, ClaimedSample, LeaseLost, NewTake
from db.schema import utcnow
from db.store import AudioStore

SOFTWARE_VERSION = f"jx-daq {version('jx-daq')}"
#: First wait before retrying a catalog that is unreachable; doubles up to the maximum, which
#: bounds how long capture waits after the catalog is back.
OUTAGE_BACKOFF_S = 0.25
OUTAGE_BACKOFF_MAX_S = 2.0
#: How long a closing writer keeps retrying an unreachable catalog before it gives up (the
#: takes in hand are then not recorded; their leases run out and they are captured again).
CLOSE_GRACE_S = 30.0

log = logging.getLogger("jxdaq.worker")


@dataclass(frozen=True, slots=True)
class FinishedTake:
    claim: ClaimedSample
    tone: bytes
    take: RawTake
    qc: QcReport
    notes: list[dict[str, float]]
    lane: int = 1  # which board of the rig made it (1-based)


class LocalFault(RuntimeError):
    """Storage on this host refuses to work (disk full, read-only store or catalog): no take
    can be kept until the cause is gone. ``device`` says what, as an operator looks for it."""

    def __init__(self, device: str, reason: str) -> None:
        super().__init__(reason)
        self.device = device


def catalog_device(catalog: Catalog) -> str:
    return f"catalog {catalog.engine.url.render_as_string(hide_password=True)}"


def store_device(store: AudioStore) -> str:
    return f"audio store {store.root}"


class TakeWriter:
    """Stores and records finished takes on a background thread."""

    def __init__(
        self,
        catalog: Catalog,
        store: AudioStore,
        backlog: int = 32,
        batch: int = 16,
        stop: threading.Event | None = None,
    ) -> None:
        """``stop`` set (the worker is stopping) bounds the wait for an unreachable catalog
        to :data:`CLOSE_GRACE_S`, as closing does."""
        self.catalog = catalog
        self._stop = stop or threading.Event()
        self.store = store
        self._batch = batch
        self._queue: queue.Queue[FinishedTake | None] = queue.Queue(maxsize=backlog)
        self._fault: LocalFault | None = None
        self._returned: list[ClaimedSample] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.recorded = 0
        self.lost = 0  # takes whose lease was lost before they were recorded
        self.refused = 0  # takes the catalog or the store refused (a failed attempt each)
        #: Why the catalog is unreachable while the writer waits for it; None otherwise.
        self.outage: str | None = None
        self._thread = threading.Thread(target=self._run, name="take-writer", daemon=True)
        self._thread.start()

    def submit(self, finished: FinishedTake) -> None:
        self.raise_if_failed()
        self._queue.put(finished)

    def raise_if_failed(self) -> None:
        """Raise the :class:`LocalFault` that stopped recording, until :meth:`resume`."""
        if self._fault is not None:
            raise self._fault

    def flush(self) -> None:
        """Wait until every submitted take is stored and recorded (or refused)."""
        self._queue.join()
        self.raise_if_failed()

    def resume(self) -> list[ClaimedSample]:
        """Record again after a local fault; returns the claims of the takes that were not
        recorded meanwhile (the worker gives them back to the queue)."""
        with self._lock:
            returned, self._returned = self._returned, []
            self._fault = None
        return returned

    def close(self) -> list[ClaimedSample]:
        """Record what was submitted, stop; returns the claims of takes left unrecorded."""
        self._closing.set()
        self._queue.put(None)
        self._thread.join()
        with self._lock:
            returned, self._returned = self._returned, []
        return returned

    def _run(self) -> None:
        stop = False
        while not stop:
            items = [self._queue.get()]
            while len(items) < self._batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = items[-1] is None
            takes = [item for item in items if item is not None]
            try:
                if takes:
                    self._record_safely(takes)
            finally:
                for _ in items:
                    self._queue.task_done()

    def _record_safely(self, takes: list[FinishedTake]) -> None:
        """Record ``takes``, riding out catalog outages; refused takes fail their sample."""
        delay = OUTAGE_BACKOFF_S
        gave_up_at = None
        while True:
            if self._fault is not None:
                self._hand_back(takes)
                return
            refs: list[AudioRef] = []
            try:
                refs = [self.store.write(f.take.audio, f.take.sample_rate) for f in takes]
                self._record(takes, refs)
            except Exception as error:  # (told apart below, none is lost)
                if is_outage(error):
                    gave_up_at = gave_up_at or time.monotonic() + CLOSE_GRACE_S
                    stopping = self._closing.is_set() or self._stop.is_set()
                    if stopping and time.monotonic() > gave_up_at:
                        self._hand_back(takes)
                        return
                    self._wait_out(error, delay)
                    delay = min(delay * 2, OUTAGE_BACKOFF_MAX_S)
                    continue
                fault = self._local_fault(error)
                if fault is not None:
                    with self._lock:
                        self._fault = fault
                    log_event(log, "writer.fault", logging.ERROR, device=fault.device,
                              error=str(fault))  # fmt: skip
                    self._hand_back(takes)
                    return
                if len(takes) > 1:  # find the take that was refused: one at a time
                    for finished in takes:
                        self._record_safely([finished])
                    return
                self._refuse(takes[0], error, refs)
                return
            if self.outage is not None:
                log_event(log, "writer.catalog_back", was=self.outage)
                self.outage = None
            return

    def _wait_out(self, error: BaseException, delay: float) -> None:
        if self.outage is None:
            log_event(log, "writer.outage", logging.WARNING, error=error_line(error))
        self.outage = error_line(error)
        self._closing.wait(delay)

    def _local_fault(self, error: BaseException) -> LocalFault | None:
        if isinstance(error, OSError):
            return LocalFault(store_device(self.store), str(error))
        refusal = storage_refusal(error)
        return None if refusal is None else LocalFault(catalog_device(self.catalog), refusal)

    def _hand_back(self, takes: list[FinishedTake]) -> None:
        with self._lock:
            self._returned.extend(f.claim for f in takes)

    def _record(self, takes: list[FinishedTake], refs: list[AudioRef]) -> None:
        now = utcnow()
        new_takes = [
            NewTake(
                claim=finished.claim,
                tone=finished.tone,
                audio=ref,
                qc_verdict=finished.qc.verdict,
                qc_reasons=finished.qc.reasons,
                captured_at=now,
                software_version=SOFTWARE_VERSION,
                notes=finished.notes,
                onset_latency_s=finished.qc.onset_s,
                peak=finished.qc.peak,
                rms=finished.qc.rms,
                lane=finished.lane,
            )
            for finished, ref in zip(takes, refs, strict=True)
        ]
        ids = self.catalog.record_takes(new_takes)
        self.lost += sum(1 for i in ids if i is None)
        self.recorded += sum(1 for i in ids if i is not None)

    def _refuse(self, finished: FinishedTake, error: BaseException, refs: list[AudioRef]) -> None:
        """One take was refused: a failed attempt of its sample (retried while the job's
        attempts last), an event saying why, and its audio file out of the store's way."""
        claim = finished.claim
        reason = f"recording failed: {error_line(error)}"
        self.refused += 1
        try:
            state = self.catalog.fail_sample(claim, reason, retry=True)
        except LeaseLost:
            self.lost += 1
            return
        except Exception as failure:  # (the catalog went away meanwhile)
            log_event(log, "writer.unrecorded", logging.ERROR, job=claim.job_id,
                      index=claim.index, error=reason, then=error_line(failure))  # fmt: skip
            self._hand_back([finished])
            return
        log_event(log, "take.unrecorded", logging.WARNING, job=claim.job_id, index=claim.index,
                  attempt=claim.attempt, sample=state.value, reason=reason)  # fmt: skip
        try:
            self.catalog.log_event(
                "take.unrecorded",
                f"job {claim.job_id} sample {claim.index} attempt {claim.attempt} on rig "
                f"{claim.rig}: {reason} (sample {state.value})",
                level="warning",
                job_id=claim.job_id,
                rig=claim.rig,
                data={"index": claim.index, "attempt": claim.attempt, "reason": reason,
                      "sample": state.value},
            )  # fmt: skip
            for ref in refs:  # no take points at the file, unless one has the same audio
                if not self.catalog.takes_by_sha_range(ref.sha256, ref.sha256 + "0"):
                    self.store.quarantine(ref.key)
        except Exception as failure:  # (the failure itself is recorded)
            log_event(log, "writer.error", logging.ERROR, error=error_line(failure))
