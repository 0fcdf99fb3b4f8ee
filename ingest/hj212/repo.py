"""All SQL on the HJ 212 command queue (``hj212_commands``, ``hj212_command_audit``,
``hj212_enrolments``; migration 034). Other packages enqueue through ``enqueue``/``enqueue_for_point``
in their own transaction (compliance: sample retention with the violation it proves; the API: an
admin's command) and read through the named queries at the end. Functions never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from ingest.core import parameters
from ingest.core.query import Query
from ingest.hj212 import commands

DEFAULT_TTL = timedelta(hours=1)


def enqueue(
    conn: psycopg.Connection,
    mn: str,
    cn: str,
    params: dict[str, str],
    purpose: str,
    actor: str,
    ttl: timedelta = DEFAULT_TTL,
    point_id: int | None = None,
    alert_id: int | None = None,
    key_generation: int | None = None,
) -> int:
    """Queue a command for the logger ``mn``; the gateway delivers it while the logger is connected.
    Raises ``commands.CommandError`` for an unknown CN or a bad field, and for a CN 1014 that is not
    a key rotation's (``rotation.start``: the key it carries is the rotation's pending key)."""
    checked = commands.check(cn, params)
    if (cn == commands.KEY_EXCHANGE) != (key_generation is not None):
        raise commands.CommandError(
            "CN 1014 (new SM4 key) is sent by a key rotation: `outfall hj212 rotate-key PARK/PLANT/POINT`"
            " or POST /api/v1/hj212/rotations"
        )
    row = conn.execute(
        "INSERT INTO hj212_commands"
        " (mn, point_id, cn, params, purpose, alert_id, actor, expires_at, key_generation)"
        " VALUES (%s, coalesce(%s, (SELECT id FROM points WHERE mn = %s AND active LIMIT 1)),"
        "         %s, %s, %s, %s, %s, now() + %s, %s) RETURNING id",
        (mn, point_id, mn, cn, Jsonb(checked), purpose, alert_id, actor, ttl, key_generation),
    ).fetchone()
    assert row is not None
    detail = ";".join(f"{k}={v}" for k, v in checked.items()) or None
    if key_generation is not None:
        detail = f"new key: generation {key_generation} of the logger's pending SM4 key"
    audit(conn, row[0], "queued", actor, None, f"CN {cn} ({purpose}) {detail or ''}".strip())
    return int(row[0])


def enqueue_for_point(
    conn: psycopg.Connection,
    point_id: int,
    cn: str,
    params: dict[str, str],
    purpose: str,
    actor: str,
    ttl: timedelta = DEFAULT_TTL,
    alert_id: int | None = None,
) -> int | None:
    """As ``enqueue``, for a point's logger; None when the point has no MN."""
    row = conn.execute("SELECT mn FROM points WHERE id = %s", (point_id,)).fetchone()
    if row is None or row[0] is None:
        return None
    return enqueue(conn, row[0], cn, params, purpose, actor, ttl, point_id, alert_id)


def enqueue_once(
    conn: psycopg.Connection,
    point_id: int,
    cn: str,
    params: dict[str, str],
    purpose: str,
    actor: str,
    ttl: timedelta = DEFAULT_TTL,
) -> int | None:
    """As ``enqueue_for_point``, unless the same command (CN and fields) to this point's logger is
    already queued or was done: a re-scan of the same gap asks once."""
    row = conn.execute(
        "SELECT 1 FROM hj212_commands WHERE point_id = %s AND cn = %s AND params = %s"
        " AND state IN ('queued', 'sent', 'accepted', 'done') LIMIT 1",
        (point_id, cn, Jsonb(params)),
    ).fetchone()
    if row is not None:
        return None
    return enqueue_for_point(conn, point_id, cn, params, purpose, actor, ttl)


def enqueue_sample(
    conn: psycopg.Connection, point_id: int, parameter_id: int, alert_id: int, ttl: timedelta
) -> int | None:
    """Sample retention (3015) for a violation: when the point's sampler supports it (park file
    ``sampler: true``) and its logger has an MN. PolId is the factor's HJ 212-2017 code."""
    row = conn.execute("SELECT mn, sampler FROM points WHERE id = %s", (point_id,)).fetchone()
    if row is None or row[0] is None or not row[1]:
        return None
    param = parameters.BY_ID.get(parameter_id)
    pol_id = {"PolId": param.hj212_2017} if param is not None and param.hj212_2017 else {}
    return enqueue(conn, row[0], "3015", pol_id, "sample_retention", "compliance", ttl, point_id, alert_id)


