"""The conditions an operator must act on, as the catalog (and the disks) show them now.

Each condition has a key that stays the same while it lasts (``rig.faulted:board``), so
that the alerter tells it once and again only after it has cleared. A condition is a plain
value; reading them changes nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from daq.rigs.calibration import DRIFT
from daq.settings import Alerts
from db.catalog import Catalog
from db.records import JobInfo
from db.schema import JobState, RigStatus
from db.store import AudioStore

MB = 1024 * 1024
#: A job that finished longer ago than this is not news: a first start does not tell old ones.
FINISHED_NEWS = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Condition:
    """Something wrong (or done) that an operator should hear about once."""

    key: str
    kind: str
    title: str
    cause: str
    action: str
    rig: str | None = None
    job_id: int | None = None


#: What an operator is told when a condition of each kind clears (kinds absent: nothing).
CLEARED = {
    "rig.faulted": "rig {rig} recovered: it works again",
    "rig.silent": "rig {rig}: its worker is heard from again",
    "disk.low": "{where} has room again",
    "job.slow": "job {job}: capture rate is back above the threshold",
}


def current_conditions(
    catalog: Catalog, store: AudioStore, settings: Alerts, floor_mb: int, now: datetime
) -> list[Condition]:
    """Every condition that holds at ``now``."""
    return [
        *_rig_conditions(catalog, settings, now),
        *_job_conditions(catalog, settings, now),
        *_disk_conditions(catalog, store, settings.disk_floor_mb(floor_mb)),
    ]


def _rig_conditions(catalog: Catalog, settings: Alerts, now: datetime) -> Iterator[Condition]:
    silent_after = timedelta(seconds=settings.heartbeat_s)
    for rig in catalog.list_rigs():
        if rig.status == RigStatus.FAULTED:
            yield Condition(
                f"rig.faulted:{rig.name}",
                "rig.faulted",
                f"rig {rig.name} faulted",
                rig.status_reason or "no reason recorded",
                "check the device the cause names (power, cable, port, free space); the "
                "worker retries by itself and an alert says when the rig works again",
                rig=rig.name,
            )
        heard = rig.last_heartbeat
        # A faulted rig is told already; its worker heartbeats only as it retries the rig
        # (not at all while the store is below its floor), so silence there is no news.
        quiet = rig.status not in (RigStatus.OFFLINE, RigStatus.FAULTED)
        if quiet and heard is not None and now - heard > silent_after:
            yield Condition(
                f"rig.silent:{rig.name}",
                "rig.silent",
                f"rig {rig.name} is silent",
                f"no heartbeat from its worker for {(now - heard).total_seconds():.0f} s "
                f"(since {heard:%Y-%m-%d %H:%M:%S} UTC; alerts after {settings.heartbeat_s:g} s)",
                f"check that 'jxdaq worker {rig.name}' runs and its host is up; its claims "
                "return to the queue when their leases expire",
                rig=rig.name,
            )


def _jobs(catalog: Catalog, states: tuple[JobState, ...]) -> Iterator[JobInfo]:
    after = 0
    while page := catalog.list_jobs(states, after_id=after, limit=500):
        yield from page
        after = page[-1].id


def _job_conditions(catalog: Catalog, settings: Alerts, now: datetime) -> Iterator[Condition]:
    for job in _jobs(catalog, (JobState.COMPLETED, JobState.FAILED)):
        if job.finished_at is None or now - job.finished_at > FINISHED_NEWS:
            continue
        if job.state == JobState.COMPLETED:
            yield Condition(
                f"job.done:{job.id}",
                "job.completed",
                f"job {job.id} ({job.name}) completed",
                f"{job.captured} takes captured, {job.failed} samples failed",
                f"freeze a dataset from it ('jxdaq dataset freeze NAME --job {job.id}') or "
                "submit the next job",
                job_id=job.id,
            )
        else:
            yield Condition(
                f"job.done:{job.id}",
                "job.failed",
                f"job {job.id} ({job.name}) failed",
                job.state_reason or "no reason recorded",
                "read the reason and the job's events ('jxdaq job status'), fix the cause and "
                "submit the job again",
                job_id=job.id,
            )
    drifted = _drifted_jobs(catalog)
    for job in _jobs(catalog, (JobState.PAUSED,)):
        if job.id in drifted:
            yield Condition(
                f"job.paused:{job.id}",
                "job.paused",
                f"job {job.id} ({job.name}) paused by drift",
                job.state_reason or "",
                f"recalibrate the rig ('jxdaq rig calibrate'), then 'jxdaq job resume {job.id}'",
                job_id=job.id,
            )
    if settings.min_rate_per_s > 0:
        yield from _slow_jobs(catalog, settings, now)


def _drifted_jobs(catalog: Catalog) -> set[int]:
    """Jobs whose rig's newest drift check exceeded its threshold (such a check pauses the
    job it ran for: daq.rigs.calibration); a recalibrated rig's newest check is within."""
    jobs = set()
    for rig in catalog.list_rigs():
        newest = catalog.list_calibrations(rig.name, DRIFT, limit=1)
        if newest and newest[0].result.get("exceeded") and newest[0].result.get("job_id"):
            jobs.add(newest[0].result["job_id"])
    return jobs


def _slow_jobs(catalog: Catalog, settings: Alerts, now: datetime) -> Iterator[Condition]:
    window = timedelta(seconds=settings.rate_window_s)
    counts = catalog.takes_since(now - window)
    for job in _jobs(catalog, (JobState.RUNNING,)):
        if job.started_at is None or now - job.started_at < window:
            continue  # too young to have a rate over the whole window
        rate = counts.get(job.id, 0) / settings.rate_window_s
        if rate < settings.min_rate_per_s:
            yield Condition(
                f"job.slow:{job.id}",
                "job.slow",
                f"job {job.id} ({job.name}) captures slowly",
                f"{rate:.3f} takes/s over the last {settings.rate_window_s:g} s, below "
                f"{settings.min_rate_per_s:g} takes/s (alerts.min_rate_per_s)",
                "check the job's rigs on the dashboard: faulted, silent or failing takes",
                job_id=job.id,
            )


def _disk_conditions(catalog: Catalog, store: AudioStore, floor_mb: int) -> Iterator[Condition]:
    # (key's place, where in words, free bytes); the key stays short whatever the paths
    places: list[tuple[str, str, int | None]] = [
        ("audio store", f"audio store {store.root}", store.free_bytes())
    ]
    url = catalog.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        free = shutil.disk_usage(Path(url.database).parent).free
        places.append(("catalog", f"catalog {url.database}", free))
    for place, where, free in places:
        if free is not None and free < floor_mb * MB:
            yield Condition(
                f"disk.low:{place}",
                "disk.low",
                f"{where}: disk nearly full",
                f"{free // MB} MB free, below {floor_mb} MB (alerts.disk_min_free_mb, "
                "default store_min_free_mb: workers stop claiming below it)",
                "free space on that disk or move the store; workers resume by themselves",
            )
