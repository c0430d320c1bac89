"""The catalog's API: one object that every service and trainer talks to.

``Catalog(engine)`` (or :func:`db.engine.open_catalog`) offers, each call one transaction:

* jobs and the work queue (:mod:`db.work`): ``create_job``, ``claim_next``, ``extend_lease``,
  ``release``, ``fail_sample``, ``requeue_expired``, ``record_take(s)``, ``set_job_state``;
* reads (:mod:`db.reads`): ``job_progress``, ``query_takes`` (keyset pages), ``get_take``,
  ``mark_take_broken``;
* rigs, calibrations, events (:mod:`db.registry`); tokens and datasets (:mod:`db.access`);
* deleting a job (:mod:`db.deletion`);
* the alerter's open conditions (:mod:`db.alerting`).
"""

from __future__ import annotations

from db.access import Access
from db.alerting import Alerting
from db.deletion import Deletion
from db.reads import Reads
from db.registry import Registry
from db.work import WorkQueue


class Catalog(WorkQueue, Deletion, Reads, Registry, Access, Alerting):
    """All catalog operations over one engine (safe to share between threads)."""

    def close(self) -> None:
        self.engine.dispose()
