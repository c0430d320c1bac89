"""The dashboard's session: a strict HttpOnly cookie from a good token, no login for rig or
revoked tokens, the CSRF header and origin needed to change state, the token's role kept."""

from __future__ import annotations

from api_support import DASHBOARD as D
from api_support import JOBS, alerts, login

from daq.api.session import COOKIE, CSRF_HEADER, csrf_token
from db.schema import Role


def test_a_good_token_logs_in_with_a_strict_httponly_session_cookie(sqlite_api):
    api = sqlite_api
    api.auth(Role.OPERATOR)
    secret = api.secrets[Role.OPERATOR]
    form = {"token": f"  {secret} ", "next": f"{D}/rigs"}
    answer = api.client.post(f"{D}/login", data=form, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"{D}/rigs"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={secret};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert not any(a.startswith(("max-age", "expires")) for a in attributes)  # a session cookie
    page = api.client.get(f"{D}/jobs")
    assert page.status_code == 200 and "test-operator" in page.text and "Log out" in page.text


def test_revoked_and_rig_tokens_cannot_log_in_and_a_revoked_session_ends(sqlite_api):
    api = sqlite_api
    api.auth(Role.RIG)
    rig = api.client.post(f"{D}/login", data={"token": api.secrets[Role.RIG]})
    assert rig.status_code == 401 and "Rig tokens are for workers" in alerts(rig.text)[0]
    login(api, Role.OPERATOR)
    assert api.client.get(f"{D}/jobs").status_code == 200
    token = api.catalog.authenticate(api.secrets[Role.OPERATOR])
    api.catalog.revoke_token(token.id)
    after = api.client.get(f"{D}/jobs", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith(f"{D}/login")
    assert f'{COOKIE}=""' in after.headers["set-cookie"]  # the stale cookie is dropped
    assert api.client.get(JOBS).status_code == 401  # and the API refuses it too


# -- the API with the session cookie ----------------------------------------------------------
def test_the_api_takes_the_cookie_and_needs_the_csrf_header_and_origin_to_change_state(
    sqlite_api,
):
    api = sqlite_api
    csrf = login(api, Role.OPERATOR)
    spec = {"source": {"kind": "uniform"}, "count": 2}
    assert api.client.get(JOBS).status_code == 200
    no_header = api.client.post(JOBS, json=spec)
    assert no_header.status_code == 403 and CSRF_HEADER in no_header.json()["detail"]
    forged = api.client.post(JOBS, json=spec, headers={CSRF_HEADER: csrf_token("other")})
    assert forged.status_code == 403
    foreign = api.client.post(
        JOBS, json=spec, headers={CSRF_HEADER: csrf, "Origin": "http://localhost:9999"}
    )
    assert foreign.status_code == 403
    assert api.catalog.list_jobs() == []
    made = api.client.post(
        JOBS, json=spec, headers={CSRF_HEADER: csrf, "Origin": "http://testserver"}
    )
    assert made.status_code == 201
    api.client.cookies.clear()  # a bearer token needs no CSRF header: no browser sends it
    assert api.as_(Role.OPERATOR, "POST", JOBS, json=spec).status_code == 201


def test_the_cookie_carries_the_role_of_its_token(sqlite_api):
    api = sqlite_api
    csrf = login(api, Role.TRAINER)
    answer = api.client.post(
        JOBS, json={"source": {"kind": "uniform"}, "count": 2}, headers={CSRF_HEADER: csrf}
    )
    assert answer.status_code == 403 and "resynthesis" in answer.json()["detail"]
