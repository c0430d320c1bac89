"""The writer thread: FLAC encoding, the audio store and the catalog, off the capture path.

Encoding a take and committing it take milliseconds that the next take should not wait for,
so the capture loop hands finished takes here. The queue is bounded: if storage falls
behind, capture slows down instead of holding unbounded audio in memory. Takes are
recorded in small batches, one transaction each, after their files are durable.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from importlib.metadata import version

from daq.capture import RawTake
from daq.qc import QcReport
from db.catalog import Catalog
from db.records import ClaimedSample, NewTake
from db.schema import utcnow
from db.store import AudioStore

SOFTWARE_VERSION = f"jx-daq {version('jx-daq')}"


@dataclass(frozen=True, slots=True)
class FinishedTake:
    claim: ClaimedSample
    tone: bytes
    take: RawTake
    qc: QcReport
    notes: list[dict[str, float]]


class WriterError(RuntimeError):
    """The store or the catalog refused a take; the worker must stop capturing."""


class TakeWriter:
    """Stores and records finished takes on a background thread."""

    def __init__(
        self, catalog: Catalog, store: AudioStore, backlog: int = 32, batch: int = 16
    ) -> None:
        self.catalog = catalog
        self.store = store
        self._batch = batch
        self._queue: queue.Queue[FinishedTake | None] = queue.Queue(maxsize=backlog)
        self._error: BaseException | None = None
        self.recorded = 0
        self.lost = 0  # takes whose lease was lost before they were recorded
        self._thread = threading.Thread(target=self._run, name="take-writer", daemon=True)
        self._thread.start()

    def submit(self, finished: FinishedTake) -> None:
        self.raise_if_failed()
        self._queue.put(finished)

    def raise_if_failed(self) -> None:
        if self._error is not None:
            raise WriterError(f"take writer stopped: {self._error}") from self._error

    def flush(self) -> None:
        """Wait until every submitted take is stored and recorded (or the writer failed)."""
        self._queue.join()
        self.raise_if_failed()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self.raise_if_failed()

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
                if takes and self._error is None:
                    self._record(takes)
            except BaseException as error:  # keep the thread alive to drain the queue
                self._error = error
            finally:
                for _ in items:
                    self._queue.task_done()

    def _record(self, takes: list[FinishedTake]) -> None:
        new_takes = []
        for finished in takes:
            take = finished.take
            ref = self.store.write(take.audio, take.sample_rate)
            new_takes.append(
                NewTake(
                    claim=finished.claim,
                    tone=finished.tone,
                    audio=ref,
                    qc_verdict=finished.qc.verdict,
                    qc_reasons=finished.qc.reasons,
                    captured_at=utcnow(),
                    software_version=SOFTWARE_VERSION,
                    notes=finished.notes,
                    onset_latency_s=finished.qc.onset_s,
                    peak=finished.qc.peak,
                    rms=finished.qc.rms,
                )
            )
        ids = self.catalog.record_takes(new_takes)
        self.lost += sum(1 for i in ids if i is None)
        self.recorded += sum(1 for i in ids if i is not None)
