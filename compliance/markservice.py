"""What the API (and the command line) may do with data marks, in the caller's transaction. Every
function takes the marks lock first (repo/marks.py: judging waits for a mark's change and a mark's
change for the judging under way), appends an audit entry with its actor, and re-judges through
compliance/marking.py. Who may call which is the API's decision (api/routes/marks.py); the bounds,
the correction window and the transitions are decided here and refused again by the database."""

from __future__ import annotations

import hashlib
from datetime import datetime

import psycopg

from compliance import marking, marks, repo
from compliance.alerts import InvalidTransition
from compliance.models import MarkBounds
from compliance.repo import marks as mrepo
from compliance.settings import MarkSettings


class MarkRefused(ValueError):
    """A mark outside its bounds (compliance.marks.refusal), refused by us or the database's trigger."""


class MarkLocked(MarkRefused):
    """The correction window after the mark's end has passed: the plant can no longer change it."""


class UnknownCode(ValueError):
    """A code that is not in the mark catalogue."""


class EvidenceRefused(ValueError):
    """An evidence file of the wrong type, too large, or one too many."""


def create_mark(
    conn: psycopg.Connection,
    park: str,
    plant: str,
    point: str | None,
    code: str,
    start: datetime,
    end: datetime,
    reason: str,
    actor: str,
) -> mrepo.Mark:
    """Mark a point (or, with ``point`` None, the whole plant) for [start, end) with ``code``. A mark
    takes effect at once (its invalid data is not judged and the alerts over it are withdrawn), except a
    maintenance window longer than the approval threshold, which waits for an officer. Raises
    UnknownCode, MarkRefused (bounds), ValueError (no reason), LookupError (unknown plant or point)."""
    mrepo.lock_marks(conn)
    if not reason.strip() or not actor.strip():
        raise ValueError("a note and an actor are required")
    if not mrepo.known_code(conn, code):
        raise UnknownCode(f"unknown mark code {code!r} (GET /api/v1/marks/codes lists them)")
    now, bounds = mrepo.mark_policy(conn)
    _now, maint = repo.maintenance_policy(conn)
    refusal = marks.refusal(code, start, end, now, bounds, maint)
    if refusal is not None:
        raise MarkRefused(refusal)
    status = "pending" if marks.needs_review_first(code, start, end, maint) else "approved"
    try:
        with conn.transaction():  # a savepoint: the trigger's refusal leaves the caller's transaction usable
            new = mrepo.create_mark(conn, park, plant, point, code, (start, end), reason, actor, status)
    except psycopg.errors.CheckViolation as exc:
        raise MarkRefused(exc.diag.message_primary or str(exc)) from None
    m = _locked(conn, new)
    withdrawn = marking.took_effect(conn, m, now) if status == "approved" else 0
    marking.check_stopped(conn, m, now)
    detail = {"code": code, "from": start, "to": end, "point": point, "alerts_withdrawn": withdrawn}
    mrepo.append_mark_audit(conn, new, actor, "create", (None, status), reason, detail)
    return _read(conn, new)


def decide_mark(
    conn: psycopg.Connection, mark_id: int, accept: bool, actor: str, note: str | None = None
) -> mrepo.Mark:
    """An officer accepts or rejects a mark that is pending or in effect and not reviewed yet. Accepting
    a pending mark puts it in effect; rejecting one in effect restores judgement over its period.
    Officers may review a mark after the plant's correction window too. Raises LookupError,
    InvalidTransition (already decided, withdrawn), MarkRefused (the database refuses it)."""
    mrepo.lock_marks(conn)
    m = mrepo.mark_for_update(conn, mark_id)
    if m is None:
        raise LookupError(f"no mark {mark_id}")
    if m.status not in ("pending", "approved") or m.decided_by is not None:
        by = f" by {m.decided_by}" if m.decided_by and m.status != "withdrawn" else ""
        raise InvalidTransition(f"mark {mark_id} is {m.status}{by}: it was decided already")
    new = "approved" if accept else "rejected"
    try:
        with conn.transaction():
            mrepo.decide_mark(conn, mark_id, new, actor, note)
    except psycopg.errors.CheckViolation as exc:
        raise MarkRefused(exc.diag.message_primary or str(exc)) from None
    now, _bounds = mrepo.mark_policy(conn)
    detail: dict[str, object] = {}
    if m.status == "pending" and accept:
        detail["alerts_withdrawn"] = marking.took_effect(conn, m, now)
    elif m.status == "approved" and not accept:
        back, queued = marking.lost_effect(conn, m, "rejected", actor, now)
        detail |= {"alerts_reinstated": back, "readings_rejudged": queued}
    action = "accept" if accept else "reject"
    mrepo.append_mark_audit(conn, mark_id, actor, action, (m.status, new), note, detail)
    return _read(conn, mark_id)


