"""`jxdaq alerts`: run once, list and test the configured channels, a bad config named
without a traceback."""

from __future__ import annotations

from alert_support import SECRET, WebhookReceiver
from typer.testing import CliRunner

from daq.settings import get_settings
from db.engine import open_catalog
from db.schema import RigStatus
from jxdaq.cli import app


def test_the_alerter_runs_once_from_the_cli(monkeypatch, tmp_path):
    catalog = open_catalog(f"sqlite:///{tmp_path / 'var' / 'catalog.db'}")
    catalog.upsert_rig("board", "serial")
    catalog.heartbeat("board", RigStatus.FAULTED, "port /dev/ttyJX vanished")
    catalog.close()
    with WebhookReceiver() as receiver:
        config = f'[alerts]\n[[alerts.webhooks]]\nname = "ops"\nurl = "{receiver.url}"\n'
        first = run_cli(monkeypatch, config, tmp_path, "alerts", "run", "--once")
        again = run_cli(monkeypatch, config, tmp_path, "alerts", "run", "--once")
        listed = run_cli(monkeypatch, config, tmp_path, "alerts", "list")
    assert first.exit_code == 0 and "1 alert(s) sent" in first.output, first.output
    assert again.exit_code == 0 and "0 alert(s) sent" in again.output
    assert "open conditions: 1" in listed.output and "rig board faulted" in listed.output
    assert [a["kind"] for a in receiver.alerts] == ["rig.faulted"]


def run_cli(monkeypatch, config: str, tmp_path, *args: str):
    path = tmp_path / "jxdaq.toml"
    path.write_text(config)
    monkeypatch.setenv("JXDAQ_CONFIG", str(path))
    monkeypatch.setenv("JXDAQ_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()


def test_the_cli_lists_and_tests_the_configured_channels(monkeypatch, tmp_path):
    with WebhookReceiver() as receiver:
        config = f'[alerts]\nheartbeat_s = 90\n[[alerts.webhooks]]\nname = "slack"\n' \
                 f'url = "{receiver.url}"\nsecret = "{SECRET}"\n'  # fmt: skip
        listed = run_cli(monkeypatch, config, tmp_path, "alerts", "list")
        tested = run_cli(monkeypatch, config, tmp_path, "alerts", "test")
    assert listed.exit_code == 0, listed.output
    assert "webhook slack: http://127.0.0.1 (signed)" in listed.output
    assert "rig silent after 90 s" in listed.output and "open conditions: 0" in listed.output
    assert tested.exit_code == 0 and "webhook slack: sent after 1 attempt" in tested.output
    assert len(receiver.alerts) == 1


def test_a_bad_alert_config_is_named_without_a_traceback(monkeypatch, tmp_path):
    config = '[[alerts.webhooks]]\nname = "slack"\nurl = "not a url"\n'
    result = run_cli(monkeypatch, config, tmp_path, "alerts", "test")
    assert result.exit_code == 1
    assert "alerts.webhooks.0.url" in result.output and "Traceback" not in result.output


def test_testing_with_no_channels_says_how_to_add_one(monkeypatch, tmp_path):
    result = run_cli(monkeypatch, "[alerts]\n", tmp_path, "alerts", "test")
    assert result.exit_code == 1 and "[[alerts.webhooks]]" in result.output
