"""SQL of the compliance package: the notification deliveries (notify_deliveries), one message per
subscription and plant made from the outbox, claimed, sent and recorded by compliance/notify.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import psycopg
from psycopg.rows import class_row


def insert_delivery(
    conn: psycopg.Connection,
    sub: str,
    channel: str,
    target: str,
    park_id: str,
    plant_id: str,
    outbox_ids: Sequence[int],
    payload: dict[str, object],
    due: datetime,
) -> None:
    conn.execute(
        "INSERT INTO notify_deliveries (subscription, channel, target, park_id, plant_id,"
        " outbox_ids, payload, next_attempt_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (sub, channel, target, park_id, plant_id, list(outbox_ids), orjson.dumps(payload).decode(), due),
    )


@dataclass(frozen=True)
class Delivery:
    id: int
    channel: str
    target: str
    payload: dict[str, object]
    attempts: int  # including the attempt this claim is for
    subscription: str
    park_id: str


def claim_deliveries(
    conn: psycopg.Connection, now: datetime, lease_until: datetime, limit: int
) -> list[Delivery]:
    """Take due deliveries for sending outside any transaction: the claim counts the attempt and
    leases the row until ``lease_until``, so no other run (or leader) sends it meanwhile, and a crash
    before the outcome is recorded retries it when the lease ends."""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        return cur.execute(
            "UPDATE notify_deliveries d SET attempts = d.attempts + 1, next_attempt_at = %s"
            " FROM (SELECT id FROM notify_deliveries WHERE delivered_at IS NULL AND next_attempt_at <= %s"
            "  ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) due"
            " WHERE d.id = due.id"
            " RETURNING d.id, d.channel, d.target, d.payload, d.attempts, d.subscription, d.park_id",
            (lease_until, now, limit),
        ).fetchall()


def delivery_done(conn: psycopg.Connection, delivery_id: int) -> None:
    conn.execute(
        "UPDATE notify_deliveries SET delivered_at = clock_timestamp(), last_error = NULL WHERE id = %s",
        (delivery_id,),
    )


def delivery_failed(conn: psycopg.Connection, delivery_id: int, retry_at: datetime, error: str) -> None:
    conn.execute(
        "UPDATE notify_deliveries SET next_attempt_at = %s, last_error = %s WHERE id = %s",
        (retry_at, error[:500], delivery_id),
    )


def purge_delivered(conn: psycopg.Connection, before: datetime) -> int:
    return conn.execute("DELETE FROM notify_deliveries WHERE delivered_at < %s", (before,)).rowcount
