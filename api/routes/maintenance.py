"""Maintenance windows: operators declare them for their points (or a whole plant), officers see them.
A window silences the point's alerts for data timed inside it (compliance applies it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import psycopg
from fastapi import APIRouter, HTTPException, Query, Request

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
from api.models import Maintenance, MaintenanceIn
from compliance.repo.reads import MaintenanceWindow, maintenance_in_scope
from ingest.core import reads as ingest_reads

v1 = APIRouter(prefix="/api/v1", tags=["maintenance"], responses=ERRORS)


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
    """Operators (for their own points) and admins: declare a window. Omit `point` for the whole plant."""
    require_plant(caller, body.park, body.plant)
    if not caller.may_declare_maintenance:
        raise forbidden("maintenance windows are declared by the plant's or park's operator")
    start, end = aware(body.start, "from"), aware(body.end, "to")
    assert start is not None and end is not None
    if end <= start:
        raise HTTPException(422, "to must be after from")
    if body.point is not None:
        async with pool(request).connection() as conn:
            found = await ingest_reads.points(body.park, body.plant, body.point).first_async(conn)
        if found is None:
            raise not_found(f"point {body.park}/{body.plant}/{body.point}")
    from compliance import service

    def _do(conn: psycopg.Connection) -> int:
        new = service.create_maintenance(
            conn, body.park, body.plant, body.point, start, end, body.reason, caller.actor
        )
        obj = f"maintenance {new} {body.park}/{body.plant}/{body.point or '*'}"
        detail = {"from": start.isoformat(), "to": end.isoformat(), "reason": body.reason}
        repo.audit(conn, caller.actor, "maintenance.create", obj, body.park, body.plant, detail)
        return new

    try:
        new_id = await write(request, _do)
    except LookupError:
        raise not_found(f"plant {body.park}/{body.plant}") from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    async with pool(request).connection() as conn:
        rows = await maintenance_in_scope(body.park, body.plant, None, 1000).fetch_async(conn)
    return next(_model(r) for r in rows if r.id == new_id)


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
