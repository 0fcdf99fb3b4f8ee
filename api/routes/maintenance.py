"""Maintenance windows: operators declare them for their points (or a whole plant), officers see them
and approve the long ones. An approved window silences the point's non-critical alerts for data timed
inside it (compliance applies it, and owns the bounds: compliance.rules.maintenance_refusal)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, HTTPException, Path, Query, Request

from api import repo
from api.deps import (
    ERRORS,
    FORBIDDEN,
    ID_PATTERN,
    Caller,
    aware,
    forbidden,
    not_found,
    pool,
    require_plant,
    write,
)
from api.models import Maintenance, MaintenanceDecision, MaintenanceIn, Problem
from compliance.repo.reads import MaintenanceWindow, maintenance_by_id, maintenance_in_scope
from ingest.core import reads as ingest_reads

log = logging.getLogger(__name__)
v1 = APIRouter(prefix="/api/v1", tags=["maintenance"], responses=ERRORS)
APPROVERS = ("admin", "officer")  # who approves or rejects a long window
WindowId = Annotated[int, Path(ge=1, le=2**62)]
DECIDED: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "the window was already approved or rejected"}
}


def _model(r: MaintenanceWindow) -> Maintenance:
    return Maintenance.model_validate(r, from_attributes=True)


@v1.get("/maintenance", response_model=list[Maintenance])
async def list_maintenance(
    request: Request,
    caller: Caller,
    park: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    plant: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    active_at: Annotated[datetime | None, Query(description="only windows covering this instant")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[Maintenance]:
    """Windows in the caller's scope, newest first."""
    if (park and not caller.sees_park(park)) or (park and plant and not caller.sees_plant(park, plant)):
        return []
    sp, sl = caller.park or park, caller.plant or plant
    async with pool(request).connection() as conn:
        rows = await maintenance_in_scope(sp, sl, aware(active_at, "active_at"), limit).fetch_async(conn)
    return [_model(r) for r in rows if park is None or r.park == park]


@v1.post("/maintenance", response_model=Maintenance, status_code=201, responses=FORBIDDEN)
async def declare_maintenance(request: Request, caller: Caller, body: MaintenanceIn) -> Maintenance:
    """Operators (for their own points) and admins: declare a window. Omit `point` for the whole plant.
    A window is bounded (at most 72 h long, starting at most 24 h back, by default); one longer than the
    approval threshold (12 h) is stored `pending` and silences nothing until an officer approves it.
    Critical breaches are never silenced: they open an alert marked `during_maintenance`."""
    require_plant(caller, body.park, body.plant)
    if not caller.may_declare_maintenance:
        raise forbidden("maintenance windows are declared by the plant's or park's operator")
    start, end = aware(body.start, "from"), aware(body.end, "to")
    assert start is not None and end is not None
    if body.point is not None:
        async with pool(request).connection() as conn:
            found = await ingest_reads.points(body.park, body.plant, body.point).first_async(conn)
        if found is None:
            raise not_found(f"point {body.park}/{body.plant}/{body.point}")
    from compliance import service

    def _do(conn: psycopg.Connection) -> MaintenanceWindow:
        new = service.create_maintenance(
            conn, body.park, body.plant, body.point, start, end, body.reason, caller.actor
        )
        obj = f"maintenance {new.id} {body.park}/{body.plant}/{body.point or '*'}"
        detail = {"from": start.isoformat(), "to": end.isoformat(), "reason": body.reason}
        detail["status"] = new.status
        repo.audit(conn, caller.actor, "maintenance.create", obj, body.park, body.plant, detail)
        return new

    try:
        # the window is read back in the transaction that stores it: what we answer is what committed
        return _model(await write(request, _do))
    except LookupError:
        raise not_found(f"plant {body.park}/{body.plant}") from None
    except ValueError as exc:  # outside the bounds (refused by compliance or the database): nothing stored
        log.warning("maintenance window refused for %s (%s/%s): %s", caller.actor, body.park, body.plant, exc)
        raise HTTPException(422, str(exc)) from None


@v1.post("/maintenance/{window_id}/approve", response_model=Maintenance, responses={**FORBIDDEN, **DECIDED})
async def approve_maintenance(
    request: Request, caller: Caller, window_id: WindowId, body: MaintenanceDecision | None = None
) -> Maintenance:
    """Officers and admins: approve a pending window; from now on it silences non-critical alerts."""
    return await _decide(request, caller, window_id, True, body.note if body else None)


@v1.post("/maintenance/{window_id}/reject", response_model=Maintenance, responses={**FORBIDDEN, **DECIDED})
async def reject_maintenance(
    request: Request, caller: Caller, window_id: WindowId, body: MaintenanceDecision | None = None
) -> Maintenance:
    """Officers and admins: reject a pending window; it never silences anything."""
    return await _decide(request, caller, window_id, False, body.note if body else None)


async def _decide(
    request: Request, caller: Caller, window_id: int, approve: bool, note: str | None
) -> Maintenance:
    from compliance import service

    async with pool(request).connection() as conn:
        found = await maintenance_by_id(window_id).first_async(conn)
    if found is None or not caller.sees_plant(found.park, found.plant):
        raise not_found(f"maintenance window {window_id}")
    if caller.role not in APPROVERS:
        log.warning("maintenance window %d: %s may not approve or reject it", window_id, caller.actor)
        raise forbidden("maintenance windows are approved by an officer")
    action = "maintenance.approve" if approve else "maintenance.reject"

    def _do(conn: psycopg.Connection) -> MaintenanceWindow:
        done = service.decide_maintenance(conn, window_id, approve, caller.actor, note)
        obj = f"maintenance {window_id} {done.park}/{done.plant}/{done.point or '*'}"
        repo.audit(conn, caller.actor, action, obj, done.park, done.plant, {"note": note})
        return done

    try:
        return _model(await write(request, _do))
    except LookupError:
        raise not_found(f"maintenance window {window_id}") from None
    except service.InvalidTransition as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@v1.get("/audit", response_model=list[repo.AuditEntry], tags=["system"])
async def audit_log(
    request: Request,
    caller: Caller,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[repo.AuditEntry]:
    """API and command-line writes (tokens, registry changes, maintenance windows) in the caller's scope,
    newest first. Alert changes have their own history in the alert detail."""
    async with pool(request).connection() as conn:
        rows = await repo.audit_entries(
            conn, caller.park, caller.plant, caller.role == "admin", limit, before
        )
    return rows
