"""HJ 212-2025 SM4 key rotation through CN 1014: the platform gives a logger a new key, encrypted under
its current one, and switches when the logger has confirmed.

What the sources say (README, HJ 212-2025): keys are rotated every 90 days through CN 1014 ("现场机获取
新密钥 / 上位机设置新密钥", the logger obtains / the platform sets the new key), whose data area is in
the encrypted set (CN 2000-2999, 1014, 3020); a receiver accepts the old key for an overlap window while
the logger switches. The CP field carrying the key is not named in any source we could read: a setting
(``SM4RotationSettings.key_field``).

A rotation, step by step:

1. ``start`` (the compliance leader's ``sm4_rotation`` job when the current key is ``rotate_days`` old,
   or an admin: CLI, API) issues a new random key as the logger's *pending* key (``keys.SM4_NEXT``) and
   queues CN 1014 carrying its generation (``hj212_commands.key_generation``). From now frames under
   the pending key are accepted too; nothing is sent under it.
2. The gateway sends 1014 (``control.py``) with the key in its data area, encrypted under the current
   key, to a logger that speaks 2025 (never in clear).
3. The logger answers 9011/9012 like any command (``repo.record_answer``); ``settle`` then decides:
   done (ExeRtn=1): the pending key becomes the current one, the old one stays accepted for
   ``overlap_hours``. Refused or failed: the pending key ends at once, the old key stays current, and
   the job tries again after ``retry_hours``. Expired without an answer: the outcome is unknown (the
   logger may have switched and its 9012 been lost), so the pending key stays accepted for
   ``overlap_hours`` and is retried later; a frame that opens under it (``proven``) proves the logger
   switched, and it becomes current then.

Every step is in the command's audit trail (``hj212_command_audit``) with its actor. Functions take the
caller's connection and never commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from ingest.core.settings import SM4RotationSettings
from ingest.hj212 import commands, keys, repo

log = logging.getLogger(__name__)

PURPOSE = "key_rotation"
SCHEDULE = "compliance"  # the actor of a scheduled rotation (the compliance leader's job)


class RotationError(ValueError):
    """A rotation that cannot start, with the reason; ``kind``: ``missing`` (no such point with an
    MN), ``no_key`` (the logger has no SM4 key) or ``busy`` (one is under way)."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True)
class Started:
    command_id: int
    generation: int  # of the pending key
    mn: str


def start(
    conn: psycopg.Connection, point_id: int, actor: str, settings: SM4RotationSettings, why: str = ""
) -> Started:
    """Issue a pending key for the point's logger and queue its CN 1014. Raises ``RotationError``."""
    repo.lock_rotations(conn, point_id)  # the job and an admin at the same moment start one rotation
    found = repo.keyed_points(conn, point_id)
    if not found or not found[0].mn:
        raise RotationError(f"point {point_id} is not an active point with an MN", "missing")
    p = found[0]
    name = f"{p.park}/{p.plant}/{p.point}"
    if (p.park, p.plant, p.point) not in keys.current_since(conn):
        raise RotationError(
            f"{name} has no SM4 key to rotate: issue one with `outfall logger sm4 set`", "no_key"
        )
    under_way = repo.open_rotation(conn, point_id)
    if under_way is not None:
        raise RotationError(f"a key rotation of {name} is already under way: command {under_way}", "busy")
    generation = keys.issue_pending(conn, p.park, p.plant, p.point, actor)
    assert p.mn is not None
    ttl = timedelta(hours=settings.wait_hours)
    command_id = repo.enqueue(
        conn, p.mn, commands.KEY_EXCHANGE, {}, PURPOSE, actor, ttl, point_id, key_generation=generation
    )
    if why:
        repo.audit(conn, command_id, "note", actor, None, why)
    return Started(command_id, generation, p.mn)


def start_for(
    conn: psycopg.Connection, park: str, plant: str, point: str, actor: str, settings: SM4RotationSettings
) -> Started:
    """As ``start``, for the point named PARK/PLANT/POINT."""
    point_id = repo.point_id_of(conn, park, plant, point)
    if point_id is None:
        raise RotationError(f"no active point {park}/{plant}/{point}", "missing")
    return start(conn, point_id, actor, settings)


