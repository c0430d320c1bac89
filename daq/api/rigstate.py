"""A rig's condition as operators see it: its status, heartbeat age, latency and drift.

A worker that dies cannot report itself offline, so a rig whose heartbeat is older than
:data:`STALE_AFTER_S` reads as offline (a fault is kept: it needs a person either way).
Drift is the value of the rig's newest ``drift`` calibration (log-spectral distance of the
reference tone from its baseline, in dB: see :mod:`daq.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daq.worker import DRIFT, HEARTBEAT_EVERY_S
from db.catalog import Catalog
from db.records import RigInfo
from db.schema import RigStatus

#: A rig missing this many heartbeats in a row is taken to be offline.
STALE_AFTER_S = 6 * HEARTBEAT_EVERY_S


@dataclass(frozen=True, slots=True)
class Drift:
    value: float | None
    measured_at: datetime


@dataclass(frozen=True, slots=True)
class RigState:
    name: str
    transport: str
    audio_device: str | None
    status: RigStatus
    status_reason: str | None
    last_heartbeat: datetime | None
    heartbeat_age_s: float | None
    latency_s: float | None
    drift: Drift | None
    config: dict[str, Any]

    @property
    def online(self) -> bool:
        return self.status != RigStatus.OFFLINE


def rig_state(catalog: Catalog, rig: RigInfo, now: datetime) -> RigState:
    age = None if rig.last_heartbeat is None else (now - rig.last_heartbeat).total_seconds()
    status, reason = rig.status, rig.status_reason
    if status not in (RigStatus.FAULTED, RigStatus.OFFLINE) and (
        age is None or age > STALE_AFTER_S
    ):
        status = RigStatus.OFFLINE
        reason = "no heartbeat yet" if age is None else f"no heartbeat for {age:.0f} s"
    drifts = catalog.list_calibrations(rig.name, DRIFT, limit=1)
    drift = Drift(drifts[0].value, drifts[0].created_at) if drifts else None
    return RigState(
        name=rig.name,
        transport=rig.transport,
        audio_device=rig.audio_device,
        status=status,
        status_reason=reason,
        last_heartbeat=rig.last_heartbeat,
        heartbeat_age_s=age,
        latency_s=rig.latency_s,
        drift=drift,
        config=rig.config,
    )


def rig_states(catalog: Catalog, now: datetime) -> list[RigState]:
    return [rig_state(catalog, rig, now) for rig in catalog.list_rigs()]
