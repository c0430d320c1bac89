"""`jxdaq db`: current, upgrade and downgrade on an empty database of each backend."""

from __future__ import annotations

from typer.testing import CliRunner

from db.migrate import (
    head_revision,
)
from jxdaq.commands.db import app


def test_cli_upgrade_current_downgrade(catalog_url: str):
    runner = CliRunner()
    before = runner.invoke(app, ["current", "--url", catalog_url])
    assert before.exit_code == 0 and "none (empty database)" in before.output
    up = runner.invoke(app, ["upgrade", "--url", catalog_url])
    assert up.exit_code == 0 and head_revision() in up.output
    now = runner.invoke(app, ["current", "--url", catalog_url])
    assert "up to date" in now.output
    down = runner.invoke(app, ["downgrade", "base", "--url", catalog_url])
    assert down.exit_code == 0 and "base (empty)" in down.output
