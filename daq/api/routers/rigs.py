"""Rigs: status (idle, capturing, faulted + reason, heartbeat, latency, drift), calibration
requests, clearing faults, and the heartbeat a remote worker sends.

Calibrating needs the rig's worker, so asking to calibrate a rig that is offline (or faulted:
clear the fault first) is a 409. Otherwise the request is recorded as a ``rig.calibrate``
event (data: the kinds asked for and who asked); the rig's worker reads it from the events
log at its next take boundary, measures, and records ``latency`` / ``drift`` calibrations.

A ``rig`` token is named after its rig and may read and heartbeat that rig only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Path, status

from daq.api.deps import CatalogDep, require
from daq.api.errors import documented
from daq.api.rigstate import rig_state, rig_states
from daq.api.schemas import CalibrateIn, CalibrationRequestOut, HeartbeatIn, ReasonIn, RigOut
from daq.rigs.calibration import BASELINE_REQUEST, CALIBRATE_EVENT, request_rebaseline
from daq.spec import RIG_NAME
from db.records import TokenInfo
from db.schema import RigStatus, Role, utcnow

router = APIRouter(prefix="/rigs", tags=["rigs"])

RigName = Annotated[
    str, Path(pattern=f"^{RIG_NAME.pattern}$", description="the rig's name", examples=["board-a"])
]


def _own_rig(token: TokenInfo, rig: str) -> None:
    if token.role == Role.RIG and token.name != rig:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"rig token {token.name!r} may only act for rig {token.name!r}, not {rig!r}",
        )


@router.get(
    "",
    response_model=list[RigOut],
    responses=documented(),
    dependencies=[Depends(require(Role.OPERATOR, Role.TRAINER))],
    summary="List rigs with their status",
)
def list_rigs(catalog: CatalogDep) -> list[RigOut]:
    """Every registered rig: status (offline when its heartbeat is stale), latency, drift."""
    return [RigOut.from_state(rig) for rig in rig_states(catalog, utcnow())]


@router.get("/{rig}", response_model=RigOut, responses=documented(404), summary="One rig")
def get_rig(
    rig: RigName,
    catalog: CatalogDep,
    token: Annotated[TokenInfo, Depends(require(Role.OPERATOR, Role.TRAINER, Role.RIG))],
) -> RigOut:
    _own_rig(token, rig)
    return RigOut.from_state(rig_state(catalog, catalog.get_rig(rig), utcnow()))


@router.post(
    "/{rig}/calibrate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CalibrationRequestOut,
    responses=documented(404, 409),
    summary="Ask the rig's worker to calibrate",
)
def calibrate(
    rig: RigName,
    catalog: CatalogDep,
    token: Annotated[TokenInfo, Depends(require(Role.OPERATOR))],
    body: Annotated[CalibrateIn | None, Body()] = None,
) -> CalibrationRequestOut:
    """Record a calibration request (latency and/or drift) for the rig's worker to act on at
    its next take boundary. 409 when the rig is offline or faulted."""
    kinds = list((body or CalibrateIn()).kinds)
    state = rig_state(catalog, catalog.get_rig(rig), utcnow())
    if state.status in (RigStatus.OFFLINE, RigStatus.FAULTED):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"rig {rig!r} is {state.status} ({state.status_reason or 'no reason given'}); "
            "calibration needs its worker running"
            + (": clear the fault first" if state.status == RigStatus.FAULTED else ""),
        )
    event_id = catalog.log_event(
        CALIBRATE_EVENT,
        f"rig {rig}: calibration ({', '.join(kinds)}) requested by {token.name}",
        rig=rig,
        data={"kinds": kinds, "requested_by": token.name},
    )
    return CalibrationRequestOut(rig=rig, event_id=event_id, kinds=kinds, requested_by=token.name)


@router.post(
    "/{rig}/rebaseline",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CalibrationRequestOut,
    responses=documented(404),
    summary="Forget the rig's drift baseline; its worker captures a new one",
)
def rebaseline(
    rig: RigName,
    catalog: CatalogDep,
    token: Annotated[TokenInfo, Depends(require(Role.OPERATOR))],
    body: Annotated[ReasonIn | None, Body()] = None,
) -> CalibrationRequestOut:
    """After re-tuning an analog rig: drift is measured against a new baseline, which the
    rig's worker captures at its next take boundary (a worker started later: at its first
    drift check, so the rig need not be running)."""
    event_id = request_rebaseline(catalog, rig, token.name, body.reason if body else None)
    return CalibrationRequestOut(
        rig=rig, event_id=event_id, kinds=[BASELINE_REQUEST], requested_by=token.name
    )


@router.post(
    "/{rig}/clear-fault",
    response_model=RigOut,
    responses=documented(404, 409),
    summary="Clear a rig's fault",
)
def clear_fault(
    rig: RigName,
    catalog: CatalogDep,
    token: Annotated[TokenInfo, Depends(require(Role.OPERATOR))],
    body: Annotated[ReasonIn | None, Body()] = None,
) -> RigOut:
    """Mark a faulted rig idle again once a person has fixed it (logged with who and why);
    409 when the rig is not faulted."""
    current = catalog.get_rig(rig)
    if current.status != RigStatus.FAULTED:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"rig {rig!r} is {current.status}, not faulted"
        )
    reason = f"fault cleared by {token.name}" + (f": {body.reason}" if body and body.reason else "")
    catalog.set_rig_status(rig, RigStatus.IDLE, reason)
    return RigOut.from_state(rig_state(catalog, catalog.get_rig(rig), utcnow()))


@router.post(
    "/{rig}/heartbeat",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(404),
    summary="A rig worker is alive (and its status)",
)
def heartbeat(
    rig: RigName,
    catalog: CatalogDep,
    token: Annotated[TokenInfo, Depends(require(Role.RIG))],
    body: Annotated[HeartbeatIn | None, Body()] = None,
) -> None:
    """For workers that report over HTTP: refreshes the heartbeat, optionally the status."""
    _own_rig(token, rig)
    body = body or HeartbeatIn()
    catalog.heartbeat(rig, body.status, body.reason)
