"""The dashboard over HTTP: login and session cookie, redirects, CSRF, role-aware pages, the
job form and its errors, progress, takes, rigs with sparklines, and escaping.

The app is the real one (the API with the dashboard mounted) over a real catalog and store.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from api_support import DASHBOARD as D
from api_support import RIG, alerts, login, record_takes

from daq.api.session import csrf_token
from daq.worker import DRIFT, LATENCY
from db.records import TakeFilter
from db.schema import JobState, RigStatus, Role
from firmware_protocol.parameters import BY_KEY, TONE_PARAMETERS

SMALL_JOB = """\
name = "small"
count = 4
[source]
kind = "uniform"
[capture]
hold_s = 0.5
"""
HOSTILE = """<script>alert("x")</script>"'><img src=x onerror=alert(1)>"""


def typed(html: str) -> str:
    """What the job form's textarea holds."""
    return unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", html, re.S).group(1))


def buttons(html: str) -> list[str]:
    """The job actions a page shows (hidden ones left out)."""
    found = re.findall(r'data-action="(\w+)"([^>]*)>', html)
    return [action for action, attributes in found if "hidden" not in attributes]


# -- login, session, redirects -----------------------------------------------------------------
@pytest.mark.parametrize(
    "page", ["/jobs", "/jobs/1", "/rigs", "/jobs/1/takes", "/datasets", "/datasets/x"]
)
def test_pages_send_a_visitor_without_a_session_to_the_login_page(sqlite_api, page):
    answer = sqlite_api.client.get(D + page, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{D}/login?next=" + (D + page).replace("/", "%2F")


def test_the_site_root_and_the_dashboard_root_lead_to_the_jobs(sqlite_api):
    client = sqlite_api.client
    assert client.get("/", follow_redirects=False).headers["location"] == f"{D}/"
    login(sqlite_api, Role.OPERATOR)
    assert client.get(f"{D}/", follow_redirects=False).headers["location"] == f"{D}/jobs"


@pytest.mark.parametrize("token", ["", "jxd_not-a-token", "x" * 5000])
def test_a_bad_token_gets_the_login_page_again_and_no_cookie(sqlite_api, token):
    answer = sqlite_api.client.post(f"{D}/login", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert alerts(answer.text) == ["That token is unknown or revoked."]
    assert sqlite_api.client.get(f"{D}/jobs", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/api/v1/tokens", "/dashboard\\..", ""]
)
def test_login_goes_only_to_dashboard_pages(sqlite_api, target):
    api = sqlite_api
    api.auth(Role.OPERATOR)
    form = {"token": api.secrets[Role.OPERATOR], "next": target}
    answer = api.client.post(f"{D}/login", data=form, follow_redirects=False)
    assert answer.headers["location"] == f"{D}/jobs"


def test_a_cross_origin_login_post_is_refused(sqlite_api):
    api = sqlite_api
    api.auth(Role.OPERATOR)
    answer = api.client.post(
        f"{D}/login",
        data={"token": api.secrets[Role.OPERATOR]},
        headers={"Origin": "http://evil.example"},
    )
    assert answer.status_code == 403 and "set-cookie" not in answer.headers


def test_logout_needs_the_csrf_token_then_forgets_the_session(sqlite_api):
    client = sqlite_api.client
    csrf = login(sqlite_api, Role.OPERATOR)
    refused = client.post(f"{D}/logout", data={"csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get(f"{D}/jobs", follow_redirects=False).status_code == 200
    out = client.post(f"{D}/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == f"{D}/login"
    assert client.get(f"{D}/jobs", follow_redirects=False).status_code == 303


# -- pages ------------------------------------------------------------------------------------
def test_operators_see_job_buttons_and_trainers_do_not(sqlite_api):
    api = sqlite_api
    job_id = api.catalog.create_job("watch me", {}, 5, seed=0).id
    login(api, Role.OPERATOR)
    page = api.client.get(f"{D}/jobs/{job_id}").text
    assert buttons(page) == ["pause", "cancel"]  # a queued job cannot be resumed
    assert 'data-action="resume"' in page  # hidden, for when the job is paused
    login(api, Role.TRAINER)
    page = api.client.get(f"{D}/jobs/{job_id}").text
    assert "data-action" not in page and "watch me" in page
    jobs = api.client.get(f"{D}/jobs").text
    assert "kind = &#34;list&#34;" in jobs  # a trainer's example is a resynthesis job


def test_a_paused_job_offers_resume_and_a_finished_one_no_buttons(sqlite_api):
    api = sqlite_api
    paused = api.catalog.create_job("p", {}, 5, seed=0).id
    api.catalog.set_job_state(paused, JobState.PAUSED, "recabling")
    done = api.catalog.create_job("c", {}, 5, seed=0).id
    api.catalog.set_job_state(done, JobState.CANCELLED, "enough")
    login(api, Role.ADMIN)
    page = api.client.get(f"{D}/jobs/{paused}").text
    assert buttons(page) == ["resume", "cancel"] and "recabling" in page
    assert buttons(api.client.get(f"{D}/jobs/{done}").text) == []


def test_the_job_page_shows_progress_rigs_and_takes_with_spectrograms_and_audio(api):
    job_id, take_ids = record_takes(api, [{"VCF FREQ": v} for v in (10, 50, 90)])
    api.catalog.create_job("waiting", {}, 7, seed=0)
    login(api, Role.OPERATOR)
    page = api.client.get(f"{D}/jobs/{job_id}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert re.search(r'<progress data-field="bar" max="3" value="3">', html)
    assert '<span data-field="done">3</span> / <span data-field="count">3</span>' in html
    assert re.search(rf'data-field="rigs">\s*<tr><td>{RIG}</td><td>[\d.]+ takes/s</td>', html)
    for take_id in take_ids:
        spectrogram = f"/api/v1/takes/{take_id}/spectrogram.png?width=240&amp;height=64"
        audio = f"/api/v1/takes/{take_id}/audio?format=wav"
        assert f'src="{spectrogram}"' in html and f'src="{audio}"' in html
        png = api.client.get(unescape(spectrogram))  # with the session cookie only
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        wav = api.client.get(audio)
        assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
    jobs = api.client.get(f"{D}/jobs").text
    active, finished = jobs.split('id="submit-heading"')
    assert "waiting" in active and 'max="7" value="0"' in active
    assert f"#{job_id} recorded" in finished


def test_each_take_shows_its_tone_with_switch_labels(sqlite_api):
    api = sqlite_api
    waveform = BY_KEY["dco1_wf"]
    job_id, _ = record_takes(api, [{"VCF FREQ": 77, waveform.name: waveform.canonical(2)}])
    login(api, Role.TRAINER)
    for path in (f"{D}/jobs/{job_id}", f"{D}/jobs/{job_id}/takes"):  # the page, live rows
        html = api.client.get(path).text
        assert '<th scope="row">VCF FREQ</th><td>77</td>' in html
        assert f'<th scope="row">{waveform.name}</th><td>{waveform.labels[2]}</td>' in html
        assert html.count('<tr><th scope="row">') == len(TONE_PARAMETERS)


def test_a_dataset_page_shows_selection_splits_histograms_and_filtered_takes(api):
    waveform = BY_KEY["dco1_wf"]
    tones = [
        {"VCF FREQ": v, waveform.name: waveform.canonical(i % 2)}
        for i, v in enumerate((10, 50, 90, 90))
    ]
    job_id, take_ids = record_takes(api, tones)
    api.catalog.freeze_dataset("sines", TakeFilter(job_id=job_id), {"train": 0.5, "test": 0.5})
    login(api, Role.TRAINER)
    listed = api.client.get(f"{D}/datasets").text
    assert f'href="{D}/datasets/sines"' in listed and "train 50 %, test 50 %" in listed
    html = api.client.get(f"{D}/datasets/sines").text
    assert '<dd data-field="takes">4</dd>' in html
    counts = dict(re.findall(r'data-split="(\w+)">.*?data-field="count">(\d+) takes', html))
    assert sorted(counts) == ["test", "train"] and sum(map(int, counts.values())) == 4
    assert f'"job_id": {job_id}' in unescape(html)
    vcf = html.split('data-parameter="VCF FREQ"')[1].split("</figure>")[0]
    assert re.findall(r"<title>(\d+): (\d+)</title>", vcf) == [
        ("10", "1"),
        ("50", "1"),
        ("90", "2"),
    ]
    assert "2 % covered" in vcf  # 3 of 128 values
    wf = html.split(f'data-parameter="{waveform.name}"')[1].split("</figure>")[0]
    labels = waveform.labels
    assert f"{labels[0]} 2, {labels[1]} 2" in wf and html.count('class="histogram"') == 44
    assert all(f'data-take="{t}"' in html for t in take_ids)
    narrowed = api.client.get(f"{D}/datasets/sines", params={"p_vcf_freq": "40..95"}).text
    assert [f'data-take="{t}"' in narrowed for t in take_ids] == [False, True, True, True]
    assert 'name="p_vcf_freq" value="40..95"' in narrowed
    bad = api.client.get(f"{D}/datasets/sines", params={"p_vcf_freq": "90..10"})
    assert bad.status_code == 200 and "VCF FREQ: 90..10 is not a range" in bad.text
    assert api.client.get(f"{D}/datasets/nope").status_code == 404


def test_take_rows_continue_after_a_cursor_for_the_live_page(sqlite_api):
    api = sqlite_api
    job_id, take_ids = record_takes(api, [{"VCF FREQ": v} for v in range(5)])
    login(api, Role.TRAINER)
    first = api.client.get(f"{D}/jobs/{job_id}/takes", params={"limit": 2})
    assert re.findall(r'data-take="(\d+)"', first.text) == [str(i) for i in take_ids[:2]]
    assert first.headers["X-More"] == "1"
    rest = api.client.get(
        f"{D}/jobs/{job_id}/takes", params={"cursor": first.headers["X-Next-Cursor"]}
    )
    assert re.findall(r'data-take="(\d+)"', rest.text) == [str(i) for i in take_ids[2:]]
    assert rest.headers["X-More"] == "0"
    again = api.client.get(
        f"{D}/jobs/{job_id}/takes", params={"cursor": rest.headers["X-Next-Cursor"]}
    )
    assert (
        again.text.strip() == "" and again.headers["X-Next-Cursor"] == rest.headers["X-Next-Cursor"]
    )


def test_unknown_jobs_and_bad_addresses_get_an_error_page(sqlite_api):
    login(sqlite_api, Role.OPERATOR)
    missing = sqlite_api.client.get(f"{D}/jobs/4242")
    assert missing.status_code == 404 and alerts(missing.text) == ["job 4242 does not exist"]
    bad = sqlite_api.client.get(f"{D}/jobs/abc")
    assert bad.status_code == 404 and "job_id" in alerts(bad.text)[0]
    nowhere = sqlite_api.client.get(f"{D}/nowhere")
    assert nowhere.status_code == 404 and nowhere.headers["content-type"].startswith("text/html")


def test_hostile_text_is_escaped_everywhere(sqlite_api):
    api = sqlite_api
    job = api.catalog.create_job(
        HOSTILE, {"source": {"kind": HOSTILE}}, 2, seed=0, created_by=HOSTILE
    )
    api.catalog.upsert_rig("board-x", HOSTILE, audio_device=HOSTILE)
    api.catalog.heartbeat("board-x", RigStatus.FAULTED, HOSTILE)
    login(api, Role.ADMIN)
    for url in (f"{D}/jobs", f"{D}/jobs/{job.id}", f"{D}/rigs"):
        html = api.client.get(url).text
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;alert(" in html, url
    form = api.client.post(
        f"{D}/jobs", data={"csrf": csrf_token(api.secrets[Role.ADMIN]), "spec": HOSTILE}
    )
    assert form.status_code == 422 and "<script>alert" not in form.text


def test_rigs_show_status_reason_heartbeat_latency_and_drift_over_time(api):
    catalog = api.catalog
    catalog.upsert_rig("board-a", "serial", audio_device="hw:1")
    catalog.upsert_rig("board-b", "emulator")
    catalog.heartbeat("board-a")
    for value in (0.5, 0.7, 2.5, 1.0):
        catalog.record_calibration("board-a", DRIFT, {}, value)
    catalog.record_calibration("board-a", LATENCY, {}, 0.0123)
    catalog.heartbeat("board-b", RigStatus.FAULTED, "serial port /dev/ttyUSB0 vanished")
    login(api, Role.TRAINER)
    html = api.client.get(f"{D}/rigs").text
    a, b = html.split('data-rig="board-b"')
    assert "status-idle" in a and "hw:1" in a and "12.3 ms" in a and "1.00 dB" in a
    drift = re.search(r'aria-label="drift of board-a: 4 measurements from 0.5 to 2.5 dB"', a)
    assert drift is not None
    points = re.findall(r'<polyline points="([^"]+)"', a)
    assert [len(p.split()) for p in points] == [1, 4]  # latency, then drift
    assert "status-faulted" in b and "/dev/ttyUSB0 vanished" in b
    assert "no calibrations yet" in b


# -- the job form -------------------------------------------------------------------------------
def test_the_form_submits_toml_or_json_and_opens_the_new_job(api):
    csrf = login(api, Role.OPERATOR)
    page = api.client.get(f"{D}/jobs").text
    example = typed(page)
    made = api.client.post(
        f"{D}/jobs", data={"csrf": csrf, "spec": example}, follow_redirects=False
    )
    assert made.status_code == 303
    job_id = int(made.headers["location"].rsplit("/", 1)[1])
    job = api.catalog.get_job(job_id)
    assert job.count == 10 and job.created_by == "test-operator"
    as_json = '{"name": "json", "count": 2, "source": {"kind": "uniform"}}'
    made = api.client.post(f"{D}/jobs", data={"csrf": csrf, "spec": as_json})
    assert made.status_code == 200 and "Job #" in made.text and "json" in made.text


@pytest.mark.parametrize(
    ("spec", "where", "message"),
    [
        ("count = ", "spec", "not valid TOML"),
        ('{"count": 2,}', "spec", "not valid JSON"),
        ("[1, 2]", "spec", "not valid TOML"),
        (SMALL_JOB.replace("hold_s = 0.5", "hold_s = 900.0"), "capture.hold_s", "less than"),
        (SMALL_JOB.replace("count = 4", 'count = "many"'), "count", "integer"),
        (SMALL_JOB + '\n[fixed]\n"VCF FREK" = 3\n', "fixed", "VCF FREQ"),
    ],
)
def test_a_bad_spec_is_shown_next_to_the_form_and_nothing_is_stored(
    sqlite_api, spec, where, message
):
    api = sqlite_api
    csrf = login(api, Role.OPERATOR)
    answer = api.client.post(f"{D}/jobs", data={"csrf": csrf, "spec": spec})
    assert answer.status_code == 422
    errors = alerts(answer.text)
    assert any(e.startswith(f"{where}:") and message in e for e in errors), errors
    assert 'aria-invalid="true"' in answer.text
    assert typed(answer.text) == spec  # what was typed is kept
    assert api.catalog.list_jobs() == []


def test_a_trainer_may_submit_only_resynthesis_jobs_from_the_form(sqlite_api):
    api = sqlite_api
    csrf = login(api, Role.TRAINER)
    refused = api.client.post(f"{D}/jobs", data={"csrf": csrf, "spec": SMALL_JOB})
    assert refused.status_code == 403 and "resynthesis" in alerts(refused.text)[0]
    page = api.client.get(f"{D}/jobs").text
    example = typed(page)
    made = api.client.post(
        f"{D}/jobs", data={"csrf": csrf, "spec": example}, follow_redirects=False
    )
    assert made.status_code == 303
    assert [j.spec["source"]["kind"] for j in api.catalog.list_jobs()] == ["list"]


@pytest.mark.parametrize(
    ("data", "headers", "status"),
    [
        ({"spec": SMALL_JOB}, {}, 403),
        ({"spec": SMALL_JOB, "csrf": "forged"}, {}, 403),
        ({"spec": SMALL_JOB, "csrf": None}, {"Origin": "http://127.0.0.1:1"}, 403),
    ],
)
def test_form_posts_need_the_csrf_token_and_the_same_origin(sqlite_api, data, headers, status):
    api = sqlite_api
    csrf = login(api, Role.OPERATOR)
    form = {k: (csrf if v is None else v) for k, v in data.items()}
    answer = api.client.post(f"{D}/jobs", data=form, headers=headers)
    assert answer.status_code == status
    assert api.catalog.list_jobs() == []


def test_forms_must_be_urlencoded_and_small(sqlite_api):
    api = sqlite_api
    csrf = login(api, Role.OPERATOR)
    as_json = api.client.post(f"{D}/jobs", json={"csrf": csrf, "spec": SMALL_JOB})
    assert as_json.status_code == 415
    huge = api.client.post(f"{D}/jobs", data={"csrf": csrf, "spec": "#" * (1 << 20)})
    assert huge.status_code == 413
    assert api.catalog.list_jobs() == []


# -- packaging and the API's schema ----------------------------------------------------------------
def test_static_files_are_served_and_the_pages_stay_out_of_the_openapi_schema(sqlite_api):
    client = sqlite_api.client
    css = client.get(f"{D}/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = client.get(f"{D}/static/dashboard.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    paths = sqlite_api.as_(Role.TRAINER, "GET", "/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(D) or p == "/"]
