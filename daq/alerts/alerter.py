"""The alerter: a loop that compares the conditions holding now with those already told
(kept in the catalog), tells the new ones and the cleared ones, and records each delivery
as an event (``alert.sent`` / ``alert.failed``).

It only reads what workers write, so a receiver that is slow or down delays alerts, never a
take. Opening a condition in the catalog comes before sending it: an alerter that dies in
between loses that alert rather than sending it twice, and of two alerters (two servers)
only the one whose insert succeeds sends.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from daq.alerts.channels import Delivery, deliver
from daq.alerts.conditions import CLEARED, Condition, current_conditions
from daq.logs import log_event
from daq.settings import Alerts, Settings
from db.catalog import Catalog
from db.records import AlertConditionInfo
from db.schema import utcnow
from db.store import AudioStore

log = logging.getLogger("jxdaq.alerts")


def alert_body(
    state: str,
    title: str,
    *,
    kind: str,
    key: str,
    rig: str | None,
    job_id: int | None,
    cause: str | None = None,
    action: str | None = None,
    at: datetime,
) -> dict[str, Any]:
    """The JSON an alert is: ``text`` for people (Slack shows it), the rest for programs."""
    lines = [f"[jx-daq] {'RESOLVED: ' if state == 'resolved' else ''}{title}"]
    lines += [f"Rig: {rig}"] if rig else []
    lines += [f"Job: {job_id}"] if job_id is not None else []
    lines += [f"Cause: {cause}"] if cause else []
    lines += [f"What to do: {action}"] if action else []
    return {
        "text": "\n".join(lines),
        "state": state,
        "kind": kind,
        "key": key,
        "rig": rig,
        "job_id": job_id,
        "title": title,
        "cause": cause,
        "action": action,
        "at": at.isoformat(),
    }


def raised(condition: Condition, at: datetime) -> dict[str, Any]:
    return alert_body(
        "firing",
        condition.title,
        kind=condition.kind,
        key=condition.key,
        rig=condition.rig,
        job_id=condition.job_id,
        cause=condition.cause,
        action=condition.action,
        at=at,
    )


def trial_alert(at: datetime) -> dict[str, Any]:
    """What ``jxdaq alerts test`` sends: proof that a channel reaches its people."""
    return alert_body(
        "test",
        "test alert: this channel reaches you",
        kind="test",
        key="test",
        rig=None,
        job_id=None,
        cause="someone ran 'jxdaq alerts test'",
        action="nothing; real alerts name a rig or job, the cause and what to do",
        at=at,
    )


def cleared(condition: AlertConditionInfo, at: datetime) -> dict[str, Any] | None:
    """The alert that says ``condition`` cleared; None for kinds that do not clear by news
    (a finished job ages out)."""
    template = CLEARED.get(condition.kind)
    if template is None:
        return None
    where = condition.key.partition(":")[2]
    title = template.format(rig=condition.rig, job=condition.job_id, where=where)
    return alert_body(
        "resolved",
        title,
        kind=condition.kind,
        key=condition.key,
        rig=condition.rig,
        job_id=condition.job_id,
        cause=f"was: {condition.message}",
        at=at,
    )


class Alerter:
    """Tells operators about conditions, once each, over the configured channels."""

    def __init__(
        self,
        catalog: Catalog,
        store: AudioStore,
        settings: Alerts,
        floor_mb: int,
        stop: threading.Event | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.settings = settings
        self.floor_mb = floor_mb
        self.stop = stop or threading.Event()

    @classmethod
    def from_settings(
        cls, settings: Settings, catalog: Catalog, stop: threading.Event | None = None
    ) -> Alerter:
        store = AudioStore(settings.resolved_store_url)
        return cls(catalog, store, settings.alerts, settings.store_min_free_mb, stop)

    def check(self) -> int:
        """One round: tell new conditions and cleared ones; the number of alerts sent."""
        now = utcnow()
        holding = {
            c.key: c
            for c in current_conditions(self.catalog, self.store, self.settings, self.floor_mb, now)
        }
        told = {c.key: c for c in self.catalog.open_conditions()}
        sent = 0
        for key, condition in holding.items():
            if key not in told and self.catalog.raise_condition(
                key,
                condition.kind,
                f"{condition.title}: {condition.cause}",
                rig=condition.rig,
                job_id=condition.job_id,
            ):
                self.send(raised(condition, now))
                sent += 1
        for key, condition in told.items():
            if key not in holding and self.catalog.clear_condition(key):
                body = cleared(condition, now)
                if body is not None:
                    self.send(body)
                    sent += 1
        return sent

    def send(self, alert: dict[str, Any]) -> list[Delivery]:
        """Deliver ``alert`` through every channel, each delivery an event."""
        deliveries = deliver(alert, self.settings, self.stop.wait)
        for delivery in deliveries:
            outcome = "sent" if delivery.ok else "failed"
            log_event(
                log,
                f"alert.{outcome}",
                logging.INFO if delivery.ok else logging.ERROR,
                key=alert["key"],
                channel=delivery.channel,
                attempts=delivery.attempts,
                error=delivery.error,
            )
            self.catalog.log_event(
                f"alert.{outcome}",
                f"alert {alert['key']} ({alert['state']}) {outcome} through {delivery.channel}"
                + (
                    f" after {delivery.attempts} attempts: {delivery.error}"
                    if delivery.error
                    else ""
                ),
                level="info" if delivery.ok else "error",
                job_id=alert["job_id"],
                rig=alert["rig"],
                data={
                    "key": alert["key"],
                    "state": alert["state"],
                    "channel": delivery.channel,
                    "attempts": delivery.attempts,
                    "error": delivery.error,
                },
            )
        return deliveries

    def run(self) -> None:
        """Check every ``poll_s`` until stopped; a catalog that cannot be read is logged and
        tried again next round (the alerter outlives outages as workers do)."""
        log_event(
            log, "alerter.start", channels=len(self.settings.webhooks) + len(self.settings.email)
        )
        while not self.stop.is_set():
            try:
                self.check()
            except Exception as error:  # the next round may find the catalog back
                log_event(log, "alerter.error", logging.ERROR, error=str(error).splitlines()[0])
            self.stop.wait(self.settings.poll_s)


def start_alerter(alerter: Alerter) -> threading.Thread:
    """Run ``alerter`` on a daemon thread (``jxdaq serve``); set its ``stop`` to end it."""
    thread = threading.Thread(target=alerter.run, name="jxdaq-alerter", daemon=True)
    thread.start()
    return thread
