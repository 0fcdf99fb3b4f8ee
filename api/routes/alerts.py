"""Alerts: filtered lists, detail with the evidence window and audit history, and officer actions. Every
change goes through compliance.service, which locks the alert, validates the transition and appends the
audit entry in the request's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, HTTPException, Query, Request, Response

from api.deps import ERRORS, FORBIDDEN, ID_PATTERN, Caller, aware, forbidden, not_found, pool, write
from api.models import (
    Alert,
    AlertAction,
    AlertDetail,
    AlertKind,
    AlertState,
    AnnotateAction,
    AuditItem,
    Problem,
    RawReading,
    public_alert,
)
from compliance.models import Severity
from compliance.repo import reads as compliance_reads
from compliance.repo.reads import AlertFilter, AlertRecord
from compliance.routing import Explanation
from ingest.core import parameters
from ingest.core import reads as ingest_reads
from ingest.hj212 import repo as hj212_repo
from ingest.hj212.repo import SampleRow

v1 = APIRouter(prefix="/api/v1", tags=["alerts"], responses=ERRORS)

EVIDENCE_MARGIN = timedelta(minutes=30)
EVIDENCE_ROWS = 5000
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "the alert's state does not allow this (e.g. already resolved)"}
}


@v1.get("/alerts", response_model=list[Alert])
async def list_alerts(
    request: Request,
    caller: Caller,
    park: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    plant: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    point: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    parameter: Annotated[str | None, Query(description="canonical or HJ 212-2017 code")] = None,
    kind: Annotated[list[AlertKind] | None, Query(description="repeat for several")] = None,
    severity: Annotated[list[Severity] | None, Query(description="repeat for several")] = None,
    state: Annotated[list[AlertState] | None, Query(description="repeat for several; default all")] = None,
    explanation: Annotated[
        list[Explanation] | None,
        Query(description="abnormal data by its explanation's state; pending: the officers' review queue"),
    ] = None,
    start: Annotated[
        datetime | None, Query(alias="from", description="alerts still active at or after")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="alerts opened before")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="page: ids below this")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[Alert]:
    """Newest first, in the caller's scope. Page with `before` = the last id of the previous page.
    Abnormal-data alerts go to the plant's operator first: an officer's list holds one only once
    compliance referred it to officers (`officer_visible_at`), or, filtered by `explanation`, while
    its explanation is before them."""
    param_id = None
    if parameter is not None:
        found = parameters.BY_ALIAS.get(parameter)
        if found is None:
            raise HTTPException(422, f"unknown parameter {parameter!r}; use a code such as cod, nh3_n, ni")
        param_id = found.id
    f = AlertFilter(
        park,
        plant,
        point,
        param_id,
        kind,
        severity,
        state,
        aware(start, "from"),
        aware(end, "to"),
        before,
        explanations=explanation,
        officer=caller.officer_view,
        reviewing=explanation is not None,
    )
    async with pool(request).connection() as conn:
        rows = await compliance_reads.alert_records(f, caller.park, caller.plant, limit).fetch_async(conn)
        samples = await _samples(conn, [r.id for r in rows])
    return [public_alert(r, samples.get(r.id)) for r in rows]


async def _samples(conn: psycopg.AsyncConnection[Any], alert_ids: list[int]) -> dict[int, SampleRow]:
    """The sample retention (HJ 212 3015) of each alert, from the command queue's named query."""
    if not alert_ids:
        return {}
    return {s.alert_id: s for s in await hj212_repo.samples_for_alerts(alert_ids).fetch_async(conn)}


async def _visible(request: Request, caller: Caller, alert_id: int) -> AlertRecord:
    """The alert if the caller may see it: in scope, and for an officer before officers or explained."""
    f = AlertFilter(ids=[alert_id], officer=caller.officer_view, reviewing=True)
    query = compliance_reads.alert_records(f, caller.park, caller.plant, 1)
    async with pool(request).connection() as conn:
        row = await query.first_async(conn)
    if row is None:
        raise not_found(f"alert {alert_id}")
    return row


