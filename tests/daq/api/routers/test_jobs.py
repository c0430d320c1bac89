"""Job routes on SQLite and PostgreSQL: submit (and refuse every kind of bad spec), list,
progress, pause / resume / cancel, priority, history; and a real emulated capture end to end."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from api_support import EXAMPLE, JOBS, LIST_SPEC, UNIFORM
from typer.testing import CliRunner

from daq.job_backends import LocalJobs
from daq.settings import get_settings
from daq.spec import MAX_ENUMERATED, JobSpec, SpecError
from daq.spec_toml import dumps
from db.schema import JobState, Role
from firmware_protocol.parameters import TONE_PARAMETERS
from jxdaq.cli import app as cli

pytestmark = pytest.mark.timeout(120)


def test_the_example_spec_is_accepted_and_stored_as_validated(api):
    spec = tomllib.loads(Path(EXAMPLE).read_text())
    answer = api.as_(Role.OPERATOR, "POST", JOBS, json=spec)
    assert answer.status_code == 201, answer.text
    job = answer.json()
    assert (job["state"], job["count"], job["seed"], job["created_by"]) == (
        "queued",
        200,
        1,
        "test-operator",
    )
    assert answer.headers["Location"] == f"{JOBS}/{job['id']}"
    stored = api.catalog.get_job(job["id"])
    assert stored.spec == job["spec"] and stored.spec["source"]["kind"] == "prior"


# (spec, the field the 422 must name, words the message must hold: the allowed values)
MALFORMED = {
    "count of the wrong type": ({**UNIFORM, "count": "many"}, "count", "valid integer"),
    "hold of the wrong type": (
        {**UNIFORM, "capture": {"hold_s": "long"}},
        "capture.hold_s",
        "valid number",
    ),
    "a tone value of the wrong type": (
        {**UNIFORM, "fixed": {"VCF FREQ": 1.5}},
        "fixed.VCF FREQ.int",
        "valid integer",
    ),
    "a key out of range": (
        {**UNIFORM, "capture": {"notes": [{"key": 200}]}},
        "capture.notes.0.key",
        "less than or equal to 127",
    ),
    "a tone value out of range": (
        {**UNIFORM, "fixed": {"VCF FREQ": 300}},
        "fixed",
        "allowed 0..127",
    ),
    "an unknown switch label": (
        {**UNIFORM, "fixed": {"DCO1 WF": "triangle"}},
        "fixed",
        "noise, square, pulse, saw",
    ),
    "an unknown parameter": (
        {**UNIFORM, "fixed": {"VCF FREQUENCY": 3}},
        "fixed",
        "did you mean 'VCF FREQ'",
    ),
    "an unknown parameter to sweep": (
        {"source": {"kind": "sweep", "parameter": "WOBBLE"}},
        "source.sweep.parameter",
        "known: DCO1 RANGE",
    ),
    "an unknown field": ({**UNIFORM, "colour": "red"}, "colour", "Extra inputs"),
    "an unknown source": (
        {"source": {"kind": "random"}, "count": 1},
        "source",
        "'uniform', 'sobol', 'prior', 'bank', 'sweep', 'list'",
    ),
    "a sample rate no rig records": (
        {**UNIFORM, "capture": {"sample_rate": 22050}},
        "capture.sample_rate",
        "44100, 48000 or 96000",
    ),
    "a note starting after the hold": (
        {**UNIFORM, "capture": {"hold_s": 1, "notes": [{"start_s": 2}]}},
        "capture.notes",
        "allowed 0 <= start_s < hold_s",
    ),
    "a note ending after the hold": (
        {**UNIFORM, "capture": {"hold_s": 1, "notes": [{"start_s": 0.5, "duration_s": 1}]}},
        "capture.notes",
        "allowed duration_s <= 0.5",
    ),
    "a zero hold": ({**UNIFORM, "capture": {"hold_s": 0}}, "capture.hold_s", "greater than 0"),
    "a negative note length": (
        {**UNIFORM, "capture": {"notes": [{"duration_s": -1}]}},
        "capture.notes.0.duration_s",
        "greater than 0",
    ),
    "a tail past a minute": (
        {**UNIFORM, "capture": {"tail": {"max_s": 100}}},
        "capture.tail.max_s",
        "less than or equal to 60",
    ),
    "an endless source without a count": ({"source": {"kind": "uniform"}}, "count", "required"),
    "more takes than the list holds": (
        {"source": {"kind": "list", "tones": [{}]}, "count": 2},
        "count",
        "allowed 1..1",
    ),
    "more takes than the catalog counts": (
        {**UNIFORM, "count": 2**40},
        "count",
        "less than or equal to 2147483647",
    ),
    "a bank that is not there": (
        {"source": {"kind": "bank", "banks": ["no-such-bank.syx"]}},
        "source.bank.banks.0",
        "bank 'no-such-bank.syx': no such .syx file in the server's banks directory",
    ),
    "a bank outside the banks directory": (
        {"source": {"kind": "bank", "banks": ["/etc/passwd"]}},
        "source.bank.banks.0",
        "a bank is named by its .syx file inside the server's banks directory",
    ),
    "a base bank that is not a .syx file": (
        {**UNIFORM, "base": {"bank": "var/catalog.db"}},
        "base.bank",
        "a bank is named by its .syx file inside the server's banks directory",
    ),
    "a negative seed": ({**UNIFORM, "seed": -1}, "seed", "greater than or equal to 0"),
    "a priority out of range": ({**UNIFORM, "priority": 1000}, "priority", "less than or equal"),
    "a bad rig name": ({**UNIFORM, "rigs": ["no spaces"]}, "rigs", "letters, digits"),
    "a NUL in the name": ({**UNIFORM, "name": "a\x00b"}, "name", "U+0000 at position 1"),
    "an escape in the name": ({**UNIFORM, "name": "a\x1b[2Jb"}, "name", "U+001B"),
    "a count that is a bool": ({**UNIFORM, "count": True}, "count", "valid integer"),
    "a count that is text": ({**UNIFORM, "count": "5"}, "count", "valid integer"),
    "a count that is a float": ({**UNIFORM, "count": 5.0}, "count", "valid integer"),
    "a sample rate that is a float": (
        {**UNIFORM, "capture": {"sample_rate": 44100.0}},
        "capture.sample_rate",
        "an integer, got float",
    ),
    "a channel count that is a bool": (
        {**UNIFORM, "capture": {"channels": True}},
        "capture.channels",
        "an integer, got bool",
    ),
    "a sweep of 10**12 steps": (
        {"source": {"kind": "sweep", "parameter": "VCF FREQ", "steps": 10**12}},
        "source.sweep.steps",
        "less than or equal to 10000",
    ),
    "a list of more tones than a spec may hold": (
        {"source": {"kind": "list", "tones": [{}] * 10_001}},
        "source.list.tones",
        "at most 10000 items",
    ),
}


def test_every_malformed_spec_is_a_422_naming_the_field_and_nothing_is_stored(api):
    for case, (spec, field, words) in MALFORMED.items():
        answer = api.as_(Role.OPERATOR, "POST", JOBS, json=spec)
        assert answer.status_code == 422, (case, answer.text)
        errors = {".".join(map(str, e["loc"][1:])): e["msg"] for e in answer.json()["detail"]}
        assert field in errors, (case, errors)
        assert words in errors[field], (case, errors[field])
    assert api.catalog.list_jobs() == []


def test_a_local_submit_refuses_what_the_api_refuses_naming_the_same_field(
    sqlite_api, tmp_path, monkeypatch
):
    """``jxdaq job submit`` without a server runs the API's validation: each malformed spec,
    written as TOML, is refused naming the field the 422 names (a bank is read from the
    spec's folder rather than the server's banks directory, so its words differ)."""
    monkeypatch.delenv("JXDAQ_API_URL", raising=False)
    monkeypatch.delenv("JXDAQ_CONFIG", raising=False)
    monkeypatch.setenv("JXDAQ_VAR_DIR", str(tmp_path / "local"))
    get_settings.cache_clear()
    try:
        for case, (spec, field, words) in MALFORMED.items():
            path = tmp_path / "spec.toml"
            path.write_text(dumps(spec))
            result = CliRunner().invoke(cli, ["job", "submit", str(path)])
            assert result.exit_code == 1, (case, result.output)
            assert f" {field}: " in result.output, (case, result.output)
            assert "banks directory" in words or words in result.output, (case, result.output)
        assert "no jobs" in CliRunner().invoke(cli, ["job", "list"]).output
    finally:
        get_settings.cache_clear()


def test_a_spec_changed_past_its_validation_is_refused_alike(api, tmp_path):
    """A JobSpec object is validated again when submitted here, as the API validates a body:
    ``model_copy(update=...)`` skips pydantic's checks, not the submission's."""
    stretched = JobSpec.model_validate(LIST_SPEC).model_copy(update={"count": 5})
    answer = api.as_(Role.OPERATOR, "POST", JOBS, json=stretched.model_dump(mode="json"))
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "count"]
    with pytest.raises(SpecError, match="the job spec: count: count = 5 is more than the list"):
        LocalJobs(api.catalog).submit(stretched)
    assert api.catalog.list_jobs() == []


def test_a_body_that_is_not_json_is_a_422_and_nothing_is_stored(api):
    answer = api.as_(
        Role.OPERATOR, "POST", JOBS, content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["type"] == "json_invalid"
    assert api.catalog.list_jobs() == []


def test_trainers_may_submit_resynthesis_jobs_only(api):
    refused = api.as_(Role.TRAINER, "POST", JOBS, json=UNIFORM)
    assert refused.status_code == 403
    assert "resynthesis" in refused.json()["detail"] and "'uniform'" in refused.json()["detail"]
    accepted = api.as_(Role.TRAINER, "POST", JOBS, json=LIST_SPEC)
    assert accepted.status_code == 201, accepted.text
    assert [job.id for job in api.catalog.list_jobs()] == [accepted.json()["id"]]


def test_jobs_are_listed_by_state_in_keyset_pages(api):
    ids = [api.as_(Role.OPERATOR, "POST", JOBS, json=UNIFORM).json()["id"] for _ in range(5)]
    api.catalog.set_job_state(ids[1], JobState.PAUSED)
    api.catalog.set_job_state(ids[3], JobState.CANCELLED)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.as_(Role.TRAINER, "GET", JOBS, params=params).json()
        assert len(page["items"]) <= 2
        seen += [job["id"] for job in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    queued_or_paused = api.as_(
        Role.OPERATOR, "GET", JOBS, params={"state": ["queued", "paused"]}
    ).json()
    assert [job["id"] for job in queued_or_paused["items"]] == [ids[0], ids[1], ids[2], ids[4]]


def test_an_unknown_job_is_a_404_that_says_which(api):
    answer = api.as_(Role.OPERATOR, "GET", f"{JOBS}/999")
    assert answer.status_code == 404 and answer.json() == {"detail": "job 999 does not exist"}
    for action in ("pause", "resume", "cancel"):
        assert api.as_(Role.OPERATOR, "POST", f"{JOBS}/999/{action}").status_code == 404
    assert api.as_(Role.OPERATOR, "PATCH", f"{JOBS}/999", json={"priority": 1}).status_code == 404


def test_pause_resume_cancel_and_priority_follow_the_job_state_rules(api):
    job_id = api.as_(Role.OPERATOR, "POST", JOBS, json=UNIFORM).json()["id"]
    paused = api.as_(Role.OPERATOR, "POST", f"{JOBS}/{job_id}/pause", json={"reason": "recable"})
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert paused.json()["state_reason"] == "recable"
    again = api.as_(Role.OPERATOR, "POST", f"{JOBS}/{job_id}/resume")
    assert again.status_code == 200 and again.json()["state"] in ("queued", "running")
    twice = api.as_(Role.OPERATOR, "POST", f"{JOBS}/{job_id}/resume")
    assert twice.status_code == 409 and f"job {job_id}" in twice.json()["detail"]
    priority = api.as_(Role.OPERATOR, "PATCH", f"{JOBS}/{job_id}", json={"priority": 42})
    assert priority.status_code == 200 and priority.json()["priority"] == 42
    assert api.catalog.get_job(job_id).priority == 42
    out_of_range = api.as_(Role.OPERATOR, "PATCH", f"{JOBS}/{job_id}", json={"priority": 101})
    assert out_of_range.status_code == 422
    cancelled = api.as_(Role.OPERATOR, "POST", f"{JOBS}/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    over = api.as_(Role.OPERATOR, "POST", f"{JOBS}/{job_id}/pause")
    assert over.status_code == 409 and "cancelled" in over.json()["detail"]
    history = api.as_(Role.TRAINER, "GET", f"{JOBS}/{job_id}/history")
    assert history.status_code == 200, history.text
    events = history.json()["events"]
    assert [(e["kind"], e["data"].get("to")) for e in events] == [
        ("job.state", "paused"),
        ("job.state", "queued"),
        ("job.priority", 42),
        ("job.state", "cancelled"),
    ]
    assert events[0]["data"]["reason"] == "recable"
    assert {e["data"]["by"] for e in events} == {"test-operator"}
    assert "by test-operator (recable)" in events[0]["message"]
    first = api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}/history", params={"limit": 3})
    assert [e["id"] for e in first.json()["events"]] == [e["id"] for e in events[:3]]
    rest = api.as_(
        Role.OPERATOR,
        "GET",
        f"{JOBS}/{job_id}/history",
        params={"cursor": first.json()["next_cursor"]},
    )
    assert [e["id"] for e in rest.json()["events"]] == [events[3]["id"]]


def test_a_jobs_name_count_seed_priority_and_rigs_read_the_same_everywhere(api):
    """Stored once: after a priority change the whole spec, the job and its summary agree."""
    spec = {**UNIFORM, "name": "once", "seed": 5, "priority": 1, "rigs": ["rig-a"]}
    job_id = api.as_(Role.OPERATOR, "POST", JOBS, json=spec).json()["id"]
    api.as_(Role.OPERATOR, "PATCH", f"{JOBS}/{job_id}", json={"priority": 9})
    job = api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}").json()
    whole = api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}/spec").json()
    facts = {"name": "once", "count": 3, "seed": 5, "priority": 9, "rigs": ["rig-a"]}
    assert {key: job[key] for key in facts} == facts
    assert {key: whole[key] for key in facts} == facts
    assert not facts.keys() & job["spec"].keys()  # the summary shows the rest of the spec


def test_a_running_job_reports_its_rate_eta_and_the_rigs_holding_samples(api):
    job_id = api.as_(Role.OPERATOR, "POST", JOBS, json={**UNIFORM, "count": 10}).json()["id"]
    catalog = api.catalog
    for rig in ("r1", "r2"):
        catalog.upsert_rig(rig, "emulator")
    claims = [catalog.claim_next(rig, 60) for rig in ("r1", "r1", "r2")]
    assert all(claims)
    progress = api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}").json()["progress"]
    assert progress["claimed"] == 3 and progress["pending"] == 7
    assert {r["rig"]: (r["claimed"], r["takes"]) for r in progress["rigs"]} == {
        "r1": (2, 0),
        "r2": (1, 0),
    }
    assert progress["eta_s"] is None  # nothing captured yet: no rate to go by


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_a_422_and_nothing_is_stored(api, value):
    """Python's JSON reader accepts NaN and Infinity; no spec field may hold one."""
    for field in ("hold_s", "settle_s"):
        spec = {"source": {"kind": "uniform"}, "count": 3, "capture": {field: "VALUE"}}
        body = json.dumps(spec).replace('"VALUE"', value)
        answer = api.as_(
            Role.OPERATOR, "POST", JOBS, content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422, (field, value, answer.text)
        assert any("capture" in e["loc"] for e in answer.json()["detail"]), answer.text
    assert api.catalog.list_jobs() == []


def test_a_status_poll_sees_a_change_made_through_the_api_at_once(api):
    """Polls share a job report for half a second, but pausing, resuming or re-prioritising
    through the API forgets it."""
    job_id = api.as_(Role.OPERATOR, "POST", JOBS, json=UNIFORM).json()["id"]
    assert api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}").json()["state"] == "queued"
    api.as_(Role.OPERATOR, "POST", f"{JOBS}/{job_id}/pause")
    assert api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}").json()["state"] == "paused"
    api.as_(Role.OPERATOR, "PATCH", f"{JOBS}/{job_id}", json={"priority": 7})
    assert api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}").json()["priority"] == 7


