"""Channels against real receivers: a signed webhook (an HTTP server on loopback), email over
STARTTLS (an SMTP server), retries with a doubling wait, and failed deliveries told as events."""

from __future__ import annotations

import hashlib
import hmac

from alert_support import SECRET, WebhookReceiver, alerter, free_port, hook, smtp_server

from daq.alerts.alerter import trial_alert
from daq.alerts.channels import SIGNATURE_HEADER
from db.schema import utcnow


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
