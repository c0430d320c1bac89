"""Deleting a job (admin): ``DELETE /api/v1/jobs/{id}?takes=remove|keep``, ``jxdaq job delete``
(db/deletion.py). With ``remove`` takes go with their job; audio leaves the store only when no
other take shares its sha256; frozen datasets never change under a deletion. With ``keep`` the
job stays only as its takes' provenance (a tombstone), gone from every view of jobs."""

from __future__ import annotations

import pytest
from api_support import JOBS, RIG, Api, record_takes, sine
from sqlalchemy import func, select
from typer.testing import CliRunner

from daq.settings import get_settings
from db.engine import open_catalog
from db.records import JobDeleted, NewTake, TakeFilter
from db.schema import JobSpecRow, JobState, QcVerdict, Role, Sample, utcnow
from db.store import AudioStore
from firmware_protocol.tone import Tone
from jxdaq.cli import app as cli
from models.data import take_records

ADMIN = Role.ADMIN
PASS = QcVerdict.PASS


def test_a_job_goes_with_its_takes_and_the_audio_only_they_held(api):
    shared_job, (shared_take,) = record_takes(api, [{"VCF FREQ": 1}], frequency=440.0)
    job, _ = record_takes(api, [{"VCF FREQ": 2}, {"VCF FREQ": 3}], frequency=440.0)
    _, (other,) = record_takes(api, [{"VCF FREQ": 4}], frequency=660.0)
    unique_job, _ = record_takes(api, [{"VCF FREQ": 5}], frequency=880.0)
    shared_key = api.catalog.get_take(shared_take).audio.key
    unique_key = api.catalog.get_take(
        api.catalog.query_takes(TakeFilter(job_id=unique_job)).items[0].id
    ).audio.key

    answer = api.as_(ADMIN, "DELETE", f"{JOBS}/{job}", params={"takes": "remove"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "id": job,
        "name": "recorded",
        "takes_removed": 2,
        "takes_kept": 0,
        "audio_removed": 0,
    }
    assert api.as_(ADMIN, "GET", f"{JOBS}/{job}").status_code == 404
    assert api.catalog.count_takes(TakeFilter(job_id=job)) == 0
    assert api.store.exists(shared_key)  # job shared_job's take still needs it
    assert api.as_(ADMIN, "GET", f"/api/v1/takes/{shared_take}/audio").status_code == 200
    assert api.catalog.get_take(other).job_id != job

    gone = api.as_(ADMIN, "DELETE", f"{JOBS}/{unique_job}", params={"takes": "remove"})
    assert gone.json()["audio_removed"] == 1 and not api.store.exists(unique_key)
    events = [e for e in api.catalog.list_events(limit=1000) if e.kind == "job_deleted"]
    assert [e.data["job_id"] for e in events] == [job, unique_job]
    assert "test-admin" in events[0].message and events[0].data["takes"] == 2
    assert api.as_(ADMIN, "GET", f"{JOBS}/{shared_job}").status_code == 200


def test_a_frozen_dataset_holding_its_takes_refuses_the_deletion_by_name(api):
    job, _ = record_takes(api, [{"VCF FREQ": 10}, {"VCF FREQ": 90}])
    other, _ = record_takes(api, [{"VCF FREQ": 10}])
    api.catalog.freeze_dataset("lows", TakeFilter(parameters=()), {"all": 1.0})
    api.catalog.freeze_dataset("other", TakeFilter(job_id=other), {"all": 1.0})
    answer = api.as_(ADMIN, "DELETE", f"{JOBS}/{job}", params={"takes": "remove"})
    assert answer.status_code == 409
    assert "lows" in answer.json()["detail"] and "other" not in answer.json()["detail"]
    assert api.catalog.count_takes(TakeFilter(job_id=job)) == 2  # nothing half-deleted
    later, _ = record_takes(api, [{"VCF FREQ": 20}])  # after the freeze: in no dataset
    assert api.as_(ADMIN, "DELETE", f"{JOBS}/{later}", params={"takes": "remove"}).is_success


def _partly_recorded(api: Api) -> tuple[int, list[int]]:
    """A cancelled job of 3 samples: 2 with takes, 1 claimed and given back (no take)."""
    api.catalog.upsert_rig(RIG, "emulator")
    job = api.catalog.create_job("partial", {"capture": {"hold_s": 1.0}}, 3, seed=7)
    claims = [api.catalog.claim_next(RIG, 60) for _ in range(3)]
    assert all(claims)
    api.catalog.release(claims[2])  # type: ignore[arg-type]
    audio = api.store.write(sine(440.0), 44100)
    new = [NewTake(c, Tone.from_values({}).data, audio, PASS, utcnow(), "test") for c in claims]
    takes = api.catalog.record_takes(new[:2])  # type: ignore[arg-type]
    assert api.as_(ADMIN, "POST", f"{JOBS}/{job.id}/cancel").status_code == 200
    return job.id, takes  # type: ignore[return-value]


def _rows(api: Api, table, job: int) -> int:
    with api.catalog.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(table).where(table.job_id == job)
        ).scalar_one()


