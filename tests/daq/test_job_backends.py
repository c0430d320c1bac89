"""Where `jxdaq job` sends its requests: a job as a person reads it, the same from the catalog
and from the API's JSON; the local backend names who changed a job."""

from __future__ import annotations

import getpass
from collections.abc import Iterator

import pytest

from daq.job_backends import JobView, LocalJobs, deletion_line
from daq.jobs import (
    job_history,
    pause_job,
)
from db.catalog import Catalog
from db.engine import open_catalog


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    """A catalog on each backend in turn (``catalog_url``: tests/daq/conftest.py)."""
    catalog = open_catalog(catalog_url)
    yield catalog
    catalog.close()


JOB_JSON = {"id": 3, "name": "prior", "state": "running", "state_reason": None, "priority": 0,
            "count": 200, "captured": 100, "failed": 1}  # fmt: skip
PROGRESS = {"captured": 120, "failed": 2, "rate_per_s": 48.1, "eta_s": 1.6}


def test_a_job_reads_as_one_line_with_rate_and_eta_where_progress_was_asked():
    plain = JobView.from_json(JOB_JSON)
    assert plain.line() == "job 3 'prior': 100/200 captured, 1 failed [running]"
    failures = [{"index": 7, "reason": "silent: no sound"}]
    detailed = JobView.from_json({**JOB_JSON, "progress": PROGRESS, "failures": failures})
    assert detailed.line() == (
        "job 3 'prior': 120/200 captured, 2 failed, 48.1 takes/s, ETA 2 s [running]"
    )
    assert detailed.done == 122 and not detailed.over
    assert detailed.failure_lines() == ["  sample 7 failed: silent: no sound"]
    failed = {**JOB_JSON, "state": "failed", "state_reason": "bank unreadable"}
    over = JobView.from_json({**failed, "progress": PROGRESS})
    assert over.over and over.line().endswith("48.1 takes/s [failed: bank unreadable]")


def test_the_catalog_and_the_api_show_a_job_alike(catalog):
    job = catalog.create_job("alike", {}, 4, seed=1, priority=3)
    progress = {"captured": 0, "failed": 0, "rate_per_s": 0.0, "eta_s": None}
    answer = {"id": job.id, "name": "alike", "state": "queued", "state_reason": None,
              "priority": 3, "count": 4, "captured": 0, "failed": 0,
              "progress": progress}  # fmt: skip
    assert LocalJobs(catalog).get(job.id) == JobView.from_json(answer)


def test_a_deletion_says_what_went_and_what_stayed():
    assert deletion_line(3, "prior", 200, 0, 198) == (
        "job 3 'prior' deleted with its 200 takes (198 audio files removed)"
    )
    assert deletion_line(3, "prior", 0, 200, 0) == "job 3 'prior' deleted, its 200 takes kept"


def test_history_names_who_changed_the_job(catalog):
    """The API passes its caller's token name, the local CLI the login name."""
    job = catalog.create_job("who", {}, 5, seed=1).id
    pause_job(catalog, job, "lunch", by="alice-laptop")
    LocalJobs(catalog).change(job, "resume")
    LocalJobs(catalog).set_priority(job, 5)
    events = job_history(catalog, job).events
    me = f"{getpass.getuser()} (local)"
    assert [e.data["by"] for e in events] == ["alice-laptop", me, me]
    assert "by alice-laptop (lunch)" in events[0].message
