"""Where ``jxdaq job`` sends its requests: the API, or the catalog on this machine.

One interface, :class:`JobsBackend`, with two implementations: :class:`HttpJobs` (the API,
when ``JXDAQ_API_URL`` is set) and :class:`LocalJobs` (the catalog, through the same
:mod:`daq.jobs` functions the API's routes call). The commands are written once against the
interface, so the laptop without a server and the lab behind one run the same command code.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pydantic import ValidationError

from daq import jobs
from daq.client import ApiClient
from daq.jobs import JobReport
from daq.spec import JobSpec, SpecError, describe_errors
from db.catalog import Catalog
from db.deletion import TakeChoice, delete_job
from db.records import JobInfo, Progress
from db.schema import FINAL_JOB_STATES, JobState
from db.store import AudioStore


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as a person sees it; rate and ETA only where progress was asked for."""

    id: int
    name: str
    state: JobState
    state_reason: str | None
    priority: int
    count: int
    captured: int
    failed: int
    rate_per_s: float | None = None
    eta_s: float | None = None
    #: The first failed samples as ``(index, reason)``, where the job's report was asked for.
    failures: tuple[tuple[int, str], ...] = ()

    @property
    def done(self) -> int:
        return self.captured + self.failed

    @property
    def over(self) -> bool:
        return self.state in FINAL_JOB_STATES

    def line(self) -> str:
        """``job 3 'prior': 120/200 captured, 2 failed, 48.1 takes/s, ETA 2 s [running]``."""
        rate = "" if self.rate_per_s is None else f", {self.rate_per_s:.1f} takes/s"
        eta = "" if self.eta_s is None or self.over else f", ETA {self.eta_s:.0f} s"
        reason = f": {self.state_reason}" if self.state_reason else ""
        return (
            f"job {self.id} {self.name!r}: {self.captured}/{self.count} captured, "
            f"{self.failed} failed{rate}{eta} [{self.state}{reason}]"
        )

    def failure_lines(self) -> list[str]:
        """``  sample 7 failed: <reason>`` for each failed sample the report named."""
        return [f"  sample {index} failed: {reason}" for index, reason in self.failures]

    @classmethod
    def from_info(cls, job: JobInfo, progress: Progress | None = None) -> JobView:
        return cls(
            id=job.id,
            name=job.name,
            state=job.state,
            state_reason=job.state_reason,
            priority=job.priority,
            count=job.count,
            captured=progress.captured if progress else job.captured,
            failed=progress.failed if progress else job.failed,
            rate_per_s=progress.rate_per_s if progress else None,
            eta_s=progress.eta_s if progress else None,
        )

    @classmethod
    def from_report(cls, report: JobReport) -> JobView:
        failures = tuple((s.index, s.last_error or "no reason recorded") for s in report.failures)
        return replace(cls.from_info(report.job, report.progress), failures=failures)

    @classmethod
    def from_json(cls, job: dict[str, Any]) -> JobView:
        """From the API's ``JobOut`` (or ``JobDetailOut``, with ``progress``)."""
        progress = job.get("progress")
        return cls(
            id=job["id"],
            name=job["name"],
            state=JobState(job["state"]),
            state_reason=job.get("state_reason"),
            priority=job["priority"],
            count=job["count"],
            captured=progress["captured"] if progress else job["captured"],
            failed=progress["failed"] if progress else job["failed"],
            rate_per_s=progress["rate_per_s"] if progress else None,
            eta_s=progress["eta_s"] if progress else None,
            failures=tuple((f["index"], f["reason"]) for f in job.get("failures", ())),
        )


def deletion_line(job_id: int, name: str, removed: int, kept: int, audio: int) -> str:
    """``job 3 'prior' deleted with its 200 takes (198 audio files removed)``, or
    ``job 3 'prior' deleted, its 200 takes kept``."""
    if kept:
        return f"job {job_id} {name!r} deleted, its {kept} takes kept"
    return f"job {job_id} {name!r} deleted with its {removed} takes ({audio} audio files removed)"


