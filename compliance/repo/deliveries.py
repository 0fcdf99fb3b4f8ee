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
    digest_of: Sequence[int] | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO notify_deliveries (subscription, channel, target, park_id, plant_id,"
        " outbox_ids, payload, next_attempt_at, digest_of)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            sub,
            channel,
            target,
            park_id,
            plant_id,
            list(outbox_ids),
            orjson.dumps(payload).decode(),
            due,
            list(digest_of) if digest_of is not None else None,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


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
    before the outcome is recorded retries it when the lease ends. Chat robots' deliveries are taken
    by ``claim_these`` under their rate limit instead."""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        return cur.execute(
            "UPDATE notify_deliveries d SET attempts = d.attempts + 1, next_attempt_at = %s"
            " FROM (SELECT id FROM notify_deliveries WHERE delivered_at IS NULL AND superseded_at IS NULL"
            "  AND next_attempt_at <= %s AND channel <> ALL(%s)"
            "  ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) due"
            " WHERE d.id = due.id"
            " RETURNING d.id, d.channel, d.target, d.payload, d.attempts, d.subscription, d.park_id",
            (lease_until, now, list(ROBOT_CHANNELS), limit),
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
    return conn.execute(
        "DELETE FROM notify_deliveries WHERE delivered_at < %s OR superseded_at < %s", (before, before)
    ).rowcount


# --- chat robots: deliveries waiting under a rate limit ----------------------------------------------------
ROBOT_CHANNELS = ("wecom", "dingtalk", "feishu")  # compliance/robots.py CHANNELS


@dataclass(frozen=True)
class RobotQueue:
    park_id: str
    subscription: str
    channel: str


def robot_queues(conn: psycopg.Connection, now: datetime) -> list[RobotQueue]:
    """The robot subscriptions with a delivery due."""
    with conn.cursor(row_factory=class_row(RobotQueue)) as cur:
        return cur.execute(
            "SELECT DISTINCT park_id, subscription, channel FROM notify_deliveries"
            " WHERE delivered_at IS NULL AND superseded_at IS NULL AND next_attempt_at <= %s"
            " AND channel = ANY(%s) ORDER BY park_id, subscription",
            (now, list(ROBOT_CHANNELS)),
        ).fetchall()


@dataclass(frozen=True)
class WaitingRow:
    id: int
    plant_id: str
    outbox_ids: list[int]
    payload: dict[str, object]
    target: str


def waiting(conn: psycopg.Connection, q: RobotQueue, now: datetime) -> list[WaitingRow]:
    """A robot subscription's due deliveries, oldest first, locked for this transaction (a delivery
    leased to a send in flight is not due, so it is never re-cut while it is being sent)."""
    with conn.cursor(row_factory=class_row(WaitingRow)) as cur:
        return cur.execute(
            "SELECT id, plant_id, outbox_ids, payload, target FROM notify_deliveries"
            " WHERE park_id = %s AND subscription = %s AND channel = %s AND delivered_at IS NULL"
            " AND superseded_at IS NULL AND next_attempt_at <= %s ORDER BY id FOR UPDATE SKIP LOCKED",
            (q.park_id, q.subscription, q.channel, now),
        ).fetchall()


def robot_sends(conn: psycopg.Connection, q: RobotQueue, since: datetime) -> list[datetime]:
    """When requests went to this robot since ``since``; locks the subscription for this transaction
    so two runs (a leader and one taking over) never spend the same free slot."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 7212060))", (f"{q.park_id}/{q.subscription}",)
    )
    return [
        r[0]
        for r in conn.execute(
            "SELECT sent_at FROM notify_robot_sends WHERE park_id = %s AND subscription = %s"
            " AND sent_at > %s ORDER BY sent_at",
            (q.park_id, q.subscription, since),
        )
    ]


def supersede(conn: psycopg.Connection, ids: Sequence[int], at: datetime) -> None:
    conn.execute("UPDATE notify_deliveries SET superseded_at = %s WHERE id = ANY(%s)", (at, list(ids)))


def claim_these(
    conn: psycopg.Connection, q: RobotQueue, ids: Sequence[int], sent_at: datetime, lease_until: datetime
) -> list[Delivery]:
    """Claim these robot deliveries (as ``claim_deliveries`` does) and count each as a request sent."""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        claimed = cur.execute(
            "UPDATE notify_deliveries SET attempts = attempts + 1, next_attempt_at = %s WHERE id = ANY(%s)"
            " RETURNING id, channel, target, payload, attempts, subscription, park_id",
            (lease_until, list(ids)),
        ).fetchall()
    conn.execute(
        "INSERT INTO notify_robot_sends (park_id, subscription, sent_at)"
        " SELECT %s, %s, %s FROM generate_series(1, %s)",
        (q.park_id, q.subscription, sent_at, len(claimed)),
    )
    return sorted(claimed, key=lambda d: d.id)


def prune_robot_sends(conn: psycopg.Connection, before: datetime) -> int:
    return conn.execute("DELETE FROM notify_robot_sends WHERE sent_at < %s", (before,)).rowcount
