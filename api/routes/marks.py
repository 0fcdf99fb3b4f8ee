"""Data marks (MEE Announcement 2022 No. 21): a plant's operator marks a point or the whole plant for a
period with a standard code, ahead or afterwards within the correction window, with a note and evidence
files; officers see every mark in their scope and accept or reject it. Compliance decides what a mark
does to judgement (compliance/markservice.py); the API checks who may ask and answers with what was
committed. Maintenance windows (/api/v1/maintenance) are the marks of the code `maintenance`."""

from __future__ import annotations

import logging
import urllib.parse
from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from api import repo
from api.auth import Principal
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
from api.models import (
    EvidenceItem,
    MarkAuditItem,
    MarkCodeView,
    MarkDetail,
    MarkedAlertItem,
    MarkIn,
    MarkNote,
    MarkView,
    Problem,
)
from compliance.repo import marks as mark_reads
from compliance.settings import MarkSettings

log = logging.getLogger(__name__)
v1 = APIRouter(prefix="/api/v1", tags=["marks"], responses=ERRORS)
MarkId = Annotated[int, Path(ge=1, le=2**62)]
REVIEWERS = ("admin", "officer")  # who accepts or rejects a mark
EVIDENCE_TYPES: tuple[str, ...] = MarkSettings.model_fields["evidence_types"].default  # documented ones
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "decided already, withdrawn, or locked (correction window over)"}
}


def _view(r: mark_reads.Mark) -> MarkView:
    return MarkView.model_validate(r, from_attributes=True)


@v1.get("/marks/codes", response_model=list[MarkCodeView])
async def mark_codes(request: Request, _caller: Caller) -> list[MarkCodeView]:
    """The mark codes: equipment states and production states, with the HJ 212 flag of the same state,
    whether marked data is invalid, and how sure the catalogue is of each (README "Data marks")."""
    async with pool(request).connection() as conn:
        rows = await mark_reads.mark_codes().fetch_async(conn)
    return [MarkCodeView.model_validate(r, from_attributes=True) for r in rows]


