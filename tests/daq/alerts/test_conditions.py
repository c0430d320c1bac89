"""Conditions: a rig silent past its heartbeat, a disk below its floor, a failed job, a drift
pause and a slow job are each told with their cause."""

from __future__ import annotations

from datetime import timedelta

from alert_support import WebhookReceiver, alerter, hook
from device_support import prior

from daq.jobs import pause_job, resume_job, submit_job
from daq.rigs.calibration import DRIFT
from db.schema import JobState, RigStatus, utcnow


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