def pending_key(conn: psycopg.Connection, command_id: int) -> str | None:
    """The new key a rotation's 1014 carries (32 hex characters), while it is pending."""
    rot = repo.rotation(conn, command_id)
    if rot is None:
        return None
    return keys.pending_hex(conn, rot.park, rot.plant, rot.point, rot.key_generation)


def period(settings: SM4RotationSettings, park_config: dict[str, object]) -> timedelta | None:
    """How old a key may get before it is rotated: the park's ``hj212.sm4_rotate_days`` or the
    setting; None when it is 0 (no scheduled rotation)."""
    days = keys.hj212_config(park_config).get("sm4_rotate_days", settings.rotate_days)
    try:
        value = float(days)
    except (TypeError, ValueError):
        value = settings.rotate_days
    return timedelta(days=value) if value > 0 else None


def due(conn: psycopg.Connection, settings: SM4RotationSettings, now: datetime) -> list[repo.KeyedPoint]:
    """Points whose current key is older than their period, with no rotation under way nor one
    started within ``retry_hours``."""
    issued = keys.current_since(conn)
    busy = repo.recent_rotations(conn, now - timedelta(hours=settings.retry_hours))
    out = []
    for p in repo.keyed_points(conn):
        since, span = issued.get((p.park, p.plant, p.point)), period(settings, p.config)
        if p.mn and since is not None and span is not None and p.id not in busy and now - since >= span:
            out.append(p)
    return out


def run_due(
    conn: psycopg.Connection, settings: SM4RotationSettings, now: datetime, park: str | None = None
) -> list[Started]:
    """Start the rotations that are due (the compliance leader's ``sm4_rotation`` job)."""
    started = []
    for p in due(conn, settings, now):
        if park is None or p.park == park:
            why = f"scheduled: the current key is older than {period(settings, p.config)}"
            started.append(start(conn, p.id, SCHEDULE, settings, why))
    return started


def settle(conn: psycopg.Connection, command_id: int, settings: SM4RotationSettings) -> str | None:
    """After a rotation's command changed state: switch keys, drop the pending key, or keep it for the
    overlap (see the module's docstring). Returns what happened, None for other commands and states."""
    rot = repo.rotation(conn, command_id)
    if rot is None or rot.state in commands.OPEN_STATES:
        return None
    overlap_s = settings.overlap_hours * 3600
    where = (rot.park, rot.plant, rot.point)
    if rot.state == "done":
        current = keys.promote(conn, *where, rot.key_generation, "gateway", overlap_s)
        if current is None:
            return None  # already current: a frame under the new key proved the switch first
        text = f"the logger switched: its new key is current (generation {current}); the previous"
        detail = f"{text} stays accepted {_h(overlap_s)}"
        repo.audit(conn, command_id, "key_switched", "gateway", None, detail)
        return "switched"
    sent = rot.attempts > 0
    keep_s = overlap_s if rot.state == "expired" and sent else 0.0
    keys.drop_pending(conn, *where, rot.key_generation, keep_s)
    retry = f"retried after {settings.retry_hours:g} h"
    if keep_s:
        detail = (
            f"no answer: the current key stays; the new key stays accepted {_h(keep_s)} in case the"
            f" logger switched (a frame under it makes it current); {retry}"
        )
    else:
        detail = f"the logger keeps its current key, the new key is dropped; {retry}"
    repo.audit(conn, command_id, "key_kept", "gateway", None, detail)
    return "kept"


def proven(
    conn: psycopg.Connection, point: tuple[int, str, str, str], key: bytes, settings: SM4RotationSettings
) -> int | None:
    """A frame of the logger opened under one of its pending keys: it has switched to it, whatever its
    9012 said (or if it never came). That key becomes current. Returns the command of that rotation."""
    point_id, park, plant, code = point
    generation = keys.pending_generation(conn, park, plant, code, key)
    if generation is None:
        return None
    current = keys.promote(conn, park, plant, code, generation, "gateway", settings.overlap_hours * 3600)
    command_id = repo.rotation_of_generation(conn, point_id, generation)
    if command_id is not None and current is not None:
        detail = (
            f"a frame from the logger opened under the new key: it has switched; the new key is current"
            f" (generation {current}), the previous stays accepted {_h(settings.overlap_hours * 3600)}"
        )
        repo.audit(conn, command_id, "key_switched", "gateway", None, detail)
    return command_id


def _h(seconds: float) -> str:
    return f"for {seconds / 3600:g} h"