def test_keep_leaves_the_takes_and_the_job_only_as_their_provenance(api):
    job, takes = _partly_recorded(api)
    other, _ = record_takes(api, [{"VCF FREQ": 70}])
    api.catalog.freeze_dataset("partial", TakeFilter(job_id=job), {"all": 1.0})

    answer = api.as_(ADMIN, "DELETE", f"{JOBS}/{job}", params={"takes": "keep"})
    assert answer.status_code == 200, answer.text  # the dataset loses nothing
    assert answer.json() == {
        "id": job,
        "name": "partial",
        "takes_removed": 0,
        "takes_kept": 2,
        "audio_removed": 0,
    }
    gone = api.as_(ADMIN, "GET", f"{JOBS}/{job}")
    assert gone.status_code == 404
    assert "was deleted at" in gone.json()["detail"] and "by test-admin" in gone.json()["detail"]
    for method, path in [
        ("GET", f"{JOBS}/{job}/spec"),
        ("GET", f"{JOBS}/{job}/history"),
        ("GET", f"{JOBS}/{job}/samples"),
        ("POST", f"{JOBS}/{job}/resume"),
    ]:
        refused = api.as_(ADMIN, method, path)
        assert refused.status_code == 404 and "was deleted" in refused.json()["detail"], path
    priority = api.as_(ADMIN, "PATCH", f"{JOBS}/{job}", json={"priority": 5})
    assert priority.status_code == 404
    listed = api.as_(ADMIN, "GET", JOBS).json()["items"]
    assert [j["id"] for j in listed] == [other]
    metrics = api.as_(ADMIN, "GET", "/metrics").text
    assert 'jxdaq_jobs{state="cancelled"} 0.0' in metrics
    assert "jxdaq_takes_captured_total 1.0" in metrics
    assert api.catalog.claim_next(RIG, 60, job_id=job) is None
    with pytest.raises(JobDeleted):
        api.catalog.set_job_state(job, JobState.QUEUED)

    # What its takes need stays: the takes, their samples (tones), the job's seed and summary.
    assert _rows(api, JobSpecRow, job) == 0 and _rows(api, Sample, job) == 2
    found = api.as_(ADMIN, "GET", "/api/v1/takes", params={"job": job}).json()["items"]
    assert [t["id"] for t in found] == takes
    assert api.as_(ADMIN, "GET", f"/api/v1/takes/{takes[0]}/audio").status_code == 200
    assert [r.job_seed for r in take_records(api.catalog, TakeFilter(job_id=job))] == [7, 7]
    export = api.as_(ADMIN, "GET", "/api/v1/datasets/partial/export.tar")
    assert export.status_code == 200 and export.headers["x-dataset-takes"] == "2"
    event = [e for e in api.catalog.list_events(limit=1000) if e.kind == "job_deleted"][-1]
    assert event.data == {"job_id": job, "takes": 2, "kept": True, "audio": 0, "by": "test-admin"}

    # A repaired take does not bring the job back to life.
    assert api.catalog.mark_take_broken(takes[0], "audio file missing")
    assert api.catalog.get_job(job, include_deleted=True).state == JobState.CANCELLED
    assert [j["id"] for j in api.as_(ADMIN, "GET", JOBS).json()["items"]] == [other]

    again = api.as_(ADMIN, "DELETE", f"{JOBS}/{job}", params={"takes": "keep"})
    assert again.status_code == 409
    assert "was deleted at" in again.json()["detail"] and "takes=remove" in again.json()["detail"]
    held = api.as_(ADMIN, "DELETE", f"{JOBS}/{job}", params={"takes": "remove"})
    assert held.status_code == 409 and "partial" in held.json()["detail"]


