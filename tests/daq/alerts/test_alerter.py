"""Alerts without a worker: channels against real receivers (an HTTP server, an SMTP server
with STARTTLS), retries, conditions told once until they clear, the config file and the CLI.
The worker's part (a rig that faults and recovers) is tests/daq/test_worker_alerts.py."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from alert_support import WebhookReceiver, free_port, smtp_server
from catalog_support import catalog_url  # noqa: F401  (fixture)
from device_support import prior, wait_until
from typer.testing import CliRunner

from daq.alerts.alerter import Alerter, trial_alert
from daq.alerts.channels import SIGNATURE_HEADER
from daq.jobs import pause_job, resume_job, submit_job
from daq.rigs.calibration import DRIFT
from daq.settings import Alerts, Settings, get_settings
from db.engine import open_catalog
from db.schema import JobState, RigStatus, utcnow
from db.store import AudioStore
from jxdaq.cli import app
from jxdaq.commands.serve import alerter_alongside

SECRET = "s3cret"


@pytest.fixture
def catalog(catalog_url):  # noqa: F811  (the fixture)
    catalog = open_catalog(catalog_url)
    yield catalog
    catalog.close()


def alerter(catalog, tmp_path, waits: list[float] | None = None, **settings) -> Alerter:
    """An alerter whose disk floor is 0 (the test's disks are never 'full') and whose waits
    between retries are recorded instead of slept."""
    made = Alerter(catalog, AudioStore(tmp_path / "audio"), Alerts(**settings), floor_mb=0)
    made.stop.wait = lambda seconds: waits.append(seconds) if waits is not None else None
    return made


def hook(url: str, secret: str = SECRET) -> dict:
    return {"name": "ops", "url": url, "secret": secret}


def test_a_webhook_is_a_signed_slack_text_and_its_delivery_an_event(catalog, tmp_path):
    with WebhookReceiver() as receiver:
        (delivery,) = alerter(catalog, tmp_path, webhooks=[hook(receiver.url)]).send(
            trial_alert(utcnow())
        )
    assert delivery.ok and delivery.attempts == 1
    ((headers, body),) = receiver.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    (alert,) = receiver.alerts
    assert alert["text"].startswith("[jx-daq] test alert") and "What to do:" in alert["text"]
    (event,) = [e for e in catalog.list_events() if e.kind.startswith("alert.")]
    assert event.kind == "alert.sent" and "webhook ops" in event.message
    assert event.data["attempts"] == 1


def test_a_failing_receiver_is_retried_with_a_doubling_wait(catalog, tmp_path):
    waits: list[float] = []
    settings = {"webhooks": [hook("")], "retries": 4, "retry_backoff_s": 0.5}
    with WebhookReceiver(fail_first=2) as receiver:
        settings["webhooks"] = [hook(receiver.url)]
        (delivery,) = alerter(catalog, tmp_path, waits, **settings).send(trial_alert(utcnow()))
    assert delivery.ok and delivery.attempts == 3 and receiver.attempts == 3
    assert waits == [0.5, 1.0]
    assert len(receiver.alerts) == 1


def test_a_receiver_that_is_down_gets_every_retry_then_a_failed_event(catalog, tmp_path):
    waits: list[float] = []
    down = f"http://127.0.0.1:{free_port()}/hook"
    made = alerter(catalog, tmp_path, waits, webhooks=[hook(down)], retries=3)
    (delivery,) = made.send(trial_alert(utcnow()))
    assert not delivery.ok and delivery.attempts == 4 and "refused" in delivery.error
    assert waits == [1.0, 2.0, 4.0]
    (event,) = [e for e in catalog.list_events() if e.kind.startswith("alert.")]
    assert event.kind == "alert.failed" and event.level == "error"
    assert "after 4 attempts" in event.message and "refused" in event.message


def test_email_goes_over_starttls(catalog, tmp_path):
    with smtp_server(tmp_path) as (mailbox, port, ca_file):
        email = {"name": "lab", "host": "127.0.0.1", "port": port, "sender": "jx@lab.test",
                 "to": ["ops@lab.test"], "ca_file": str(ca_file)}  # fmt: skip
        (delivery,) = alerter(catalog, tmp_path, email=[email]).send(trial_alert(utcnow()))
    assert delivery.ok, delivery.error
    (message,) = mailbox.messages
    assert mailbox.tls == [True]
    assert message["Subject"].startswith("[jx-daq] test alert") and message["To"] == "ops@lab.test"


def test_an_untrusted_smtp_certificate_is_a_failed_delivery(catalog, tmp_path):
    with smtp_server(tmp_path) as (mailbox, port, _ca_file):
        email = {"name": "lab", "host": "127.0.0.1", "port": port, "sender": "jx@lab.test",
                 "to": ["ops@lab.test"]}  # fmt: skip
        (delivery,) = alerter(catalog, tmp_path, email=[email], retries=0).send(
            trial_alert(utcnow())
        )
    assert not delivery.ok and "CERTIFICATE_VERIFY_FAILED" in delivery.error
    assert mailbox.messages == []


def test_a_condition_is_told_once_until_it_clears_even_across_restarts(catalog, tmp_path):
    catalog.upsert_rig("board", "serial")
    with WebhookReceiver() as receiver:
        settings = {"webhooks": [hook(receiver.url)]}
        catalog.heartbeat("board", RigStatus.FAULTED, "port /dev/ttyJX vanished")
        first = alerter(catalog, tmp_path, **settings)
        assert first.check() == 1
        assert first.check() == 0
        assert alerter(catalog, tmp_path, **settings).check() == 0  # a restarted alerter
        catalog.heartbeat("board", RigStatus.CAPTURING)
        assert first.check() == 1  # recovered
        assert first.check() == 0
        catalog.heartbeat("board", RigStatus.FAULTED, "port /dev/ttyJX vanished again")
        assert first.check() == 1
    fault, recovered, again = receiver.alerts
    assert (fault["state"], fault["kind"], fault["rig"]) == ("firing", "rig.faulted", "board")
    assert "Cause: port /dev/ttyJX vanished" in fault["text"] and "What to do:" in fault["text"]
    assert recovered["state"] == "resolved" and "recovered" in recovered["text"]
    assert again["state"] == "firing" and "again" in again["cause"]


def test_a_rig_silent_past_its_heartbeat_is_told(catalog, tmp_path):
    long_ago = utcnow() - timedelta(minutes=10)
    for rig, status in (("board", RigStatus.CAPTURING), ("gone", RigStatus.OFFLINE),
                        ("broken", RigStatus.FAULTED)):  # fmt: skip
        catalog.upsert_rig(rig, "serial")
        catalog.heartbeat(rig, status, now=long_ago)
    with WebhookReceiver() as receiver:
        made = alerter(catalog, tmp_path, webhooks=[hook(receiver.url)], heartbeat_s=300)
        assert made.check() == 2  # board silent, broken faulted; an offline rig is no news
    alert, _fault = sorted(receiver.alerts, key=lambda a: a["rig"] == "broken")
    assert alert["rig"] == "board"
    assert alert["kind"] == "rig.silent" and "jxdaq worker board" in alert["action"]


def test_a_disk_below_the_floor_is_told(catalog, tmp_path):
    with WebhookReceiver() as receiver:
        made = alerter(catalog, tmp_path, webhooks=[hook(receiver.url)], disk_min_free_mb=10**9)
        assert made.check() >= 1
    store = [a for a in receiver.alerts if a["key"] == "disk.low:audio store"]
    assert len(store) == 1 and "below 1000000000 MB" in store[0]["cause"]
    assert f"audio store {tmp_path / 'audio'}: disk nearly full" in store[0]["text"]


def test_a_failed_job_and_a_drift_pause_are_told_with_their_reasons(catalog, tmp_path):
    failing, drifting, paused = (submit_job(catalog, prior(5)) for _ in range(3))
    catalog.set_job_state(failing.id, JobState.FAILED, "bank unreadable", by="ops")
    drift = ("rig board: the reference tone drifted 4.20 dB from its baseline (threshold 3 dB); "
             "recalibrate the rig, then resume the job")  # fmt: skip
    catalog.upsert_rig("board", "serial")  # the rig's drift check, as daq.rigs.calibration makes it
    catalog.record_calibration("board", DRIFT, {"distance_db": 4.2, "threshold_db": 3.0,
                               "job_id": drifting.id, "exceeded": True}, value=4.2)  # fmt: skip
    pause_job(catalog, drifting.id, drift, by="rig board")
    # An operator's pause is not news, whatever its words.
    pause_job(catalog, paused.id, "lunch; the cutoff drifted a bit", by="ops")
    with WebhookReceiver() as receiver:
        made = alerter(catalog, tmp_path, webhooks=[hook(receiver.url)])
        assert made.check() == 2
        resume_job(catalog, drifting.id, by="ops")
        assert made.check() == 0  # a resumed job clears its condition without news
        assert catalog.open_conditions()[0].key == f"job.done:{failing.id}"
    failed, drifted = sorted(receiver.alerts, key=lambda a: a["job_id"])
    assert failed["kind"] == "job.failed" and failed["cause"] == "bank unreadable"
    assert drifted["kind"] == "job.paused" and "drifted 4.20 dB" in drifted["cause"]
    assert f"jxdaq job resume {drifting.id}" in drifted["action"]


def test_a_job_capturing_below_the_rate_threshold_is_told(catalog, tmp_path):
    catalog.upsert_rig("board", "serial")
    job = submit_job(catalog, prior(5))
    catalog.claim_next("board", 60, now=utcnow() - timedelta(minutes=20))  # started, no takes
    with WebhookReceiver() as receiver:
        made = alerter(catalog, tmp_path, webhooks=[hook(receiver.url)], min_rate_per_s=0.5)
        assert made.check() == 1
    (slow,) = receiver.alerts
    assert slow["kind"] == "job.slow" and slow["job_id"] == job.id
    assert "0.000 takes/s over the last 600 s, below 0.5 takes/s" in slow["cause"]


def test_serve_runs_the_alerter_when_channels_are_configured(catalog, tmp_path):
    catalog.upsert_rig("board", "serial")
    catalog.heartbeat("board", RigStatus.FAULTED, "port /dev/ttyJX vanished")
    with WebhookReceiver() as receiver:
        settings = Settings(
            catalog_url=str(catalog.engine.url.render_as_string(hide_password=False)),
            var_dir=tmp_path,
            store_min_free_mb=0,
            alerts=Alerts(webhooks=[hook(receiver.url)], poll_s=0.1),
        )
        with alerter_alongside(settings):
            wait_until(lambda: receiver.alerts, "the alert from the server's alerter", 30)
    assert [a["key"] for a in receiver.alerts] == ["rig.faulted:board"]


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
