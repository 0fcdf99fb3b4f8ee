"""SQL of the compliance package: data marks (migration 045): the marks, their codes and policy, their
audit log and evidence files, the alerts they withdrew, the lock that orders marking against judging,
and the named reads the API serves them with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import psycopg
from psycopg.rows import class_row

from compliance.marks import MarkCode
from compliance.models import MarkBounds, MarkSpan
from ingest.core.query import Query

# A mark's change (withdrawing or reinstating alerts, queueing the period again) and the judging paths
# (real-time chunks, closing hours, data-time scans) are ordered by this advisory lock: a judge holds it
# shared for its transaction, a mark's change exclusively, so no judge decides with marks read before a
# change that commits after it.
MARKS_LOCK = 7_212_045


def share_marks(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (MARKS_LOCK,))


def lock_marks(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MARKS_LOCK,))


# --- policy and codes ---------------------------------------------------------------------------------
def mark_policy(conn: psycopg.Connection) -> tuple[datetime, MarkBounds]:
    """The transaction's now() and the bounds the database's trigger judges marks by."""
    row = conn.execute("SELECT now(), correction, max_lead, max_length FROM mark_policy").fetchone()
    assert row is not None, "mark_policy has its row from migration 045"
    return row[0], MarkBounds(row[1], row[2], row[3])


def set_mark_policy(conn: psycopg.Connection, b: MarkBounds) -> None:
    conn.execute(
        "UPDATE mark_policy SET correction = %s, max_lead = %s, max_length = %s, updated_at = now()",
        (b.correction, b.max_lead, b.max_length),
    )


def sync_codes(conn: psycopg.Connection, codes: Iterable[MarkCode]) -> None:
    """Write the catalogue (codes no longer in it stay, for the marks that carry them)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO mark_codes (code, grp, name_zh, name_en, hj212_flag, invalidates, claims_stopped,"
            " confidence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (code) DO UPDATE SET"
            " grp = EXCLUDED.grp, name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,"
            " hj212_flag = EXCLUDED.hj212_flag, invalidates = EXCLUDED.invalidates,"
            " claims_stopped = EXCLUDED.claims_stopped, confidence = EXCLUDED.confidence, updated_at = now()",
            [
                (c.code, c.group, c.zh, c.en, c.hj212_flag, c.invalidates, c.claims_stopped, c.confidence)
                for c in codes
            ],
        )


def known_code(conn: psycopg.Connection, code: str) -> bool:
    return conn.execute("SELECT 1 FROM mark_codes WHERE code = %s", (code,)).fetchone() is not None


# --- marks ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MarkRow:
    """A mark as its changes need it, read locked."""

    id: int
    park_id: str
    plant_id: str
    point_id: int | None
    code: str
    start: datetime
    end: datetime
    status: str
    decided_by: str | None
    created_by: str
    claims_stopped: bool


def create_mark(
    conn: psycopg.Connection,
    park_id: str,
    plant_id: str,
    point_code: str | None,
    code: str,
    during: tuple[datetime, datetime],
    reason: str,
    actor: str,
    status: str,
) -> int:
    """Insert a mark; raises LookupError for an unknown plant (or point)."""
    row = conn.execute(
        "INSERT INTO data_marks (park_id, plant_id, point_id, code, during, reason, created_by, status)"
        " SELECT %(park)s, %(plant)s, pt.id, %(code)s, tstzrange(%(s)s, %(e)s), %(reason)s, %(actor)s,"
        " %(status)s FROM plants pl LEFT JOIN points pt ON pt.park_id = pl.park_id"
        " AND pt.plant_id = pl.id AND pt.code = %(point)s"
        " WHERE pl.park_id = %(park)s AND pl.id = %(plant)s"
        " AND (%(point)s::text IS NULL OR pt.id IS NOT NULL)"
        " RETURNING id",
        {
            "park": park_id,
            "plant": plant_id,
            "point": point_code,
            "code": code,
            "s": during[0],
            "e": during[1],
            "reason": reason,
            "actor": actor,
            "status": status,
        },
    ).fetchone()
    if row is None:
        raise LookupError(
            f"no plant {park_id}/{plant_id}" + (f" with a point {point_code}" if point_code else "")
        )
    return int(row[0])


