"""Job reports shared between status polls: fifty operators' dashboards watching one job ask the
catalog once per :data:`REPORT_TTL_S`, not fifty times.

A report is at most that old (its ``at`` says when it was read); a job changed through this
process (pause, resume, cancel, priority) is forgotten at once, so its caller sees the change.
Each server process keeps its own reports.
"""

from __future__ import annotations

import threading
import time

from daq.jobs import JobReport, job_report
from db.catalog import Catalog

#: How long a job's report is served from memory.
REPORT_TTL_S = 0.5
#: Reports kept; beyond this, expired ones are dropped.
MAX_REPORTS = 1024


class JobReports:
    """Recent :class:`daq.jobs.JobReport` per job id, read again when older than ``ttl_s``."""

    def __init__(self, catalog: Catalog, ttl_s: float = REPORT_TTL_S) -> None:
        self.catalog = catalog
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._reports: dict[int, tuple[float, JobReport]] = {}

    def get(self, job_id: int) -> JobReport:
        now = time.monotonic()
        with self._lock:
            kept = self._reports.get(job_id)
        if kept is not None and now - kept[0] < self.ttl_s:
            return kept[1]
        report = job_report(self.catalog, job_id)
        with self._lock:
            self._reports[job_id] = (now, report)
            if len(self._reports) > MAX_REPORTS:
                self._reports = {
                    key: entry
                    for key, entry in self._reports.items()
                    if now - entry[0] < self.ttl_s
                }
        return report

    def forget(self, job_id: int) -> None:
        with self._lock:
            self._reports.pop(job_id, None)
