"""A job's samples: the rows rigs worked on, filtered by state, with their failures."""

from __future__ import annotations

from api_support import JOBS

from daq.rigs import EMULATED
from daq.worker import Worker
from db.schema import Role


def test_a_captured_job_shows_progress_per_rig_its_samples_and_failures(api, tmp_path):
    silent_then_loud = {
        "name": "two tones",
        "source": {"kind": "list", "tones": [{"VCA LEVEL": 0}, {"VCA LEVEL": 127}]},
        "capture": {"hold_s": 0.3, "tail": {"max_s": 0.2}},
        "rigs": ["emulated"],
    }
    job_id = api.as_(Role.OPERATOR, "POST", JOBS, json=silent_then_loud).json()["id"]
    Worker(api.catalog, api.store, EMULATED).run(job_id=job_id)

    job = api.as_(Role.TRAINER, "GET", f"{JOBS}/{job_id}").json()
    assert job["state"] == "completed"
    progress = job["progress"]
    assert (progress["count"], progress["captured"], progress["failed"]) == (2, 1, 1)
    assert progress["done"] == 2 and progress["fraction"] == 1.0 and progress["eta_s"] == 0.0
    assert progress["pending"] == progress["claimed"] == 0
    assert [(r["rig"], r["takes"], r["claimed"]) for r in progress["rigs"]] == [("emulated", 1, 0)]

    samples = api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}/samples").json()
    assert [(s["index"], s["state"]) for s in samples["items"]] == [(0, "failed"), (1, "captured")]
    failed = api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}/samples", params={"state": "failed"})
    [sample] = failed.json()["items"]
    assert "silent" in sample["last_error"] and sample["tone"]["parameters"]["vca_level"] == 0
    history = api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}/history")
    assert "silent" in history.text

    takes = api.as_(Role.TRAINER, "GET", "/api/v1/takes", params={"job": job_id}).json()
    [take] = takes["items"]
    assert (take["rig"], take["sample_index"]) == ("emulated", 1)
    audio = api.as_(Role.TRAINER, "GET", f"/api/v1/takes/{take['id']}/audio")
    assert audio.status_code == 200 and audio.content.startswith(b"fLaC")
