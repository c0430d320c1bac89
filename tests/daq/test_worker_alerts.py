"""Alerts through a real worker: its rig faults (the audio store's disk, a small tmpfs, falls
below the free-space floor) and recovers (space returns), and the job completes; a real HTTP
receiver and an SMTP server (STARTTLS) each get exactly one alert per condition. A receiver
that hangs does not slow capture: the worker completes a job while the alert waits."""

from __future__ import annotations

import threading
import time
from collections import Counter

from alert_support import WebhookReceiver, smtp_server
from device_support import prior, wait_until

from daq.alerts.alerter import Alerter, start_alerter
from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.settings import Alerts
from daq.worker import FaultPolicy, Worker
from db.engine import open_catalog
from db.schema import JobState, RigStatus
from db.store import AudioStore

FAST_RETRY = FaultPolicy(backoff_s=0.2, backoff_max_s=1.0)
MB = 1024 * 1024


def rig_status(catalog) -> RigStatus | None:
    """The emulated rig's status; None until its worker (a thread here) has registered it."""
    rigs = {rig.name: rig for rig in catalog.list_rigs()}
    return rigs[EMULATED.name].status if EMULATED.name in rigs else None


def test_a_fault_and_its_recovery_are_told_once_each_by_webhook_and_email(tmp_path, tmpfs):
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    store = AudioStore(tmpfs)
    job = submit_job(catalog, prior(12))
    ballast = tmpfs / "ballast"
    ballast.write_bytes(b"\0" * (3 * MB // 2))  # leaves less than the floor of 1 MB
    worker = Worker(catalog, store, EMULATED, faults=FAST_RETRY, min_free_mb=1)
    thread = threading.Thread(target=worker.run, kwargs={"job_id": job.id}, daemon=True)
    with WebhookReceiver() as receiver, smtp_server(tmp_path) as (mailbox, port, ca_file):
        email = {"name": "lab", "host": "127.0.0.1", "port": port, "sender": "jx@lab.test",
                 "to": ["ops@lab.test"], "ca_file": str(ca_file)}  # fmt: skip
        settings = Alerts(webhooks=[{"name": "ops", "url": receiver.url, "secret": "s"}],
                          email=[email])  # fmt: skip
        alerter = Alerter(catalog, store, settings, floor_mb=1)
        thread.start()
        try:
            wait_until(lambda: rig_status(catalog) == RigStatus.FAULTED, "fault")
            for _ in range(5):  # the worker keeps retrying its rig meanwhile
                alerter.check()
                time.sleep(0.3)
            assert Alerter(catalog, store, settings, floor_mb=1).check() == 0  # a restart
            ballast.unlink()  # space returns
            thread.join(timeout=300)
            assert not thread.is_alive(), "the worker did not finish the job"
            for _ in range(3):
                alerter.check()
        finally:
            worker.stop.set()
            thread.join(timeout=60)
    assert catalog.get_job(job.id).state == JobState.COMPLETED
    told = Counter((a["kind"], a["state"]) for a in receiver.alerts)
    assert told == {
        ("rig.faulted", "firing"): 1,
        ("rig.faulted", "resolved"): 1,
        ("disk.low", "firing"): 1,
        ("disk.low", "resolved"): 1,
        ("job.completed", "firing"): 1,
    }, receiver.alerts
    fault = next(a for a in receiver.alerts if a["kind"] == "rig.faulted")
    assert fault["rig"] == "emulated" and "below the floor of 1 MB" in fault["cause"]
    assert f"Job: {job.id}" in next(
        a["text"] for a in receiver.alerts if a["kind"] == "job.completed"
    )
    subjects = Counter(m["Subject"].split(":")[0] for m in mailbox.messages)
    assert len(mailbox.messages) == 5 and all(mailbox.tls), subjects
    sent = [e for e in catalog.list_events(limit=1000) if e.kind == "alert.sent"]
    assert Counter(e.data["channel"] for e in sent) == {"webhook ops": 5, "email lab": 5}
    catalog.close()


def test_a_receiver_that_hangs_does_not_slow_the_worker(emulated_services):
    catalog, store = emulated_services
    catalog.upsert_rig("old", "serial")
    catalog.heartbeat("old", RigStatus.FAULTED, "port /dev/ttyOLD vanished")
    job = submit_job(catalog, prior(10))
    with WebhookReceiver() as receiver:
        receiver.hold.clear()  # every POST waits until the test lets it answer
        settings = Alerts(webhooks=[{"name": "ops", "url": receiver.url}], poll_s=0.1)
        alerter = Alerter(catalog, store, settings, floor_mb=0)
        thread = start_alerter(alerter)
        try:
            wait_until(lambda: receiver.attempts >= 1, "the alerter's first POST", 30)
            Worker(catalog, store, EMULATED).run(job_id=job.id)
            assert catalog.get_job(job.id).state == JobState.COMPLETED
            assert receiver.requests == []  # the alert is still waiting on the receiver
        finally:
            receiver.hold.set()
            alerter.stop.set()
            thread.join(timeout=60)
    assert not thread.is_alive()
    assert [a["key"] for a in receiver.alerts][:1] == ["rig.faulted:old"]