def audit(
    conn: psycopg.Connection, command_id: int, event: str, actor: str, frame: str | None, detail: str | None
) -> None:
    conn.execute(
        "INSERT INTO hj212_command_audit (command_id, event, actor, frame, detail)"
        " VALUES (%s, %s, %s, %s, %s)",
        (command_id, event, actor, frame, detail),
    )


def open_commands(conn: psycopg.Connection) -> list[commands.Pending]:
    """Every command not yet finished, oldest first (the gateway decides per logger what is due)."""
    rows = conn.execute(
        "SELECT id, mn, cn, params, state, qn, attempts, expires_at, sent_at, accepted_at"
        " FROM hj212_commands WHERE state IN ('queued', 'sent', 'accepted') ORDER BY id"
    ).fetchall()
    return [commands.Pending(*r) for r in rows]


def mark_sent(conn: psycopg.Connection, cmd: commands.Pending, qn: str, frame: bytes, resend: bool) -> None:
    conn.execute(
        "UPDATE hj212_commands SET state = 'sent', qn = %s, attempts = attempts + 1, sent_at = now()"
        " WHERE id = %s",
        (qn, cmd.id),
    )
    event = "resent" if resend else "sent"
    audit(
        conn, cmd.id, event, "gateway", frame.decode(errors="replace").strip(), f"attempt {cmd.attempts + 1}"
    )


def expire(conn: psycopg.Connection, command_id: int, reason: str) -> None:
    conn.execute(
        "UPDATE hj212_commands SET state = 'expired', finished_at = now(), reason = %s"
        " WHERE id = %s AND state IN ('queued', 'sent', 'accepted')",
        (reason, command_id),
    )
    audit(conn, command_id, "expired", "gateway", None, reason)


def record_answer(
    conn: psycopg.Connection, mn: str, qn: str, found: commands.Answer, frame: bytes
) -> int | None:
    """Apply the logger's answer to the command with its QN; returns the command id, None if no
    open command of this logger has that QN (a late answer to an expired command is still audited)."""
    row = conn.execute("SELECT id, state FROM hj212_commands WHERE mn = %s AND qn = %s", (mn, qn)).fetchone()
    if row is None:
        return None
    command_id, state = row
    text = frame.decode(errors="replace").strip()
    if found.kind == "data":
        conn.execute(
            "UPDATE hj212_commands SET answer = answer || %s WHERE id = %s", (Jsonb(found.data), command_id)
        )
        audit(conn, command_id, "answer", f"logger:{mn}", text, None)
        return int(command_id)
    new_state, reason = commands.outcome(found.kind, found.code)
    if state in commands.OPEN_STATES:
        if found.kind == "9011":
            conn.execute(
                "UPDATE hj212_commands SET state = %s, qn_rtn = %s, accepted_at = now(),"
                " finished_at = CASE WHEN %s = 'refused' THEN now() END, reason = %s WHERE id = %s",
                (new_state, found.code, new_state, reason, command_id),
            )
        else:
            conn.execute(
                "UPDATE hj212_commands SET state = %s, exe_rtn = %s, finished_at = now(), reason = %s,"
                " accepted_at = coalesce(accepted_at, now()) WHERE id = %s",
                (new_state, found.code, reason, command_id),
            )
    else:
        reason = f"late, after the command was {state}: {reason}"
    audit(conn, command_id, found.kind, f"logger:{mn}", text, reason)
    return int(command_id)