class JobsBackend(Protocol):
    """What ``jxdaq job`` does to jobs; ``where`` names the server or catalog, for messages."""

    where: str

    def submit(self, spec: JobSpec) -> JobView: ...

    def list(self, states: list[JobState] | None = None) -> list[JobView]: ...

    def get(self, job_id: int) -> JobView: ...

    def change(self, job_id: int, action: str, reason: str | None = None) -> JobView: ...

    def set_priority(self, job_id: int, priority: int) -> JobView: ...

    def delete(self, job_id: int, takes: TakeChoice) -> str: ...


#: The state changes ``change`` accepts.
ACTIONS = ("pause", "resume", "cancel")


class HttpJobs:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.where = client.url

    def submit(self, spec: JobSpec) -> JobView:
        return JobView.from_json(self.client.submit_job(spec.model_dump(mode="json")))

    def list(self, states: list[JobState] | None = None) -> list[JobView]:
        wanted = [state.value for state in states] if states else None
        return [JobView.from_json(job) for job in self.client.list_jobs(wanted)]

    def get(self, job_id: int) -> JobView:
        return JobView.from_json(self.client.get_job(job_id))

    def change(self, job_id: int, action: str, reason: str | None = None) -> JobView:
        return JobView.from_json(self.client.change_job(job_id, action, reason))

    def set_priority(self, job_id: int, priority: int) -> JobView:
        return JobView.from_json(self.client.set_priority(job_id, priority))

    def delete(self, job_id: int, takes: TakeChoice) -> str:
        done = self.client.delete_job(job_id, takes)
        counts = done["takes_removed"], done["takes_kept"], done["audio_removed"]
        return deletion_line(done["id"], done["name"], *counts)


class LocalJobs:
    #: Jobs read per catalog query when listing.
    PAGE = 1000

    def __init__(self, catalog: Catalog, store: AudioStore | None = None) -> None:
        self.catalog = catalog
        #: Where deleted takes' audio is removed from (needed by ``delete`` only).
        self.store = store
        self.where = catalog.engine.url.render_as_string()
        #: Who the job history names for changes made here (no token: the login name).
        self.user = f"{getpass.getuser()} (local)"

    def submit(self, spec: JobSpec) -> JobView:
        try:  # validated again, exactly as the API validates what it is sent
            return JobView.from_info(jobs.submit_job(self.catalog, spec, self.user))
        except ValidationError as error:
            raise SpecError(describe_errors(error, "the job spec")) from None

    def list(self, states: list[JobState] | None = None) -> list[JobView]:
        found: list[JobView] = []
        while True:
            after = found[-1].id if found else 0
            page = self.catalog.list_jobs(states, after_id=after, limit=self.PAGE)
            found += [JobView.from_info(job) for job in page]
            if len(page) < self.PAGE:
                return found

    def get(self, job_id: int) -> JobView:
        return JobView.from_report(jobs.job_report(self.catalog, job_id))

    def change(self, job_id: int, action: str, reason: str | None = None) -> JobView:
        if action not in ACTIONS:
            raise ValueError(f"unknown job action {action!r}; allowed: {', '.join(ACTIONS)}")
        change = getattr(jobs, f"{action}_job")
        return JobView.from_info(change(self.catalog, job_id, reason=reason, by=self.user))

    def set_priority(self, job_id: int, priority: int) -> JobView:
        return JobView.from_info(jobs.set_priority(self.catalog, job_id, priority, by=self.user))

    def delete(self, job_id: int, takes: TakeChoice) -> str:
        if self.store is None:
            raise ValueError("deleting a job needs the audio store its takes are in")
        done = delete_job(self.catalog, self.store, job_id, takes, by=self.user)
        return deletion_line(
            done.job_id, done.name, done.takes_removed, done.takes_kept, len(done.audio_removed)
        )