@v1.get("/marks", response_model=list[MarkView])
async def list_marks(
    request: Request,
    caller: Caller,
    park: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    plant: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    status: Annotated[list[str] | None, Query(description="pending, approved, rejected, withdrawn")] = None,
    code: Annotated[list[str] | None, Query(description="repeat for several")] = None,
    start: Annotated[datetime | None, Query(alias="from", description="marks overlapping [from, to)")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[MarkView]:
    """Every mark in the caller's scope (officers: their park or all; a plant's operator: their plant),
    newest first."""
    if (park and not caller.sees_park(park)) or (park and plant and not caller.sees_plant(park, plant)):
        return []
    f = mark_reads.MarkFilter(
        caller.park or park, caller.plant or plant, status, code, aware(start, "from"), aware(end, "to")
    )
    async with pool(request).connection() as conn:
        rows = await mark_reads.marks_in_scope(f, limit).fetch_async(conn)
    return [_view(r) for r in rows if park is None or r.park == park]


@v1.get("/marks/{mark_id}", response_model=MarkDetail)
async def get_mark(request: Request, caller: Caller, mark_id: MarkId) -> MarkDetail:
    """A mark with its audit trail, its evidence files and the alerts it withdrew."""
    async with pool(request).connection() as conn:
        found = await _in_scope(conn, caller, mark_id)
        audit = await mark_reads.mark_audit(mark_id).fetch_async(conn)
        files = await mark_reads.mark_evidence(mark_id).fetch_async(conn)
        withdrawn = await mark_reads.mark_alerts(mark_id).fetch_async(conn)
    return MarkDetail(
        **_view(found).model_dump(),
        audit=[MarkAuditItem.model_validate(a, from_attributes=True) for a in audit],
        evidence_files=[EvidenceItem.model_validate(e, from_attributes=True) for e in files],
        alerts=[MarkedAlertItem.model_validate(a, from_attributes=True) for a in withdrawn],
    )


@v1.post("/marks", response_model=MarkView, status_code=201, responses={**FORBIDDEN, **CONFLICT})
async def create_mark(request: Request, caller: Caller, body: MarkIn) -> MarkView:
    """A plant's operator (for their own plant) or an admin marks a point, or the whole plant without
    `point`. The mark takes effect at once: data its code makes invalid is not judged, and alerts over the
    period are withdrawn (each with an audit entry naming the mark); criticals are always judged. A
    maintenance mark keeps the maintenance bounds (72 h, 24 h back, 30 days ahead, over 12 h waits for an
    officer); other marks may start at most the correction window (10 days) back."""
    require_plant(caller, body.park, body.plant)
    if not caller.may_declare_maintenance:
        raise forbidden("marks are made by the plant's or park's operator")
    start, end = aware(body.start, "from"), aware(body.end, "to")
    assert start is not None and end is not None
    from compliance import service

    def _do(conn: psycopg.Connection) -> mark_reads.Mark:
        made = service.create_mark(
            conn, body.park, body.plant, body.point, body.code, start, end, body.note, caller.actor
        )
        detail = {"code": body.code, "from": start.isoformat(), "to": end.isoformat(), "status": made.status}
        repo.audit(conn, caller.actor, "mark.create", _obj(made), body.park, body.plant, detail)
        return made

    try:
        return _view(await write(request, _do))
    except LookupError:
        raise not_found(
            f"plant {body.park}/{body.plant}" + (f" point {body.point}" if body.point else "")
        ) from None
    except ValueError as exc:  # unknown code, outside the bounds, no note: nothing stored
        log.warning("mark refused for %s (%s/%s): %s", caller.actor, body.park, body.plant, exc)
        raise HTTPException(422, str(exc)) from None


@v1.post("/marks/{mark_id}/accept", response_model=MarkView, responses={**FORBIDDEN, **CONFLICT})
async def accept_mark(
    request: Request, caller: Caller, mark_id: MarkId, body: MarkNote | None = None
) -> MarkView:
    """Officers and admins: accept a mark (pending: it takes effect now)."""
    return await _decide(request, caller, mark_id, True, body.note if body else None)


@v1.post("/marks/{mark_id}/reject", response_model=MarkView, responses={**FORBIDDEN, **CONFLICT})
async def reject_mark(
    request: Request, caller: Caller, mark_id: MarkId, body: MarkNote | None = None
) -> MarkView:
    """Officers and admins: reject a mark. Its data is judged again: the alerts it withdrew come back and
    breaches it kept from opening an alert open now."""
    return await _decide(request, caller, mark_id, False, body.note if body else None)


@v1.post("/marks/{mark_id}/withdraw", response_model=MarkView, responses={**FORBIDDEN, **CONFLICT})
async def withdraw_mark(
    request: Request, caller: Caller, mark_id: MarkId, body: MarkNote | None = None
) -> MarkView:
    """The plant's operator (or an admin) takes a mark back, until its correction window ends (409
    after: the mark is locked). Its data is judged again."""
    from compliance import service

    await _plant_side(request, caller, mark_id, "withdraw")
    note = body.note if body else None

    def _do(conn: psycopg.Connection) -> mark_reads.Mark:
        done = service.withdraw_mark(conn, mark_id, caller.actor, note)
        repo.audit(conn, caller.actor, "mark.withdraw", _obj(done), done.park, done.plant, {"note": note})
        return done

    return _view(await _write(request, _do, mark_id))


@v1.post(
    "/marks/{mark_id}/evidence",
    response_model=EvidenceItem,
    status_code=201,
    responses={
        **FORBIDDEN,
        **CONFLICT,
        413: {"model": Problem, "description": "larger than the API accepts"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in EVIDENCE_TYPES},
        }
    },
)
async def add_evidence(
    request: Request,
    caller: Caller,
    mark_id: MarkId,
    name: Annotated[str, Query(min_length=1, max_length=200, description="the file's name")],
) -> EvidenceItem:
    """Attach an evidence file (the body, as is, with its Content-Type: PDF, JPEG, PNG, plain text or CSV)
    to a mark, until its correction window ends. Files are kept in the database, each bounded
    (OUTFALL_MARKS_EVIDENCE_MAX_BYTES, under the API's body limit) and at most 10 per mark."""
    from compliance import service

    mark = await _plant_side(request, caller, mark_id, "add evidence to")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    limits: MarkSettings = request.app.state.marks

    def _do(conn: psycopg.Connection) -> mark_reads.EvidenceMeta:
        added = service.add_evidence(conn, mark_id, name, content_type, body, caller.actor, limits)
        detail = {"name": name, "size": added.size, "sha256": added.sha256}
        repo.audit(conn, caller.actor, "mark.evidence", _obj(mark), mark.park, mark.plant, detail)
        return added

    return EvidenceItem.model_validate(await _write(request, _do, mark_id), from_attributes=True)


@v1.get(
    "/marks/{mark_id}/evidence/{evidence_id}",
    response_class=Response,
    responses={
        200: {"description": "the file, with its own type", "content": {t: {} for t in EVIDENCE_TYPES}}
    },
)
async def get_evidence(
    request: Request, caller: Caller, mark_id: MarkId, evidence_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    """An evidence file as it was uploaded, as an attachment, with its SHA-256."""
    async with pool(request).connection() as conn:
        await _in_scope(conn, caller, mark_id)
        found = await mark_reads.evidence_file(mark_id, evidence_id).first_async(conn)
    if found is None:
        raise not_found(f"evidence {evidence_id} of mark {mark_id}")
    disposition = f"attachment; filename*=UTF-8''{urllib.parse.quote(found.name, safe='')}"
    headers = {"Content-Disposition": disposition, "X-Content-SHA256": found.sha256}
    return Response(found.body, media_type=found.content_type, headers=headers)


async def _in_scope(conn: Any, caller: Principal, mark_id: int) -> mark_reads.Mark:
    found = await mark_reads.mark_by_id(mark_id).first_async(conn)
    if found is None or not caller.sees_plant(found.park, found.plant):
        raise not_found(f"mark {mark_id}")
    return found


async def _plant_side(request: Request, caller: Principal, mark_id: int, what: str) -> mark_reads.Mark:
    """The mark, for a change only its plant's side makes (operators in scope, admins)."""
    async with pool(request).connection() as conn:
        found = await _in_scope(conn, caller, mark_id)
    if not caller.may_declare_maintenance:
        log.warning("mark %d: %s may not %s it", mark_id, caller.actor, what)
        raise forbidden(f"only the plant's operator may {what} a mark; officers accept or reject it")
    return found


async def _decide(
    request: Request, caller: Principal, mark_id: int, accept: bool, note: str | None
) -> MarkView:
    from compliance import service

    async with pool(request).connection() as conn:
        await _in_scope(conn, caller, mark_id)
    if caller.role not in REVIEWERS:
        log.warning("mark %d: %s may not accept or reject it", mark_id, caller.actor)
        raise forbidden("marks are accepted or rejected by an officer")

    def _do(conn: psycopg.Connection) -> mark_reads.Mark:
        done = service.decide_mark(conn, mark_id, accept, caller.actor, note)
        action = "mark.accept" if accept else "mark.reject"
        repo.audit(conn, caller.actor, action, _obj(done), done.park, done.plant, {"note": note})
        return done

    return _view(await _write(request, _do, mark_id))


async def _write(request: Request, fn: Any, mark_id: int) -> Any:
    """Run a mark change; compliance's refusals become 404, 409 or 422 with what to fix."""
    from compliance import service

    try:
        return await write(request, fn)
    except LookupError:
        raise not_found(f"mark {mark_id}") from None
    except (service.InvalidTransition, service.MarkLocked) as exc:
        log.warning("mark %d: %s", mark_id, exc)
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:  # refused evidence, bounds the database refused
        raise HTTPException(422, str(exc)) from None


def _obj(m: mark_reads.Mark) -> str:
    return f"mark {m.id} {m.code} {m.park}/{m.plant}/{m.point or '*'}"
