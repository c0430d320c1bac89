"""Prometheus metrics: request latencies measured here, capture state read from the catalog.

Each app has its own registry (several apps can live in one process, as in the tests).
Capture figures are collected at scrape time from the catalog, so they are right whichever
process did the work (rig workers write to the catalog, not to this server):

* ``jxdaq_takes_captured_total`` / ``jxdaq_samples_failed_total``: over every job;
* ``jxdaq_takes_per_second``: the recent capture rate summed over running jobs;
* ``jxdaq_queue_depth``: samples of queued and running jobs not yet captured or failed;
* ``jxdaq_jobs{state}``, ``jxdaq_rig_status{rig,status}`` (1 for the rig's status),
  ``jxdaq_rig_heartbeat_age_seconds``, ``jxdaq_rig_latency_seconds``, ``jxdaq_rig_drift_db``;
* ``jxdaq_http_request_duration_seconds{method,route,status}``: a histogram per route template.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daq.api.rigstate import RigState, rig_states
from daq.api.routes import api_routes
from db.catalog import Catalog
from db.records import JobInfo
from db.schema import RUNNABLE_JOB_STATES, JobState, RigStatus, utcnow

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_JOB_PAGE = 1000


def _all_jobs(catalog: Catalog) -> Iterator[JobInfo]:
    after = 0
    while page := catalog.list_jobs(after_id=after, limit=_JOB_PAGE):
        yield from page
        after = page[-1].id


class CatalogCollector(Collector):
    """Reads the capture state from the catalog on every scrape."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("jxdaq_catalog_up", "1 when the catalog answered this scrape")
        try:
            metrics = list(self._from_catalog())
        except Exception:  # a scrape must say the catalog is down, not fail
            log.exception("metrics: the catalog could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _from_catalog(self) -> Iterator[Metric]:
        jobs = list(_all_jobs(self.catalog))
        captured = CounterMetricFamily("jxdaq_takes_captured", "Takes captured, all jobs")
        captured.add_metric([], sum(job.captured for job in jobs))
        failed = CounterMetricFamily("jxdaq_samples_failed", "Samples failed for good, all jobs")
        failed.add_metric([], sum(job.failed for job in jobs))
        by_state = Counter(job.state for job in jobs)
        states = GaugeMetricFamily("jxdaq_jobs", "Jobs by state", labels=["state"])
        for state in JobState:
            states.add_metric([state.value], by_state[state])
        rate = queue = 0.0
        for job in jobs:
            if job.state in RUNNABLE_JOB_STATES:
                progress = self.catalog.job_progress(job.id)
                rate += progress.rate_per_s
                queue += progress.pending + progress.claimed
        yield captured
        yield failed
        yield states
        yield _gauge("jxdaq_takes_per_second", "Recent capture rate over running jobs", rate)
        yield _gauge("jxdaq_queue_depth", "Samples left in queued and running jobs", queue)
        yield from _rig_metrics(rig_states(self.catalog, utcnow()))


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge


def _rig_metrics(rigs: list[RigState]) -> Iterator[Metric]:
    status = GaugeMetricFamily(
        "jxdaq_rig_status", "1 for each rig's status", labels=["rig", "status"]
    )
    age = GaugeMetricFamily(
        "jxdaq_rig_heartbeat_age_seconds", "Time since the rig's last heartbeat", labels=["rig"]
    )
    latency = GaugeMetricFamily(
        "jxdaq_rig_latency_seconds", "Calibrated round-trip latency", labels=["rig"]
    )
    drift = GaugeMetricFamily("jxdaq_rig_drift_db", "Newest drift calibration", labels=["rig"])
    for rig in rigs:
        for value in RigStatus:
            status.add_metric([rig.name, value.value], float(rig.status == value))
        if rig.heartbeat_age_s is not None:
            age.add_metric([rig.name], rig.heartbeat_age_s)
        if rig.latency_s is not None:
            latency.add_metric([rig.name], rig.latency_s)
        if rig.drift is not None and rig.drift.value is not None:
            drift.add_metric([rig.name], rig.drift.value)
    yield from (status, age, latency, drift)


class ApiMetrics:
    """The app's registry: request latencies plus the catalog collector."""

    def __init__(self, catalog: Catalog) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "jxdaq_http_request_duration_seconds",
            "Time to answer a request, by route template",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(CatalogCollector(catalog))


class LatencyMiddleware:
    """ASGI middleware timing every HTTP request (until its last byte is sent)."""

    def __init__(self, app: Any, metrics: ApiMetrics, api: FastAPI) -> None:
        self.app = app
        self.metrics = metrics
        self.api = api
        self._templates: dict[int, str] | None = None

    def _template(self, scope: dict[str, Any]) -> str:
        """The matched route's full path template (its own ``path`` may lack prefixes: an
        included router's, or a mounted app's such as the dashboard's ``/dashboard``)."""
        route = scope.get("route")
        if route is None:
            return "unmatched"
        if self._templates is None:  # routes are all in place once requests arrive
            self._templates = {id(r): template for template, r in api_routes(self.api)}
        if id(route) in self._templates:
            return self._templates[id(route)]
        mount = scope.get("root_path", "").removeprefix(scope.get("app_root_path", ""))
        return mount + getattr(route, "path", "")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def timed_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.latency.labels(
                scope["method"], self._template(scope), str(status)
            ).observe(time.perf_counter() - start)