def last_of(conn: psycopg.Connection, mn: str, cn: str, since: datetime) -> int | None:
    """The newest command ``cn`` to ``mn`` queued since ``since`` (to send 1012 once per period)."""
    row = conn.execute(
        "SELECT max(id) FROM hj212_commands WHERE mn = %s AND cn = %s AND created_at >= %s",
        (mn, cn, since),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


# --- key rotation (CN 1014) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RotationRow:
    """A key rotation's command with its logger's point (the secret names are per park/plant/point)."""

    id: int
    mn: str
    state: str
    attempts: int
    key_generation: int
    point_id: int
    park: str
    plant: str
    point: str


def rotation(conn: psycopg.Connection, command_id: int) -> RotationRow | None:
    """The command as a key rotation; None for any other command."""
    row = conn.execute(
        "SELECT c.id, c.mn, c.state, c.attempts, c.key_generation, p.id, p.park_id, p.plant_id, p.code"
        " FROM hj212_commands c JOIN points p ON p.id = c.point_id"
        " WHERE c.id = %s AND c.cn = '1014' AND c.key_generation IS NOT NULL",
        (command_id,),
    ).fetchone()
    return None if row is None else RotationRow(*row)


def lock_rotations(conn: psycopg.Connection, point_id: int) -> None:
    """Serialise the starting of rotations of one point (until the transaction ends)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('hj212-rotation:' || %s))", (str(point_id),))


def rotation_of_generation(conn: psycopg.Connection, point_id: int, generation: int) -> int | None:
    """The rotation (command) that carried the point's pending key ``generation``."""
    row = conn.execute(
        "SELECT max(id) FROM hj212_commands WHERE point_id = %s AND cn = '1014' AND key_generation = %s",
        (point_id, generation),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def open_rotation(conn: psycopg.Connection, point_id: int) -> int | None:
    """The point's key rotation under way (queued, sent or accepted), if any."""
    row = conn.execute(
        "SELECT max(id) FROM hj212_commands WHERE point_id = %s AND cn = '1014'"
        " AND state IN ('queued', 'sent', 'accepted')",
        (point_id,),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def recent_rotations(conn: psycopg.Connection, since: datetime) -> set[int]:
    """Points with a key rotation under way, or one started since ``since`` (not to retry sooner)."""
    rows = conn.execute(
        "SELECT DISTINCT point_id FROM hj212_commands WHERE cn = '1014' AND point_id IS NOT NULL"
        " AND (created_at >= %s OR state IN ('queued', 'sent', 'accepted'))",
        (since,),
    ).fetchall()
    return {int(r[0]) for r in rows}


@dataclass(frozen=True)
class KeyedPoint:
    id: int
    mn: str | None
    park: str
    plant: str
    point: str
    config: dict[str, object]  # the park's config (``hj212.sm4_rotate_days``)


def keyed_points(conn: psycopg.Connection, point_id: int | None = None) -> list[KeyedPoint]:
    """Active points (or one) with their park's config, for rotations."""
    rows = conn.execute(
        "SELECT p.id, p.mn, p.park_id, p.plant_id, p.code, k.config FROM points p"
        " JOIN parks k ON k.id = p.park_id WHERE p.active AND (%(id)s::bigint IS NULL OR p.id = %(id)s)",
        {"id": point_id},
    ).fetchall()
    return [KeyedPoint(*r) for r in rows]


def point_id_of(conn: psycopg.Connection, park: str, plant: str, point: str) -> int | None:
    row = conn.execute(
        "SELECT id FROM points WHERE park_id = %s AND plant_id = %s AND code = %s AND active",
        (park, plant, point),
    ).fetchone()
    return None if row is None else int(row[0])


# --- network entry (CN 1001/1002) -------------------------------------------------------------------
def enrolment_seen(conn: psycopg.Connection, serial: str, mn_sent: str, peer: str) -> None:
    conn.execute(
        "INSERT INTO hj212_enrolments (serial, mn_sent, peer) VALUES (%s, %s, %s)"
        " ON CONFLICT (serial) DO UPDATE SET mn_sent = EXCLUDED.mn_sent, peer = EXCLUDED.peer,"
        " last_seen = now()",
        (serial, mn_sent, peer),
    )


def assign_enrolment(conn: psycopg.Connection, serial: str, point_id: int, actor: str) -> bool:
    cur = conn.execute(
        "UPDATE hj212_enrolments SET point_id = %s, assigned_by = %s, assigned_at = now() WHERE serial = %s",
        (point_id, actor, serial),
    )
    return cur.rowcount == 1


def enrolled_point(conn: psycopg.Connection, serial: str) -> tuple[int, str] | None:
    """The point (id, MN) a serial belongs to: the park file's ``serial:``, or an admin's assignment."""
    row = conn.execute(
        "SELECT p.id, p.mn FROM points p WHERE p.active AND p.mn IS NOT NULL AND (p.serial = %s"
        " OR p.id = (SELECT point_id FROM hj212_enrolments WHERE serial = %s)) ORDER BY p.serial = %s DESC"
        " LIMIT 1",
        (serial, serial, serial),
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


# --- named reads --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CommandRow:
    id: int
    mn: str
    point_id: int | None
    cn: str
    params: dict[str, str]
    purpose: str
    alert_id: int | None
    actor: str
    state: str
    qn: str | None
    attempts: int
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None
    finished_at: datetime | None
    qn_rtn: int | None
    exe_rtn: int | None
    answer: dict[str, str]
    reason: str | None
    key_generation: int | None  # a key rotation's (CN 1014) new key: its pending generation


_COLUMNS = (
    "SELECT id, mn, point_id, cn, params, purpose, alert_id, actor, state, qn, attempts, created_at,"
    " expires_at, sent_at, accepted_at, finished_at, qn_rtn, exe_rtn, answer, reason, key_generation"
    " FROM hj212_commands"
)


def command(command_id: int) -> Query[CommandRow]:
    return Query(_COLUMNS + " WHERE id = %s", (command_id,), CommandRow)


def recent(mn: str | None, limit: int = 100) -> Query[CommandRow]:
    """The newest commands, of one logger or of all."""
    return Query(
        _COLUMNS + " WHERE (%(mn)s::text IS NULL OR mn = %(mn)s) ORDER BY id DESC LIMIT %(limit)s",
        {"mn": mn, "limit": limit},
        CommandRow,
    )


def evidence_commands(alert_id: int, point_id: int, start: datetime, end: datetime) -> Query[CommandRow]:
    """Commands an alert's evidence shows: those sent for it (sample retention, 3015) and every other
    command to its point created in [start, end) (a clock set, an interval changed), oldest first."""
    return Query(
        _COLUMNS + " WHERE alert_id = %(alert)s"
        " OR (point_id = %(point)s AND created_at >= %(start)s AND created_at < %(end)s) ORDER BY id",
        {"alert": alert_id, "point": point_id, "start": start, "end": end},
        CommandRow,
    )


@dataclass(frozen=True)
class SampleRow:
    """The newest sample retention (3015) sent for an alert: the evidence the alert view shows."""

    alert_id: int
    state: str
    finished_at: datetime | None
    reason: str | None
    timezone: str  # the park's, for "retained at 10:32"


def samples_for_alerts(alert_ids: list[int]) -> Query[SampleRow]:
    return Query(
        "SELECT DISTINCT ON (c.alert_id) c.alert_id, c.state, c.finished_at, c.reason,"
        "       coalesce(k.timezone, 'Asia/Shanghai') AS timezone"
        " FROM hj212_commands c LEFT JOIN points p ON p.id = c.point_id LEFT JOIN parks k ON k.id = p.park_id"
        " WHERE c.alert_id = ANY(%s) AND c.cn = '3015' ORDER BY c.alert_id, c.id DESC",
        (alert_ids,),
        SampleRow,
    )


@dataclass(frozen=True)
class AuditRow:
    command_id: int
    at: datetime
    event: str
    actor: str
    frame: str | None
    detail: str | None


def audit_of(command_id: int) -> Query[AuditRow]:
    return Query(
        "SELECT command_id, at, event, actor, frame, detail FROM hj212_command_audit"
        " WHERE command_id = %s ORDER BY id",
        (command_id,),
        AuditRow,
    )


def audits_of(command_ids: list[int]) -> Query[AuditRow]:
    """The trails of several commands, in the order they were written."""
    return Query(
        "SELECT command_id, at, event, actor, frame, detail FROM hj212_command_audit"
        " WHERE command_id = ANY(%s) ORDER BY id",
        (command_ids,),
        AuditRow,
    )


@dataclass(frozen=True)
class EnrolmentRow:
    serial: str
    mn_sent: str
    peer: str | None
    first_seen: datetime
    last_seen: datetime
    point_id: int | None
    assigned_by: str | None


def waiting_enrolments() -> Query[EnrolmentRow]:
    """Loggers that asked to enter the network with a serial no point claims."""
    return Query(
        "SELECT serial, mn_sent, peer, first_seen, last_seen, point_id, assigned_by FROM hj212_enrolments"
        " WHERE point_id IS NULL AND serial NOT IN (SELECT serial FROM points WHERE serial IS NOT NULL)"
        " ORDER BY last_seen DESC",
        (),
        EnrolmentRow,
    )
