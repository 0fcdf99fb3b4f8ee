"""Alerts: filtered lists, detail with the evidence window and audit history, and officer actions. Every
change goes through compliance.service, which locks the alert, validates the transition and appends the
audit entry in the request's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, HTTPException, Query, Request

from api import repo
from api.deps import ERRORS, FORBIDDEN, ID_PATTERN, Caller, aware, forbidden, not_found, pool, write
from api.models import Alert, AlertAction, AlertDetail, AnnotateAction, AuditItem, Problem, RawReading
from ingest import parameters

v1 = APIRouter(prefix="/api/v1", tags=["alerts"], responses=ERRORS)

Kind = Literal[
    "exceedance",
    "hourly_mean",
    "daily_mean",
    "offline",
    "instrument_fault",
    "over_range",
    "implausible",
    "flatline",
    "rate_of_change",
    "reuse_ratio",
    "mass_balance",
]
Severity = Literal["warning", "violation", "critical"]
State = Literal["open", "acknowledged", "resolved"]
EVIDENCE_MARGIN = timedelta(minutes=30)
EVIDENCE_ROWS = 5000
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "the alert's state does not allow this (e.g. already resolved)"}
}


def alert_model(r: tuple[Any, ...]) -> Alert:
    keys = [
        "id",
        "park",
        "plant",
        "point",
        "parameter",
        "kind",
        "severity",
        "state",
        "basis",
        "opened_at",
        "first_time",
        "last_time",
        "created_at",
        "updated_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolved_by",
        "peak",
        "value",
        "limit",
        "limit_lower",
        "limit_source",
        "unit",
        "count",
        "escalation",
        "muted",
        "detail",
    ]
    return Alert(**dict(zip(keys, r[: len(keys)], strict=True)))


@v1.get("/alerts", response_model=list[Alert])
async def list_alerts(
    request: Request,
    caller: Caller,
    park: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    plant: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    point: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    parameter: Annotated[str | None, Query(description="canonical or HJ 212-2017 code")] = None,
    kind: Annotated[list[Kind] | None, Query(description="repeat for several")] = None,
    severity: Annotated[list[Severity] | None, Query(description="repeat for several")] = None,
    state: Annotated[list[State] | None, Query(description="repeat for several; default all")] = None,
    start: Annotated[
        datetime | None, Query(alias="from", description="alerts still active at or after")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="alerts opened before")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="page: ids below this")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[Alert]:
    """Newest first, in the caller's scope. Page with `before` = the last id of the previous page."""
    param_id = None
    if parameter is not None:
        found = parameters.BY_ALIAS.get(parameter)
        if found is None:
            raise HTTPException(422, f"unknown parameter {parameter!r}; use a code such as cod, nh3_n, ni")
        param_id = found.id
    f = repo.AlertFilter(
        park, plant, point, param_id, kind, severity, state, aware(start, "from"), aware(end, "to"), before
    )
    async with pool(request).connection() as conn:
        rows = await repo.alerts(conn, f, caller.park, caller.plant, limit)
    return [alert_model(r) for r in rows]


async def _visible(request: Request, caller: Caller, alert_id: int) -> tuple[Any, ...]:
    async with pool(request).connection() as conn:
        rows = await repo.alerts(conn, repo.AlertFilter(ids=[alert_id]), caller.park, caller.plant, 1)
    if not rows:
        raise not_found(f"alert {alert_id}")
    return rows[0]


@v1.get("/alerts/{alert_id}", response_model=AlertDetail)
async def alert_detail(request: Request, caller: Caller, alert_id: int) -> AlertDetail:
    """The alert, the readings of its parameter from 30 minutes before the first to 30 minutes after the
    last evidence, and every change with its actor."""
    if not 0 < alert_id < 2**62:
        raise not_found(f"alert {alert_id}")
    row = await _visible(request, caller, alert_id)
    start, end = row[10] - EVIDENCE_MARGIN, row[11] + EVIDENCE_MARGIN
    async with pool(request).connection() as conn:
        evidence = []
        if row[29]:  # a parameter (0 = the whole point, e.g. offline)
            evidence = await repo.raw_readings(conn, row[28], [row[29]], start, end, EVIDENCE_ROWS)
        trail = await repo.alert_audit(conn, alert_id)
    code = parameters.BY_ID[row[29]].code if row[29] in parameters.BY_ID else ""
    return AlertDetail(
        alert=alert_model(row),
        evidence_from=start,
        evidence_to=end,
        evidence=[RawReading(time=t, parameter=code, value=v, flag=f) for t, _p, v, f in evidence],
        audit=[
            AuditItem(at=a, actor=b, action=c, from_state=d, to_state=e, note=n) for a, b, c, d, e, n in trail
        ],
    )


async def _act(request: Request, caller: Caller, alert_id: int, action: str, note: str | None) -> Alert:
    if not 0 < alert_id < 2**62:
        raise not_found(f"alert {alert_id}")
    await _visible(request, caller, alert_id)
    if action != "annotate" and not caller.may_change_alerts:
        raise forbidden("an operator may annotate alerts; acknowledging and resolving is for officers")
    from compliance import service

    def _do(conn: psycopg.Connection) -> None:
        service.act(conn, alert_id, action, caller.actor, note)

    try:
        await write(request, _do)
    except LookupError:
        raise not_found(f"alert {alert_id}") from None
    except service.InvalidTransition as exc:
        raise HTTPException(409, str(exc)) from None
    return alert_model(await _visible(request, caller, alert_id))


@v1.post("/alerts/{alert_id}/ack", response_model=Alert, responses={**FORBIDDEN, **CONFLICT})
async def acknowledge(
    request: Request, caller: Caller, alert_id: int, body: AlertAction | None = None
) -> Alert:
    """Officers and admins: acknowledge an open alert, with an optional note."""
    return await _act(request, caller, alert_id, "acknowledge", body.note if body else None)


@v1.post("/alerts/{alert_id}/resolve", response_model=Alert, responses={**FORBIDDEN, **CONFLICT})
async def resolve(request: Request, caller: Caller, alert_id: int, body: AlertAction | None = None) -> Alert:
    """Officers and admins: resolve an open or acknowledged alert, with an optional note."""
    return await _act(request, caller, alert_id, "resolve", body.note if body else None)


@v1.post("/alerts/{alert_id}/annotate", response_model=Alert, responses=CONFLICT)
async def annotate(request: Request, caller: Caller, alert_id: int, body: AnnotateAction) -> Alert:
    """Anyone who sees the alert (operators too): add a note to its history."""
    return await _act(request, caller, alert_id, "annotate", body.note)
