"""Sending an alert: webhooks (a signed JSON POST) and email (SMTP with STARTTLS).

An alert is one JSON object; its ``text`` is what Slack (and Mattermost, Teams' incoming
webhooks, ...) show, the other fields are for receivers that parse. A webhook POST carries
``X-JXDAQ-Signature: sha256=<hex HMAC-SHA256 of the body>`` under the channel's shared secret
(as GitHub signs its webhooks) so that a receiver can reject forgeries. A failed attempt is
retried after a wait that doubles, a bounded number of times.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from daq.settings import Alerts, Email, Webhook

SIGNATURE_HEADER = "X-JXDAQ-Signature"
#: Seconds one attempt may take: a receiver slower than this counts as down.
ATTEMPT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """How sending one alert through one channel went."""

    channel: str
    ok: bool
    attempts: int
    error: str | None = None


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(channel: Webhook, alert: dict[str, Any]) -> None:
    """POST ``alert`` once; raises on anything but a 2xx answer."""
    body = json.dumps(alert).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "jx-daq alerts"}
    if secret := channel.secret.get_secret_value():
        headers[SIGNATURE_HEADER] = signature(secret, body)
    request = urllib.request.Request(str(channel.url), body, headers, method="POST")
    with urllib.request.urlopen(request, timeout=ATTEMPT_TIMEOUT_S):
        pass  # urlopen raises HTTPError for answers other than 2xx (and follows redirects)


def send_email(channel: Email, alert: dict[str, Any]) -> None:
    """Send ``alert`` once as a plain-text email; raises on any SMTP or TLS failure."""
    message = EmailMessage()
    message["Subject"] = alert["text"].splitlines()[0]
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message.set_content(alert["text"] + "\n")
    with smtplib.SMTP(channel.host, channel.port, timeout=ATTEMPT_TIMEOUT_S) as smtp:
        if channel.starttls:
            context = ssl.create_default_context(cafile=channel.ca_file or None)
            smtp.starttls(context=context)
        if channel.username:
            smtp.login(channel.username, channel.password.get_secret_value())
        smtp.send_message(message)


def _why(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _with_retries(
    name: str,
    send: Callable[[], None],
    settings: Alerts,
    wait: Callable[[float], bool],
) -> Delivery:
    delay, attempt = settings.retry_backoff_s, 0
    while True:
        attempt += 1
        try:
            send()
        except Exception as error:  # any failure of the receiver's: the next try may work
            if attempt > settings.retries:
                return Delivery(name, False, attempt, _why(error))
            if wait(delay):
                return Delivery(name, False, attempt, f"{_why(error)}; stopped before a retry")
        else:
            return Delivery(name, True, attempt)
        delay *= 2


def deliver(
    alert: dict[str, Any], settings: Alerts, wait: Callable[[float], bool]
) -> list[Delivery]:
    """Send ``alert`` through every configured channel; ``wait(seconds)`` between retries
    (an alerter passes its stop event's wait: True, stopping, ends the retries)."""
    deliveries = [
        _with_retries(f"webhook {c.name}", lambda c=c: post_webhook(c, alert), settings, wait)
        for c in settings.webhooks
    ]
    deliveries += [
        _with_retries(f"email {c.name}", lambda c=c: send_email(c, alert), settings, wait)
        for c in settings.email
    ]
    return deliveries
