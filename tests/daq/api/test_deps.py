"""Authentication and roles: every route of the app x every role x no token.

The routes are walked from the app itself, so a route added later (datasets, dashboard) is
covered without touching this file: it must declare its roles with ``require()``, and those
roles are then enforced. The roles of the core routes are also pinned to the policy below.
"""

from __future__ import annotations

import re

import pytest
from api_support import JOBS, LIST_SPEC, RIG, record_takes
from fastapi.routing import APIRoute

from daq.api.deps import route_roles
from daq.api.routes import api_routes
from db.schema import Role

OPERATOR, TRAINER, RIG_ROLE = Role.OPERATOR, Role.TRAINER, Role.RIG
READERS = {OPERATOR, TRAINER}
#: Who may use each core route besides admin (admin may use every route).
POLICY: dict[tuple[str, str], set[Role]] = {
    ("POST", "/api/v1/jobs"): READERS,
    ("GET", "/api/v1/jobs"): READERS,
    ("GET", "/api/v1/jobs/{job_id}"): READERS,
    ("GET", "/api/v1/jobs/{job_id}/history"): READERS,
    ("GET", "/api/v1/jobs/{job_id}/samples"): READERS,
    ("POST", "/api/v1/jobs/{job_id}/pause"): {OPERATOR},
    ("POST", "/api/v1/jobs/{job_id}/resume"): {OPERATOR},
    ("POST", "/api/v1/jobs/{job_id}/cancel"): {OPERATOR},
    ("PATCH", "/api/v1/jobs/{job_id}"): {OPERATOR},
    ("DELETE", "/api/v1/jobs/{job_id}"): set(),
    ("GET", "/api/v1/takes"): READERS,
    ("GET", "/api/v1/takes/{take_id}"): READERS,
    ("GET", "/api/v1/takes/{take_id}/audio"): READERS,
    ("GET", "/api/v1/takes/{take_id}/spectrogram.png"): READERS,
    ("GET", "/api/v1/rigs"): READERS,
    ("GET", "/api/v1/rigs/{rig}"): {OPERATOR, TRAINER, RIG_ROLE},
    ("POST", "/api/v1/rigs/{rig}/calibrate"): {OPERATOR},
    ("POST", "/api/v1/rigs/{rig}/clear-fault"): {OPERATOR},
    ("POST", "/api/v1/rigs/{rig}/heartbeat"): {RIG_ROLE},
    ("POST", "/api/v1/tokens"): set(),
    ("GET", "/api/v1/tokens"): set(),
    ("DELETE", "/api/v1/tokens/{token_id}"): set(),
    ("GET", "/metrics"): set(Role),
}
OPEN_ROUTES = {("GET", "/health")}
BODIES = {
    ("POST", "/api/v1/jobs"): LIST_SPEC,
    ("PATCH", "/api/v1/jobs/{job_id}"): {"priority": 1},
    ("POST", "/api/v1/tokens"): {"name": "made-by-the-matrix", "role": "trainer"},
}


def operations(app) -> list[tuple[str, str, APIRoute]]:
    return [
        (method, template, route)
        for template, route in api_routes(app)
        for method in sorted(route.methods - {"HEAD"})
    ]


@pytest.fixture
def world(sqlite_api):
    """One of everything a path can name, so admitted roles get past the path lookups."""
    job_id, (take_id,) = record_takes(sqlite_api, [{"VCF FREQ": 10}])
    sqlite_api.catalog.heartbeat(RIG)
    token, _ = sqlite_api.catalog.create_token("to-be-revoked", Role.TRAINER)
    values = {"job_id": job_id, "take_id": take_id, "rig": RIG, "token_id": token.id}
    return sqlite_api, values


def fill(template: str, values: dict[str, object]) -> str:
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: str(values.get(m.group(1), "x")), template)


def test_the_core_routes_declare_the_policy_and_every_other_route_declares_roles(sqlite_api):
    app = sqlite_api.client.app
    declared = {(m, t): route_roles(r) for m, t, r in operations(app)}
    assert set(POLICY) | OPEN_ROUTES <= set(declared), set(POLICY) - set(declared)
    for key, roles in declared.items():
        if key in OPEN_ROUTES:
            assert roles is None, f"{key} must not need a token"
            continue
        assert roles, f"{key} declares no roles: every route but /health needs require()"
        assert Role.ADMIN in roles
        if key in POLICY:
            assert roles == POLICY[key] | {Role.ADMIN}, key


