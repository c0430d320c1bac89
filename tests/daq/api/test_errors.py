"""Domain errors as HTTP answers: unknown things 404, conflicts 409, bad input 422 naming the
field (NaN echoed as text), corrupt audio a 500 naming the take and the repair but not the
server's paths; and what each route documents."""

from __future__ import annotations

from types import SimpleNamespace

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from daq.api.errors import documented, install
from db.records import CatalogError, InvalidTransition, NotFound
from db.store import StoreIntegrityError

STORE = "/srv/secret/audio"


class Body(BaseModel):
    count: int
    size: int


def _client() -> TestClient:
    app = FastAPI()
    app.state.store = SimpleNamespace(root=STORE)
    install(app)

    @app.get("/missing")
    def missing() -> None:
        raise NotFound("job 7 does not exist")

    @app.get("/conflict")
    def conflict() -> None:
        raise InvalidTransition("job 7 is completed; it cannot be paused")

    @app.get("/catalog")
    def catalog() -> None:
        raise CatalogError("rig board-a is busy")

    @app.get("/takes/{take_id}/audio")
    def audio(take_id: int) -> None:
        raise StoreIntegrityError(f"ab/abcd.flac is missing from {STORE}")

    @app.post("/bodies", responses=documented(404))
    def bodies(body: Body) -> None:
        return None

    return TestClient(app)


def test_catalog_errors_are_one_sentence_with_their_status():
    client = _client()
    assert client.get("/missing").status_code == 404
    assert client.get("/missing").json() == {"detail": "job 7 does not exist"}
    conflict = client.get("/conflict")
    assert conflict.status_code == 409 and "cannot be paused" in conflict.json()["detail"]
    assert client.get("/catalog").status_code == 409


def test_corrupt_audio_names_the_take_and_the_repair_but_not_the_store():
    answer = _client().get("/takes/12/audio")
    assert answer.status_code == 500
    detail = answer.json()["detail"]
    assert detail.startswith("take 12: ab/abcd.flac is missing")
    assert "jxdaq catalog verify --repair" in detail and STORE not in detail


def test_a_bad_body_names_each_field_and_echoes_nan_as_text():
    answer = _client().post(
        "/bodies",
        content=b'{"count": "many", "size": NaN}',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 422
    errors = {tuple(e["loc"]): e for e in answer.json()["detail"]}
    assert errors[("body", "count")]["input"] == "many"
    assert not errors[("body", "count")]["msg"].startswith("Value error")
    assert errors[("body", "size")]["input"] == "nan"  # JSON cannot carry NaN back


def test_routes_document_401_403_their_codes_and_400_for_a_body():
    assert sorted(documented(404, 409)) == [401, 403, 404, 409]
    schema = _client().app.openapi()
    responses = schema["paths"]["/bodies"]["post"]["responses"]
    assert {"400", "401", "403", "404", "422"} <= set(responses)
    assert (
        "get" in schema["paths"]["/missing"]
        and "400" not in (schema["paths"]["/missing"]["get"]["responses"])
    )