@v1.get("/alerts/{alert_id}", response_model=AlertDetail)
async def alert_detail(request: Request, caller: Caller, alert_id: int) -> AlertDetail:
    """The alert, the readings of its parameter from 30 minutes before the first to 30 minutes after the
    last evidence, and every change with its actor."""
    if not 0 < alert_id < 2**62:
        raise not_found(f"alert {alert_id}")
    row = await _visible(request, caller, alert_id)
    start, end = row.first_time - EVIDENCE_MARGIN, row.last_time + EVIDENCE_MARGIN
    qid = row.parameter_id
    async with pool(request).connection() as conn:
        evidence = []
        if qid:  # a parameter (0 = the whole point, e.g. offline)
            query = ingest_reads.raw_readings(row.point_id, [qid], start, end, EVIDENCE_ROWS)
            evidence = await query.fetch_async(conn)
        trail = await compliance_reads.audit_trail(alert_id).fetch_async(conn)
        samples = await _samples(conn, [alert_id])
    code = parameters.BY_ID[qid].code if qid in parameters.BY_ID else ""
    return AlertDetail(
        alert=public_alert(row, samples.get(alert_id)),
        evidence_from=start,
        evidence_to=end,
        evidence=[RawReading(time=r.time, parameter=code, value=r.value, flag=r.flag) for r in evidence],
        audit=[AuditItem.model_validate(a, from_attributes=True) for a in trail],
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
    return public_alert(await _visible(request, caller, alert_id))


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


EVIDENCE_ZIP: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/zip": {}},
        "description": "the evidence zip; its SHA-256 is in X-Evidence-SHA256 and in the audit log",
    }
}


@v1.get(
    "/alerts/{alert_id}/evidence",
    response_class=Response,
    responses={**EVIDENCE_ZIP, **FORBIDDEN},
)
async def alert_evidence(request: Request, caller: Caller, alert_id: int) -> Response:
    """Officers and admins: one zip with the alert's evidence (the messages as received, the readings,
    the limit and its source, notes, commands sent, audit trails) and a manifest with every file's
    SHA-256; check it with `outfall evidence verify FILE.zip`. Each export is audited."""
    if not 0 < alert_id < 2**62:
        raise not_found(f"alert {alert_id}")
    await _visible(request, caller, alert_id)
    if not caller.may_change_alerts:
        raise forbidden("evidence export is for officers and admins")
    from api import evidence

    settings = request.app.state.evidence
    scope = (caller.park, caller.plant)
    done = await write(request, lambda conn: evidence.export(conn, alert_id, caller.actor, scope, settings))
    if done is None:
        raise not_found(f"alert {alert_id}")
    headers = {
        "Content-Disposition": f'attachment; filename="{done.filename}"',
        "X-Evidence-SHA256": done.sha256,
        "Cache-Control": "no-store",
    }
    return Response(done.data, media_type="application/zip", headers=headers)


@v1.post("/alerts/{alert_id}/annotate", response_model=Alert, responses={**FORBIDDEN, **CONFLICT})
async def annotate(request: Request, caller: Caller, alert_id: int, body: AnnotateAction) -> Alert:
    """Anyone who sees the alert (operators too): add a note to its history. `kind: explanation`
    (operators and admins): the plant's explanation of an abnormal-data alert, which an officer then
    accepts or rejects; 409 for another kind of alert, or while one is pending or once one is
    accepted."""
    if body.kind == "explanation":
        return await _explanation(request, caller, alert_id, None, body.note)
    return await _act(request, caller, alert_id, "annotate", body.note)


@v1.post("/alerts/{alert_id}/explanation/accept", response_model=Alert, responses={**FORBIDDEN, **CONFLICT})
async def accept_explanation(
    request: Request, caller: Caller, alert_id: int, body: AlertAction | None = None
) -> Alert:
    """Officers and admins: accept the plant's pending explanation (the alert is not referred)."""
    return await _explanation(request, caller, alert_id, True, body.note if body else None)


@v1.post("/alerts/{alert_id}/explanation/reject", response_model=Alert, responses={**FORBIDDEN, **CONFLICT})
async def reject_explanation(
    request: Request, caller: Caller, alert_id: int, body: AlertAction | None = None
) -> Alert:
    """Officers and admins: reject the plant's pending explanation; the alert goes before officers."""
    return await _explanation(request, caller, alert_id, False, body.note if body else None)


async def _explanation(
    request: Request, caller: Caller, alert_id: int, accept: bool | None, note: str | None
) -> Alert:
    """``accept`` None: the operator explains; True/False: an officer decides."""
    if not 0 < alert_id < 2**62:
        raise not_found(f"alert {alert_id}")
    await _visible(request, caller, alert_id)
    if accept is None and not caller.may_explain:
        raise forbidden("the plant's operator explains its abnormal data; officers accept or reject it")
    if accept is not None and not caller.may_change_alerts:
        raise forbidden("an officer accepts or rejects an explanation")
    from compliance import service

    def _do(conn: psycopg.Connection) -> None:
        if accept is None:
            service.explain(conn, alert_id, caller.actor, note or "")
        else:
            service.decide_explanation(conn, alert_id, accept, caller.actor, note)

    try:
        await write(request, _do)
    except LookupError:
        raise not_found(f"alert {alert_id}") from None
    except service.InvalidTransition as exc:
        raise HTTPException(409, str(exc)) from None
    return public_alert(await _visible(request, caller, alert_id))
