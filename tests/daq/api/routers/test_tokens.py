"""Tokens: created once (the secret shown once), listed without secrets, revoked."""

from __future__ import annotations

from api_support import JOBS, TOKENS

from db.schema import Role


def test_tokens_are_created_once_listed_without_secrets_and_revoked(sqlite_api):
    api = sqlite_api
    made = api.as_(Role.ADMIN, "POST", TOKENS, json={"name": "ci-bot", "role": "operator"})
    assert made.status_code == 201
    secret = made.json()["secret"]
    assert secret.startswith("jxd_")
    bot = {"Authorization": f"Bearer {secret}"}
    assert api.client.get(JOBS, headers=bot).status_code == 200
    listed = api.as_(Role.ADMIN, "GET", TOKENS).json()
    assert "ci-bot" in [t["name"] for t in listed]
    assert all("secret" not in t for t in listed) and secret not in str(listed)
    revoked = api.as_(Role.ADMIN, "DELETE", f"{TOKENS}/{made.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    after = api.client.get(JOBS, headers=bot)
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    assert api.as_(Role.ADMIN, "DELETE", f"{TOKENS}/9999").status_code == 404
    bad = api.as_(Role.ADMIN, "POST", TOKENS, json={"name": "x", "role": "superuser"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "role"]
