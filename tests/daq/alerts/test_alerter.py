"""The alerter: a condition is told once until it clears, even across restarts, and the
server runs it beside the API. Channels: test_channels.py; conditions: test_conditions.py;
the worker's part (a rig that faults and recovers): tests/daq/test_worker_alerts.py."""

from __future__ import annotations

from alert_support import WebhookReceiver, alerter, hook
from device_support import wait_until

from daq.settings import Alerts, Settings
from db.schema import RigStatus
from jxdaq.commands.serve import alerter_alongside


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
