"""`jxdaq token`: create (the secret printed once, only its hash stored), list, revoke; a bad
role, name or id is one line naming it."""

from __future__ import annotations

from typer.testing import CliRunner

from db.engine import open_catalog
from jxdaq.commands.token import app


def _run(*args: str, url: str):
    return CliRunner().invoke(app, [*args, "--url", url])


def test_a_token_is_created_listed_and_revoked(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    assert "no tokens" in _run("list", url=url).output
    made = _run("create", "--role", "operator", "--name", "night shift", url=url)
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    catalog = open_catalog(url)
    try:
        token = catalog.authenticate(secret)
        assert token is not None and token.name == "night shift"
        listed = _run("list", url=url).output
        assert "operator" in listed and "night shift" in listed and secret not in listed
        assert "last used" in listed and "revoked" not in listed
        revoked = _run("revoke", str(token.id), url=url)
        assert revoked.exit_code == 0 and f"token {token.id} (operator" in revoked.output
        assert catalog.authenticate(secret) is None
        assert "revoked 20" in _run("list", url=url).output
    finally:
        catalog.close()


def test_bad_input_is_one_line_naming_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    role = _run("create", "--role", "boss", "--name", "x", url=url)
    assert role.exit_code == 1 and "--role 'boss' is not a role; allowed: admin" in role.output
    name = _run("create", "--role", "rig", "--name", "a\tb", url=url)
    assert name.exit_code == 1 and "--name must be 1..200 printable characters" in name.output
    missing = _run("revoke", "42", url=url)
    assert (
        missing.exit_code == 1 and missing.output.startswith("error: ") and "42" in missing.output
    )