def test_every_route_x_every_role_x_no_token(world):
    api, values = world
    client = api.client
    revoked, secret = api.catalog.create_token("revoked", Role.ADMIN)
    api.catalog.revoke_token(revoked.id)
    stale = {"Authorization": f"Bearer {secret}"}
    for method, template, route in operations(client.app):
        url = fill(template, values)
        body = BODIES.get((method, template))
        anonymous = client.request(method, url, json=body)
        if (method, template) in OPEN_ROUTES:
            assert anonymous.status_code == 200, (method, url)
            continue
        assert anonymous.status_code == 401, (method, url, anonymous.text)
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer"), (method, url)
        wrong = client.request(method, url, json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401, (method, url)
        assert client.request(method, url, json=body, headers=stale).status_code == 401
        admitted = route_roles(route)
        for role in Role:
            answer = api.as_(role, method, url, json=body)
            if role in admitted:
                assert answer.status_code not in (401, 403), (role, method, url, answer.text)
            else:
                assert answer.status_code == 403, (role, method, url, answer.text)
                assert role.value in answer.json()["detail"]


WRITES = {"POST", "PUT", "PATCH", "DELETE"}
#: Bodies no route accepts: not JSON, and JSON of the wrong shape.
INVALID_BODIES = (
    {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
    {"json": {"name": ["not", "a", "name"], "priority": "high", "source": 5, "role": None}},
)


def test_every_write_route_checks_the_role_before_the_body(world):
    """An invalid body is no reason to answer 422 to a caller who may not use the route."""
    api, values = world
    client = api.client
    writes = [(m, t, r) for m, t, r in operations(client.app) if m in WRITES]
    assert writes
    for method, template, route in writes:
        url = fill(template, values)
        admitted = route_roles(route)
        for body in INVALID_BODIES:
            anonymous = client.request(method, url, **body)
            assert anonymous.status_code == 401, (method, url, anonymous.text)
            for role in set(Role) - admitted:
                answer = api.as_(role, method, url, **body)
                assert answer.status_code == 403, (role, method, url, answer.text)


def test_a_trainer_is_refused_a_job_that_is_no_resynthesis_before_it_is_validated(sqlite_api):
    bank = {"source": {"kind": "bank", "path": "/etc/shadow"}, "count": "many"}
    answer = sqlite_api.as_(TRAINER, "POST", JOBS, json=bank)
    assert answer.status_code == 403, answer.text
    assert "resynthesis" in answer.json()["detail"] and "shadow" not in answer.text
    unshaped = sqlite_api.as_(TRAINER, "POST", JOBS, json={"source": "list"})
    assert unshaped.status_code == 403, unshaped.text
    listed = sqlite_api.as_(TRAINER, "POST", JOBS, json={"source": {"kind": "list"}})
    assert listed.status_code == 422  # a resynthesis job: validated, and told what is wrong


def test_a_rig_token_acts_for_its_own_rig_only(world):
    api, _ = world
    api.catalog.upsert_rig("board-b", "emulator")
    assert api.as_(RIG_ROLE, "GET", f"/api/v1/rigs/{RIG}").status_code == 200
    other = api.as_(RIG_ROLE, "GET", "/api/v1/rigs/board-b")
    assert other.status_code == 403 and "board-b" in other.json()["detail"]
    beat = api.as_(RIG_ROLE, "POST", "/api/v1/rigs/board-b/heartbeat", json={})
    assert beat.status_code == 403


def test_a_token_revoked_elsewhere_stops_working_when_its_cache_entry_lapses(sqlite_api):
    """Live tokens are trusted for TOKEN_CACHE_S without a catalog read; one revoked behind
    the server's back (the CLI) is refused once that lapses (here: a cache of no time)."""
    api = sqlite_api
    token, secret = api.catalog.create_token("cli-revoked", Role.OPERATOR)
    bot = {"Authorization": f"Bearer {secret}"}
    assert api.client.get(JOBS, headers=bot).status_code == 200
    api.catalog.revoke_token(token.id)
    assert api.client.get(JOBS, headers=bot).status_code == 200  # within TOKEN_CACHE_S
    api.client.app.state.tokens.ttl_s = 0
    assert api.client.get(JOBS, headers=bot).status_code == 401
    never_cached = api.client.get(JOBS, headers={"Authorization": "Bearer jxd_unknown"})
    assert never_cached.status_code == 401
