"""SQL over the API's own tables: ``api_tokens``, ``api_audit`` and ``api_events`` (the last written by
a trigger on compliance's alert audit, read only here). Reads of other packages' tables are the named
queries of their owners (see ingest/core/query.py), run on the API's async connection.

Reads take an async connection; writes (tokens, audit) take a sync connection because they share a
transaction with the owners' write functions, which are sync. Reads that list audit entries or events
take the caller's scope (park, plant; None = all)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.rows import class_row


# --- tokens -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    role: str
    park: str | None
    plant: str | None
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    expires_at: datetime | None


# A live token is neither revoked nor past its expiry: "revoked_at IS NULL AND (expires_at IS NULL OR
# expires_at > now())" in the queries below.


def insert_token(
    conn: psycopg.Connection,
    name: str,
    role: str,
    park: str | None,
    plant: str | None,
    digest: bytes,
    prefix: str,
    actor: str,
    expires_in: timedelta | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO api_tokens (name, role, park_id, plant_id, hash, prefix, created_by, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, now() + %s::interval) RETURNING id",
        (name, role, park, plant, digest, prefix, actor, expires_in),
    ).fetchone()
    assert row is not None
    return int(row[0])


def list_tokens(conn: psycopg.Connection, include_revoked: bool) -> list[TokenRow]:
    with conn.cursor(row_factory=class_row(TokenRow)) as cur:
        return cur.execute(
            "SELECT id, name, role, park_id AS park, plant_id AS plant, prefix, created_at, created_by,"
            " revoked_at, expires_at FROM api_tokens"
            " WHERE %s OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) ORDER BY id",
            (include_revoked,),
        ).fetchall()


def revoke_token(conn: psycopg.Connection, token_id: int) -> TokenRow | None:
    with conn.cursor(row_factory=class_row(TokenRow)) as cur:
        return cur.execute(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s"
            " RETURNING id, name, role, park_id AS park, plant_id AS plant, prefix, created_at, created_by,"
            " revoked_at, expires_at",
            (token_id,),
        ).fetchone()


def renew_token(conn: psycopg.Connection, token_id: int, expires_in: timedelta) -> bool:
    """Move a live token's expiry to now + ``expires_in``; False when it is revoked or already expired
    (an expired token stays dead)."""
    cur = conn.execute(
        "UPDATE api_tokens SET expires_at = now() + %s::interval WHERE id = %s"
        " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
        (expires_in, token_id),
    )
    return cur.rowcount == 1


async def token_by_hash(conn: AsyncConnection, digest: bytes) -> TokenRow | None:
    async with conn.cursor(row_factory=class_row(TokenRow)) as cur:
        await cur.execute(
            "SELECT id, name, role, park_id AS park, plant_id AS plant, prefix, created_at, created_by,"
            " revoked_at, expires_at FROM api_tokens"
            " WHERE hash = %s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
            (digest,),
        )
        return await cur.fetchone()


async def token_live(conn: AsyncConnection, token_id: int) -> bool:
    """Whether the token is still neither revoked nor expired (an open stream asks this as it runs)."""
    cur = await conn.execute(
        "SELECT 1 FROM api_tokens"
        " WHERE id = %s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
        (token_id,),
    )
    return await cur.fetchone() is not None


# --- audit --------------------------------------------------------------------------------------------
def audit(
    conn: psycopg.Connection,
    actor: str,
    action: str,
    obj: str,
    park: str | None = None,
    plant: str | None = None,
    detail: Mapping[str, object] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO api_audit (actor, action, park_id, plant_id, object, detail) VALUES (%s,%s,%s,%s,%s,%s)",
        (actor, action, park, plant, obj, orjson.dumps(detail or {}, default=str).decode()),
    )


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    park: str | None
    plant: str | None
    object: str
    detail: dict[str, Any]


async def audit_entries(
    conn: AsyncConnection, park: str | None, plant: str | None, admin: bool, limit: int, before: int | None
) -> list[AuditEntry]:
    # Entries without a park (token changes) are the admin's alone.
    async with conn.cursor(row_factory=class_row(AuditEntry)) as cur:
        await cur.execute(
            "SELECT id, at, actor, action, park_id AS park, plant_id AS plant, object, detail FROM api_audit"
            " WHERE (%(sp)s::text IS NULL OR park_id = %(sp)s)"
            " AND (%(sl)s::text IS NULL OR plant_id = %(sl)s) AND (%(admin)s OR park_id IS NOT NULL)"
            " AND (%(before)s::bigint IS NULL OR id < %(before)s) ORDER BY id DESC LIMIT %(n)s",
            {"sp": park, "sl": plant, "admin": admin, "before": before, "n": limit},
        )
        return await cur.fetchall()


# --- events -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventRow:
    txid: int
    id: int
    kind: str
    action: str
    park: str
    plant: str
    alert_id: int | None


async def events_after(
    conn: AsyncConnection, txid: int, event_id: int, park: str | None, plant: str | None, limit: int
) -> list[EventRow]:
    """Events after the cursor (txid, id) in commit-safe order: only rows of transactions older than every
    transaction still running, a prefix that can no longer grow."""
    async with conn.cursor(row_factory=class_row(EventRow)) as cur:
        await cur.execute(
            "SELECT txid::text::bigint AS txid, id, kind, action, park_id AS park, plant_id AS plant,"
            " alert_id FROM api_events"
            " WHERE (txid, id) > (%(tx)s::text::xid8, %(id)s)"
            " AND txid < pg_snapshot_xmin(pg_current_snapshot())"
            " AND (%(sp)s::text IS NULL OR park_id = %(sp)s) AND (%(sl)s::text IS NULL OR plant_id = %(sl)s)"
            " ORDER BY txid, id LIMIT %(n)s",
            {"sp": park, "sl": plant, "tx": txid, "id": event_id, "n": limit},
        )
        return await cur.fetchall()


async def event_horizon(conn: AsyncConnection) -> int:
    """The oldest transaction still running: every event from now on has a txid at least this."""
    cur = await conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def ping(conn: AsyncConnection) -> None:
    await conn.execute("SELECT 1")
