"""schemathesis against the app's own OpenAPI schema: no 500s and no answer that breaks it.

Every operation is fuzzed with an admin token (so requests get past auth to the handlers)
over a catalog holding a job, a rig and a take, with both schema-valid and schema-invalid
data, on SQLite and on PostgreSQL (whose integer columns and text rules differ). The checks:
no server error, only documented status codes, documented content types and headers, and
response bodies that match their schemas.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import schemathesis
from api_support import EXAMPLE, RIG, Api, record_takes
from catalog_support import catalog_url  # noqa: F401  (fixture)
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from daq.api.app import create_app
from daq.settings import Settings
from daq.spec import validate_spec
from db.engine import open_catalog
from db.schema import Role
from db.store import AudioStore

#: Examples per operation and generation mode (about 40 operations).
EXAMPLES = 8
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


class AdminToken:
    """A live admin token; made anew if a fuzzed DELETE /tokens/{id} revoked it."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.secret = ""

    def headers(self) -> dict[str, str]:
        if not self.secret or self.api.catalog.authenticate(self.secret) is None:
            self.secret = self.api.catalog.create_token("fuzzer", Role.ADMIN)[1]
        return {"Authorization": f"Bearer {self.secret}"}


@pytest.fixture
def fuzzed_app(catalog_url: str, tmp_path: Path):  # noqa: F811  (the fixture)
    root = tmp_path
    catalog = open_catalog(catalog_url)
    store = AudioStore(root / "audio")
    app = create_app(Settings(var_dir=root), catalog=catalog, store=store)
    api = Api(client=None, catalog=catalog, store=store)  # type: ignore[arg-type]
    record_takes(api, [{"VCF FREQ": 10}, {"VCF FREQ": 90}])
    catalog.heartbeat(RIG)
    yield app, AdminToken(api)
    catalog.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_no_schema_violations(fuzzed_app, mode):
    app, admin = fuzzed_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=admin.headers())
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(case):
            case.call_and_validate(headers=admin.headers(), checks=CHECKS)

        try:
            call()
        except Unsatisfiable:  # nothing to make invalid (e.g. GET /health has no inputs)
            assert mode == GenerationMode.NEGATIVE, operation.label


def test_the_schema_needs_a_token_and_the_cdn_pages_are_off(sqlite_api):
    client = sqlite_api.client
    assert client.get("/openapi.json").status_code == 401
    assert sqlite_api.as_(Role.RIG, "GET", "/openapi.json").json()["info"]["title"] == "jx-daq"
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


def test_the_schema_documents_every_operation_with_examples(sqlite_api):
    document = sqlite_api.as_(Role.TRAINER, "GET", "/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            if path != "/health":
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
    create = document["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]
    examples = create["application/json"]["examples"]
    assert examples["prior"]["value"] == tomllib.loads(EXAMPLE.read_text())
    for example in examples.values():
        validate_spec(example["value"])
    token = document["components"]["schemas"]["TokenIn"]
    assert token["examples"] == [{"name": "alice-laptop", "role": "operator"}]
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
