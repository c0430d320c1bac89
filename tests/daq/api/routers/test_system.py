"""/health: no token needed, the catalog checked, 503 when it is unreachable."""

from __future__ import annotations

from db.schema import Role


def test_health_needs_no_token_and_checks_the_catalog(sqlite_api):
    answer = sqlite_api.client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}  # nothing more for strangers
    detailed = sqlite_api.as_(Role.RIG, "GET", "/health")
    assert detailed.json()["catalog"] == "ok" and detailed.json()["version"]


def test_health_is_503_when_the_catalog_is_unreachable(tmp_path):
    from fastapi.testclient import TestClient

    from daq.api.app import create_app
    from daq.settings import Settings
    from db.catalog import Catalog
    from db.engine import make_engine
    from db.store import AudioStore

    unreachable = Catalog(make_engine("postgresql://nobody@secret-db-host:1/none"))
    app = create_app(Settings(var_dir=tmp_path), catalog=unreachable, store=AudioStore(tmp_path))
    with TestClient(app) as client:
        answer = client.get("/health")
        claimed = client.get("/health", headers={"Authorization": "Bearer jxd_unverifiable"})
    assert answer.status_code == 503 and answer.json() == {"status": "unavailable"}
    # A token cannot be checked without the catalog: no details for it either.
    assert claimed.status_code == 503 and "secret-db-host" not in claimed.text
