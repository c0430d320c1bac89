"""A sample that cannot be recorded fails after the job's attempts with its reason; the worker
goes on with the next sample and the job completes (issue 11, item 1).

The failure is injected by the catalog itself: a trigger that rejects the take of one sample,
as a CHECK constraint rejected the takes of a poison bank. Nothing of ours is mocked.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from daq.api.schemas import JobDetailOut
from daq.banks import LocalFiles
from daq.job_backends import JobView, LocalJobs
from daq.jobs import job_report, submit_job
from daq.rigs import EMULATED
from daq.spec import JobSpec, validate_spec
from daq.worker import Worker
from db.schema import FINAL_JOB_STATES, JobState, SampleState
from db.verify import verify

POISON_INDEX = 2
REJECTION = "rejected by the test trigger"

SQLITE_TRIGGER = f"""
CREATE TRIGGER reject_one_take BEFORE INSERT ON takes
WHEN (SELECT "index" FROM samples WHERE id = NEW.sample_id) = {POISON_INDEX}
BEGIN SELECT RAISE(ABORT, '{REJECTION}'); END
"""
POSTGRES_TRIGGER = [
    f"""
CREATE FUNCTION reject_one_take() RETURNS trigger AS $$
BEGIN
  IF (SELECT "index" FROM samples WHERE id = NEW.sample_id) = {POISON_INDEX} THEN
    RAISE EXCEPTION '{REJECTION}' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql
""",
    "CREATE TRIGGER reject_one_take BEFORE INSERT ON takes "
    "FOR EACH ROW EXECUTE FUNCTION reject_one_take()",
]


def wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s"
        time.sleep(0.1)


def reject_one_take(catalog) -> None:
    """Make the catalog refuse the take of sample ``POISON_INDEX`` of every job."""
    postgres = catalog.engine.dialect.name == "postgresql"
    with catalog.engine.begin() as connection:
        for statement in POSTGRES_TRIGGER if postgres else [SQLITE_TRIGGER]:
            connection.execute(text(statement))


def run_until_over(catalog, worker: Worker, job_id: int) -> None:
    """Run ``worker`` on any job, on a thread, until job ``job_id`` is over; then stop it."""
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: catalog.get_job(job_id).state in FINAL_JOB_STATES, 240)
    finally:
        worker.stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()


def loud_job(count: int, priority: int = 0) -> JobSpec:
    """``count`` tones that all pass QC (the INIT tone, its filter swept)."""
    return JobSpec.model_validate(
        {"source": {"kind": "sweep", "parameter": "VCF FREQ", "start": 70, "stop": 127,
                    "steps": count},
         "priority": priority, "capture": {"hold_s": 0.2, "tail": {"max_s": 0.1}}}
    )  # fmt: skip


def test_a_take_the_catalog_refuses_fails_its_sample_and_the_worker_goes_on(emulated_services):
    catalog, store = emulated_services
    reject_one_take(catalog)
    job = submit_job(catalog, loud_job(12))
    Worker(catalog, store, EMULATED).run(job_id=job.id)

    finished = catalog.get_job(job.id)
    assert finished.state == JobState.COMPLETED
    assert (finished.captured, finished.failed) == (11, 1)
    (failed,) = catalog.list_samples(job.id, SampleState.FAILED)
    assert failed.index == POISON_INDEX
    assert failed.attempts == finished.max_attempts  # bounded: tried, then given up
    assert REJECTION in failed.last_error and "recording failed" in failed.last_error
    events = [e for e in catalog.list_events(job_id=job.id) if e.kind == "take.unrecorded"]
    assert len(events) == finished.max_attempts and REJECTION in events[-1].message
    assert catalog.get_rig(EMULATED.name).status_reason is None  # not a rig fault

    report = job_report(catalog, job.id)
    assert [(f.index, REJECTION in f.last_error) for f in report.failures] == [(POISON_INDEX, True)]
    # What an operator reads: the API's job detail and `jxdaq job status` (local or over HTTP).
    detail = JobDetailOut.from_report(report)
    assert [(f.index, f.attempts) for f in detail.failures] == [
        (POISON_INDEX, finished.max_attempts)
    ]
    over_http = JobView.from_json(detail.model_dump(mode="json"))
    assert over_http.failures == LocalJobs(catalog).get(job.id).failures
    (line,) = over_http.failure_lines()
    assert line.startswith(f"  sample {POISON_INDEX} failed: ") and REJECTION in line
    # Nothing half-written: one take per captured sample, every file accounted for.
    assert verify(catalog, store).clean


def test_a_poison_sample_does_not_starve_lower_priority_jobs(emulated_services):
    catalog, store = emulated_services
    reject_one_take(catalog)
    first = submit_job(catalog, loud_job(4, priority=5))
    second = submit_job(catalog, loud_job(4, priority=0))
    run_until_over(catalog, Worker(catalog, store, EMULATED, batch=2), second.id)
    assert catalog.get_job(first.id).failed == 1
    assert catalog.get_job(second.id).failed == 1  # its sample 2 is refused too
    for job in (first, second):
        assert catalog.get_job(job.id).state == JobState.COMPLETED


@pytest.mark.parametrize("bank", ["jx8p-3.rom.syx"])
def test_a_job_over_a_real_bank_completes(emulated_services, shared_data, bank):
    """The bank that first stopped every worker (tone BACKWARD holds a byte of 0x80)."""
    catalog, store = emulated_services
    spec = validate_spec(
        {"source": {"kind": "bank", "banks": [str(shared_data / "jx8p-banks" / bank)]},
         "capture": {"hold_s": 0.2, "tail": {"max_s": 0.1}}},
        LocalFiles(),
    )  # fmt: skip
    job = submit_job(catalog, spec)
    Worker(catalog, store, EMULATED).run(job_id=job.id)
    finished = catalog.get_job(job.id)
    assert finished.state == JobState.COMPLETED
    assert finished.captured + finished.failed == finished.count
    assert verify(catalog, store).clean


def test_a_job_the_rig_cannot_capture_fails_after_its_attempts_and_the_worker_goes_on(
    emulated_services,
):
    """The emulated rig renders at 44.1 or 48 kHz only: capture raises for every sample of a
    96 kHz job, which is no fault of the rig. Its samples fail, the next job is captured."""
    catalog, store = emulated_services
    unrenderable = submit_job(catalog, JobSpec.model_validate(
        {"source": {"kind": "uniform"}, "count": 3, "priority": 5,
         "capture": {"sample_rate": 96000, "hold_s": 0.2, "tail": {"max_s": 0.1}}}))  # fmt: skip
    after = submit_job(catalog, loud_job(3))
    worker = Worker(catalog, store, EMULATED)
    run_until_over(catalog, worker, after.id)
    failed = catalog.get_job(unrenderable.id)
    assert failed.state == JobState.COMPLETED and (failed.captured, failed.failed) == (0, 3)
    for sample in catalog.list_samples(failed.id):
        assert sample.attempts == failed.max_attempts and "96000" in sample.last_error
        assert sample.last_error_code == "capture_failed"
    assert catalog.get_job(after.id).captured == 3
    assert worker.stats.faults == 0
