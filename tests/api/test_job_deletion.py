"""Deleting a job (admin): ``DELETE /api/v1/jobs/{id}?takes=remove|keep``, ``jxdaq job delete``
(db/deletion.py). Takes go with their job; audio leaves the store only when no other take
shares its sha256; frozen datasets never change under a deletion."""

from __future__ import annotations

import pytest
from api_support import JOBS, Api, record_takes
from typer.testing import CliRunner

from daq.cli import app as cli
from daq.settings import get_settings
from db.engine import open_catalog
from db.records import TakeFilter
from db.schema import JobState, Role
from db.store import AudioStore

ADMIN = Role.ADMIN


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
    assert answer.json() == {"id": job, "name": "recorded", "takes_removed": 2, "audio_removed": 0}
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


def test_only_a_job_that_is_over_and_keep_only_without_takes(api):
    running = api.catalog.create_job("running", {}, 2, seed=0)
    refused = api.as_(ADMIN, "DELETE", f"{JOBS}/{running.id}", params={"takes": "remove"})
    assert refused.status_code == 409 and "cancel it first" in refused.json()["detail"]
    assert api.as_(ADMIN, "POST", f"{JOBS}/{running.id}/cancel").status_code == 200
    kept = api.as_(ADMIN, "DELETE", f"{JOBS}/{running.id}", params={"takes": "keep"})
    assert kept.status_code == 200 and kept.json()["takes_removed"] == 0

    job, _ = record_takes(api, [{"VCF FREQ": 30}])
    keep = api.as_(ADMIN, "DELETE", f"{JOBS}/{job}", params={"takes": "keep"})
    assert keep.status_code == 409 and "takes=remove" in keep.json()["detail"]
    assert api.as_(ADMIN, "GET", f"{JOBS}/{job}").json()["state"] == JobState.COMPLETED
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
    done = runner.invoke(cli, ["job", "delete", str(job), "--takes", "remove"])
    assert done.exit_code == 0, done.output
    assert f"job {job} 'recorded' deleted with its 1 takes (1 audio files removed)" in done.output
    assert not store.exists(key)
    again = runner.invoke(cli, ["job", "delete", str(job), "--takes", "remove"])
    assert again.exit_code == 1 and f"error: job {job} does not exist" in again.output