def test_remove_on_a_kept_job_removes_its_takes(api):
    job, (take,) = record_takes(api, [{"VCF FREQ": 80}], frequency=990.0)
    key = api.catalog.get_take(take).audio.key
    assert api.as_(ADMIN, "DELETE", f"{JOBS}/{job}", params={"takes": "keep"}).is_success
    removed = api.as_(ADMIN, "DELETE", f"{JOBS}/{job}", params={"takes": "remove"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["takes_removed"] == 1 and removed.json()["audio_removed"] == 1
    assert not api.store.exists(key) and api.catalog.count_takes(TakeFilter(job_id=job)) == 0
    gone = api.as_(ADMIN, "GET", f"{JOBS}/{job}")
    assert gone.status_code == 404 and gone.json()["detail"] == f"job {job} does not exist"


def test_only_a_job_that_is_over(api):
    running = api.catalog.create_job("running", {}, 2, seed=0)
    refused = api.as_(ADMIN, "DELETE", f"{JOBS}/{running.id}", params={"takes": "remove"})
    assert refused.status_code == 409 and "cancel it first" in refused.json()["detail"]
    keep = api.as_(ADMIN, "DELETE", f"{JOBS}/{running.id}", params={"takes": "keep"})
    assert keep.status_code == 409 and "cancel it first" in keep.json()["detail"]
    assert api.as_(ADMIN, "POST", f"{JOBS}/{running.id}/cancel").status_code == 200
    kept = api.as_(ADMIN, "DELETE", f"{JOBS}/{running.id}", params={"takes": "keep"})
    assert kept.status_code == 200 and kept.json()["takes_kept"] == 0

    job, _ = record_takes(api, [{"VCF FREQ": 30}])
    unchosen = api.as_(ADMIN, "DELETE", f"{JOBS}/{job}")
    assert unchosen.status_code == 422 and unchosen.json()["detail"][0]["loc"] == ["query", "takes"]
    missing = api.as_(ADMIN, "DELETE", f"{JOBS}/9999", params={"takes": "remove"})
    assert missing.status_code == 404
    assert (
        api.as_(Role.OPERATOR, "DELETE", f"{JOBS}/{job}", params={"takes": "remove"}).status_code
        == 403
    )


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.delenv("JXDAQ_API_URL", raising=False)
    monkeypatch.delenv("JXDAQ_CONFIG", raising=False)
    monkeypatch.delenv("JXDAQ_CATALOG_URL", raising=False)
    monkeypatch.delenv("JXDAQ_STORE_URL", raising=False)
    monkeypatch.setenv("JXDAQ_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_jxdaq_job_delete_on_the_local_catalog(local):
    catalog = open_catalog(f"sqlite:///{local / 'catalog.db'}")
    store = AudioStore(local / "audio")
    try:
        job, (take,) = record_takes(Api(None, catalog, store), [{"VCF FREQ": 50}])  # type: ignore[arg-type]
        key = catalog.get_take(take).audio.key
    finally:
        catalog.close()
    runner = CliRunner()
    bad = runner.invoke(cli, ["job", "delete", str(job), "--takes", "some"])
    assert bad.exit_code == 1 and "allowed: keep, remove" in bad.output
    kept = runner.invoke(cli, ["job", "delete", str(job), "--takes", "keep"])
    assert kept.exit_code == 0 and f"job {job} 'recorded' deleted, its 1 takes kept" in kept.output
    assert str(job) not in runner.invoke(cli, ["job", "list"]).output
    status = runner.invoke(cli, ["job", "status", str(job)])
    assert status.exit_code == 1 and f"error: job {job} was deleted at" in status.output
    done = runner.invoke(cli, ["job", "delete", str(job), "--takes", "remove"])
    assert done.exit_code == 0, done.output
    assert f"job {job} 'recorded' deleted with its 1 takes (1 audio files removed)" in done.output
    assert not store.exists(key)
    again = runner.invoke(cli, ["job", "delete", str(job), "--takes", "remove"])
    assert again.exit_code == 1 and f"error: job {job} does not exist" in again.output