def test_a_job_of_the_largest_allowed_spec_stays_out_of_lists_pages_and_metrics(api):
    """A list of MAX_ENUMERATED tones of every parameter (megabytes) is held whole for the
    workers, but lists, the job, /metrics and the dashboard's page show its summary."""
    tone = {p.name: 127 for p in TONE_PARAMETERS}
    spec = {"name": "largest", "source": {"kind": "list", "tones": [tone] * MAX_ENUMERATED}}
    created = api.as_(Role.OPERATOR, "POST", JOBS, json=spec)
    assert created.status_code == 201, created.text[:500]
    job_id = created.json()["id"]
    assert created.json()["spec"]["source"]["tones"] == f"{MAX_ENUMERATED} tones"
    listed = api.as_(Role.OPERATOR, "GET", JOBS)
    assert listed.json()["items"][0]["id"] == job_id and len(listed.content) < 2_000
    detail = api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}")
    assert detail.json()["spec"]["source"]["tones"] == f"{MAX_ENUMERATED} tones"
    assert len(detail.content) < 5_000
    assert api.catalog.get_job(job_id).spec == created.json()["spec"]  # the row: a summary
    whole = api.as_(Role.OPERATOR, "GET", f"{JOBS}/{job_id}/spec").json()
    assert whole["source"]["tones"] == [tone] * MAX_ENUMERATED
    assert len(api.as_(Role.OPERATOR, "GET", "/metrics").content) < 10_000
    api.client.cookies.clear()
    api.auth(Role.OPERATOR)
    api.client.post("/dashboard/login", data={"token": api.secrets[Role.OPERATOR]})
    page = api.client.get(f"/dashboard/jobs/{job_id}")
    assert page.status_code == 200 and f"{MAX_ENUMERATED} tones" in page.text
    assert len(page.content) < 50_000