def mark_for_update(conn: psycopg.Connection, mark_id: int) -> MarkRow | None:
    with conn.cursor(row_factory=class_row(MarkRow)) as cur:
        return cur.execute(
            "SELECT m.id, m.park_id, m.plant_id, m.point_id, m.code, lower(m.during) AS start,"
            ' upper(m.during) AS "end", m.status, m.decided_by, m.created_by, c.claims_stopped'
            " FROM data_marks m JOIN mark_codes c ON c.code = m.code WHERE m.id = %s FOR UPDATE OF m",
            (mark_id,),
        ).fetchone()


def decide_mark(conn: psycopg.Connection, mark_id: int, status: str, actor: str, note: str | None) -> None:
    conn.execute(
        "UPDATE data_marks SET status = %s, decided_by = %s, decided_at = now(), decision_note = %s"
        " WHERE id = %s",
        (status, actor, note, mark_id),
    )


def withdraw_mark(conn: psycopg.Connection, mark_id: int, actor: str) -> None:
    conn.execute(
        "UPDATE data_marks SET status = 'withdrawn', withdrawn_by = %s, withdrawn_at = now() WHERE id = %s",
        (actor, mark_id),
    )


def append_mark_audit(
    conn: psycopg.Connection,
    mark_id: int,
    actor: str,
    action: str,
    transition: tuple[str | None, str | None],
    note: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO data_mark_audit (mark_id, actor, action, from_status, to_status, note, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (mark_id, actor, action, *transition, note, orjson.dumps(detail or {}, default=str).decode()),
    )


def covered_points(conn: psycopg.Connection, m: MarkRow) -> list[int]:
    """The active points a mark covers: its point, or every point of its plant."""
    if m.point_id is not None:
        return [m.point_id]
    rows = conn.execute(
        "SELECT id FROM points WHERE park_id = %s AND plant_id = %s AND active ORDER BY id",
        (m.park_id, m.plant_id),
    ).fetchall()
    return [r[0] for r in rows]


def mark_spans(
    conn: psycopg.Connection,
    point_ids: Sequence[int],
    start: datetime,
    end: datetime,
    statuses: Sequence[str] = ("approved",),
    stopped_only: bool = False,
) -> dict[int, list[MarkSpan]]:
    """Marks covering each point (its own or its plant's) with the given statuses that overlap
    [start, end], clipped to it (a mark stored before the bounds existed is still a time Python can
    hold). By default the marks in effect: pending, rejected and withdrawn marks change nothing."""
    rows = conn.execute(
        "SELECT p.id, greatest(lower(m.during), %(start)s), least(upper(m.during), %(end)s + interval '1 s'),"
        " m.id, m.code, c.invalidates"
        " FROM points p JOIN data_marks m ON m.park_id = p.park_id AND m.plant_id = p.plant_id"
        " AND (m.point_id IS NULL OR m.point_id = p.id) JOIN mark_codes c ON c.code = m.code"
        " WHERE p.id = ANY(%(ids)s) AND m.status = ANY(%(statuses)s)"
        " AND (NOT %(stopped)s OR c.claims_stopped)"
        " AND m.during && tstzrange(%(start)s, %(end)s, '[]') ORDER BY lower(m.during), m.id",
        {
            "ids": list(point_ids),
            "start": start,
            "end": end,
            "statuses": list(statuses),
            "stopped": stopped_only,
        },
    ).fetchall()
    found: dict[int, list[MarkSpan]] = {}
    for pid, lo, hi, mid, code, invalidates in rows:
        found.setdefault(pid, []).append(MarkSpan(lo, hi, mid, code, invalidates))
    return found


# --- the alerts a mark withdraws and reinstates ---------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A not-yet-closed alert at a marked point whose data may lie under the mark, locked."""

    id: int
    kind: str
    severity: str
    state: str
    point_id: int
    parameter_id: int
    first_time: datetime
    last_time: datetime
    muted: str | None


def withdraw_candidates(
    conn: psycopg.Connection, point_ids: Sequence[int], start: datetime, end: datetime, kinds: Sequence[str]
) -> list[Candidate]:
    """Alerts of these kinds at these points, not resolved, whose evidence window overlaps [start, end)
    (a day-mean alert's window is its days' starts: a day before is looked at too)."""
    with conn.cursor(row_factory=class_row(Candidate)) as cur:
        return cur.execute(
            "SELECT id, kind, severity, state, point_id, parameter_id, first_time, last_time, muted"
            " FROM alerts WHERE point_id = ANY(%s) AND kind = ANY(%s)"
            " AND state IN ('open', 'acknowledged', 'cleared')"
            " AND first_time < %s AND last_time >= %s ORDER BY id FOR UPDATE",
            (list(point_ids), list(kinds), end, start - timedelta(days=1)),
        ).fetchall()


def withdraw_alert(conn: psycopg.Connection, alert_id: int, mark_ids: Sequence[int], from_state: str) -> None:
    """Close an alert whose data the marks made invalid, and remember which marks and the state it had."""
    conn.execute(
        "UPDATE alerts SET state = 'resolved', resolved_at = clock_timestamp(), resolved_by = 'compliance',"
        " updated_at = clock_timestamp() WHERE id = %s",
        (alert_id,),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO data_mark_alerts (mark_id, alert_id, from_state) VALUES (%s, %s, %s)"
            " ON CONFLICT (mark_id, alert_id) DO UPDATE SET from_state = EXCLUDED.from_state,"
            " withdrawn_at = clock_timestamp(), reinstated_at = NULL",
            [(m, alert_id, from_state) for m in mark_ids],
        )


@dataclass(frozen=True)
class Withdrawn:
    """An alert a mark withdrew and that has not been reinstated, locked."""

    id: int
    kind: str
    severity: str
    state: str
    point_id: int
    parameter_id: int
    first_time: datetime
    last_time: datetime
    from_state: str
    twin_active: bool  # another alert of its key is active now


def withdrawn_by(conn: psycopg.Connection, mark_id: int) -> list[Withdrawn]:
    with conn.cursor(row_factory=class_row(Withdrawn)) as cur:
        return cur.execute(
            "SELECT a.id, a.kind, a.severity, a.state, a.point_id, a.parameter_id, a.first_time, a.last_time,"
            " l.from_state, EXISTS (SELECT 1 FROM alerts t WHERE t.kind = a.kind AND t.point_id = a.point_id"
            "  AND t.parameter_id = a.parameter_id AND t.state IN ('open', 'acknowledged') AND t.id <> a.id)"
            " AS twin_active"
            " FROM data_mark_alerts l JOIN alerts a ON a.id = l.alert_id"
            " WHERE l.mark_id = %s AND l.reinstated_at IS NULL AND a.state = 'resolved'"
            " AND a.resolved_by = 'compliance' ORDER BY a.id FOR UPDATE OF a",
            (mark_id,),
        ).fetchall()


def reinstate_alert(conn: psycopg.Connection, alert_id: int, state: str) -> None:
    conn.execute(
        "UPDATE alerts SET state = %(state)s, resolved_at = NULL, resolved_by = NULL,"
        " cleared_at = CASE WHEN %(state)s = 'cleared' THEN coalesce(cleared_at, clock_timestamp()) END,"
        " updated_at = clock_timestamp() WHERE id = %(id)s",
        {"state": state, "id": alert_id},
    )
    conn.execute(
        "UPDATE data_mark_alerts SET reinstated_at = clock_timestamp() WHERE alert_id = %s"
        " AND reinstated_at IS NULL",
        (alert_id,),
    )


# --- judging the period again ---------------------------------------------------------------------------
Skip = tuple[int, int, datetime, datetime]  # (point, parameter, first, last): already an alert's evidence


def requeue_readings(
    conn: psycopg.Connection, point_ids: Sequence[int], start: datetime, end: datetime, skip: Sequence[Skip]
) -> int:
    """Queue the period's stored readings the real-time rules look at (as ingest's capture does: not
    valid, implausible, or at the warning level) for the engine to judge again, except those already an
    alert's evidence. Returns how many were queued."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO compliance_inbox (point_id, parameter_id, time, value, flag, late)"
            " SELECT r.point_id, r.parameter_id, r.time, r.value, r.flag, false"
            " FROM readings_range(%(ids)s::integer[], NULL, %(s)s, %(e)s) r"
            " JOIN parameters p ON p.id = r.parameter_id"
            " LEFT JOIN compliance_limits l ON l.point_id = r.point_id AND l.parameter_id = r.parameter_id"
            "  AND l.valid @> r.time"
            " WHERE (r.flag NOT IN ('N', 'S') OR r.value < p.plausible_min OR r.value > p.plausible_max"
            "  OR r.value >= l.watch_upper OR r.value < l.watch_lower)"
            " AND NOT EXISTS (SELECT 1 FROM unnest(%(sp)s::int[], %(sq)s::int[], %(sa)s::timestamptz[],"
            "  %(sb)s::timestamptz[]) k(p, q, a, b) WHERE k.p = r.point_id AND k.q = r.parameter_id"
            "  AND r.time BETWEEN k.a AND k.b)",
            {
                "ids": list(point_ids),
                "s": start,
                "e": end,
                "sp": [k[0] for k in skip],
                "sq": [k[1] for k in skip],
                "sa": [k[2] for k in skip],
                "sb": [k[3] for k in skip],
            },
        )
        return cur.rowcount


def queue_spans(
    conn: psycopg.Connection,
    point_ids: Sequence[int],
    parameter_ids: Sequence[int],
    start: datetime,
    end: datetime,
) -> None:
    """Queue the period of these series for the data-time scan (compliance/history.py), as ingest does
    for new data: a mark made afterwards is checked against what was stored."""
    conn.execute(
        "INSERT INTO compliance_spans (point_id, parameter_id, first_time, last_time)"
        " SELECT pp.point_id, pp.parameter_id, %(s)s, %(e)s FROM point_parameters pp"
        " WHERE pp.point_id = ANY(%(ids)s) AND pp.parameter_id = ANY(%(qs)s)",
        {"ids": list(point_ids), "qs": list(parameter_ids), "s": start, "e": end},
    )


# --- evidence -------------------------------------------------------------------------------------------
def evidence_count(conn: psycopg.Connection, mark_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM data_mark_evidence WHERE mark_id = %s", (mark_id,)).fetchone()
    return int(row[0]) if row else 0


def add_evidence(
    conn: psycopg.Connection,
    mark_id: int,
    name: str,
    content_type: str,
    body: bytes,
    sha256: bytes,
    actor: str,
) -> int:
    row = conn.execute(
        "INSERT INTO data_mark_evidence (mark_id, name, content_type, size, sha256, body, uploaded_by)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (mark_id, name, content_type, len(body), sha256, body, actor),
    ).fetchone()
    assert row is not None
    return int(row[0])


# --- named reads (ingest/core/query.py) -----------------------------------------------------------------
@dataclass(frozen=True)
class Mark:
    """A data mark as officers, operators and reports see it."""

    id: int
    park: str
    plant: str
    point: str | None  # None: the whole plant
    code: str
    group: str
    invalidates: bool
    claims_stopped: bool
    start: datetime
    end: datetime | None
    reason: str
    created_by: str
    source: str
    created_at: datetime
    status: str  # pending | approved (in effect) | rejected | withdrawn
    decided_by: str | None  # the officer who accepted or rejected it (None: not reviewed yet)
    decided_at: datetime | None
    decision_note: str | None
    withdrawn_by: str | None
    withdrawn_at: datetime | None
    evidence: int  # how many evidence files
    locked_at: datetime | None  # the plant can no longer withdraw it or add evidence after this


_MARKS = (
    'SELECT m.id, m.park_id AS park, m.plant_id AS plant, p.code AS point, m.code, c.grp AS "group",'
    ' c.invalidates, c.claims_stopped, lower(m.during) AS start, upper(m.during) AS "end", m.reason,'
    " m.created_by, m.source, m.created_at, m.status, m.decided_by, m.decided_at, m.decision_note,"
    " m.withdrawn_by, m.withdrawn_at,"
    " (SELECT count(*) FROM data_mark_evidence e WHERE e.mark_id = m.id)::int AS evidence,"
    " upper(m.during) + (SELECT correction FROM mark_policy) AS locked_at"
    " FROM data_marks m JOIN mark_codes c ON c.code = m.code LEFT JOIN points p ON p.id = m.point_id"
)


@dataclass(frozen=True)
class MarkFilter:
    park: str | None = None
    plant: str | None = None
    status: Sequence[str] | None = None
    codes: Sequence[str] | None = None
    start: datetime | None = None  # marks overlapping [start, end)
    end: datetime | None = None


def marks_in_scope(f: MarkFilter, limit: int) -> Query[Mark]:
    """Marks in a scope (None = all) overlapping a period, newest first."""
    return Query(
        _MARKS + " WHERE (%(sp)s::text IS NULL OR m.park_id = %(sp)s)"
        " AND (%(sl)s::text IS NULL OR m.plant_id = %(sl)s)"
        " AND (%(st)s::text[] IS NULL OR m.status = ANY(%(st)s))"
        " AND (%(cs)s::text[] IS NULL OR m.code = ANY(%(cs)s))"
        " AND m.during && tstzrange(%(a)s::timestamptz, %(b)s::timestamptz)"
        " ORDER BY m.id DESC LIMIT %(n)s",
        {
            "sp": f.park,
            "sl": f.plant,
            "st": list(f.status) if f.status else None,
            "cs": list(f.codes) if f.codes else None,
            "a": f.start,
            "b": f.end,
            "n": limit,
        },
        Mark,
    )


def marks_at_point(point_id: int, start: datetime, end: datetime, limit: int) -> Query[Mark]:
    """Every mark covering a point (its own or its plant's), whatever its status, overlapping [start, end]
    (both ends included, as an evidence window), oldest first: an alert's evidence bundle."""
    return Query(
        _MARKS + " JOIN points q ON q.id = %(pid)s AND q.park_id = m.park_id AND q.plant_id = m.plant_id"
        " WHERE (m.point_id IS NULL OR m.point_id = q.id)"
        " AND m.during && tstzrange(%(a)s::timestamptz, %(b)s::timestamptz, '[]')"
        " ORDER BY lower(m.during), m.id LIMIT %(n)s",
        {"pid": point_id, "a": start, "b": end, "n": limit},
        Mark,
    )


def mark_by_id(mark_id: int) -> Query[Mark]:
    return Query(_MARKS + " WHERE m.id = %(id)s", {"id": mark_id}, Mark)


@dataclass(frozen=True)
class MarkAuditRow:
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    detail: dict[str, object]


def mark_audit(mark_id: int) -> Query[MarkAuditRow]:
    return Query(
        "SELECT at, actor, action, from_status, to_status, note, detail FROM data_mark_audit"
        " WHERE mark_id = %s ORDER BY id",
        (mark_id,),
        MarkAuditRow,
    )


@dataclass(frozen=True)
class EvidenceMeta:
    id: int
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


def mark_evidence(mark_id: int) -> Query[EvidenceMeta]:
    return Query(
        "SELECT id, name, content_type, size, encode(sha256, 'hex') AS sha256, uploaded_by, uploaded_at"
        " FROM data_mark_evidence WHERE mark_id = %s ORDER BY id",
        (mark_id,),
        EvidenceMeta,
    )


@dataclass(frozen=True)
class EvidenceFile:
    name: str
    content_type: str
    sha256: str
    body: bytes


def evidence_file(mark_id: int, evidence_id: int) -> Query[EvidenceFile]:
    return Query(
        "SELECT name, content_type, encode(sha256, 'hex') AS sha256, body FROM data_mark_evidence"
        " WHERE mark_id = %s AND id = %s",
        (mark_id, evidence_id),
        EvidenceFile,
    )


@dataclass(frozen=True)
class MarkedAlert:
    """An alert a mark withdrew: when, the state it had, and whether it was reinstated."""

    alert_id: int
    from_state: str
    withdrawn_at: datetime
    reinstated_at: datetime | None


def mark_alerts(mark_id: int) -> Query[MarkedAlert]:
    return Query(
        "SELECT alert_id, from_state, withdrawn_at, reinstated_at FROM data_mark_alerts WHERE mark_id = %s"
        " ORDER BY alert_id",
        (mark_id,),
        MarkedAlert,
    )


@dataclass(frozen=True)
class Withdrawal:
    """A mark that withdrew an alert, and the alert is withdrawn still (not reinstated)."""

    alert_id: int
    mark_id: int


def withdrawals(alert_ids: Sequence[int]) -> Query[Withdrawal]:
    """The marks that withdrew each of these alerts, standing now."""
    return Query(
        "SELECT alert_id, mark_id FROM data_mark_alerts WHERE alert_id = ANY(%s) AND reinstated_at IS NULL"
        " ORDER BY alert_id, mark_id",
        (list(alert_ids),),
        Withdrawal,
    )


@dataclass(frozen=True)
class CodeRow:
    code: str
    group: str
    name_zh: str
    name_en: str
    hj212_flag: str | None
    invalidates: bool
    claims_stopped: bool
    confidence: str


def mark_codes() -> Query[CodeRow]:
    return Query(
        'SELECT code, grp AS "group", name_zh, name_en, hj212_flag, invalidates, claims_stopped, confidence'
        " FROM mark_codes ORDER BY grp, code",
        (),
        CodeRow,
    )