def withdraw_mark(conn: psycopg.Connection, mark_id: int, actor: str, note: str | None = None) -> mrepo.Mark:
    """The plant takes a mark back, within the correction window after its end. Its period is judged
    again. Raises LookupError, InvalidTransition (rejected or withdrawn already), MarkLocked."""
    mrepo.lock_marks(conn)
    m = mrepo.mark_for_update(conn, mark_id)
    if m is None:
        raise LookupError(f"no mark {mark_id}")
    if m.status in ("rejected", "withdrawn"):
        raise InvalidTransition(f"mark {mark_id} is {m.status} already")
    now, bounds = mrepo.mark_policy(conn)
    _refuse_if_locked(m, now, bounds)
    try:
        with conn.transaction():
            mrepo.withdraw_mark(conn, mark_id, actor)
    except psycopg.errors.CheckViolation as exc:
        raise MarkLocked(exc.diag.message_primary or str(exc)) from None
    detail: dict[str, object] = {}
    if m.status == "approved":
        back, queued = marking.lost_effect(conn, m, "withdrawn", actor, now)
        detail = {"alerts_reinstated": back, "readings_rejudged": queued}
    mrepo.append_mark_audit(conn, mark_id, actor, "withdraw", (m.status, "withdrawn"), note, detail)
    return _read(conn, mark_id)


def add_evidence(
    conn: psycopg.Connection,
    mark_id: int,
    name: str,
    content_type: str,
    body: bytes,
    actor: str,
    limits: MarkSettings,
) -> mrepo.EvidenceMeta:
    """Attach an evidence file to a mark (stored in the database), within the correction window. Raises
    LookupError, InvalidTransition (rejected or withdrawn), MarkLocked, EvidenceRefused."""
    mrepo.lock_marks(conn)
    m = mrepo.mark_for_update(conn, mark_id)
    if m is None:
        raise LookupError(f"no mark {mark_id}")
    if m.status in ("rejected", "withdrawn"):
        raise InvalidTransition(f"mark {mark_id} is {m.status}: no evidence can be added")
    now, bounds = mrepo.mark_policy(conn)
    _refuse_if_locked(m, now, bounds)
    why = marks.evidence_refusal(name, content_type, body, limits.evidence_types, limits.evidence_max_bytes)
    if why is None and mrepo.evidence_count(conn, mark_id) >= limits.evidence_max_files:
        why = f"a mark has at most {limits.evidence_max_files} evidence files"
    if why is not None:
        raise EvidenceRefused(why)
    digest = hashlib.sha256(body).digest()
    eid = mrepo.add_evidence(conn, mark_id, name, content_type, body, digest, actor)
    detail = {"evidence": eid, "name": name, "size": len(body), "sha256": digest.hex()}
    mrepo.append_mark_audit(conn, mark_id, actor, "evidence", (m.status, m.status), None, detail)
    return next(e for e in mrepo.mark_evidence(mark_id).fetch(conn) if e.id == eid)


def _refuse_if_locked(m: mrepo.MarkRow, now: datetime, bounds: MarkBounds) -> None:
    if marks.is_locked(m.end, now, bounds):
        until = marks.locked_at(m.end, bounds).isoformat()
        raise MarkLocked(
            f"mark {m.id} is locked: its correction window ({marks.span_text(bounds.correction)} after its"
            f" end) ended at {until}"
        )


def _locked(conn: psycopg.Connection, mark_id: int) -> mrepo.MarkRow:
    found = mrepo.mark_for_update(conn, mark_id)
    assert found is not None, "written in this transaction"
    return found


def _read(conn: psycopg.Connection, mark_id: int) -> mrepo.Mark:
    found = mrepo.mark_by_id(mark_id).first(conn)
    assert found is not None, "written in this transaction"
    return found
