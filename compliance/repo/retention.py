"""SQL of the retention job besides its owners' own functions: which park-local days are closed
(``compliance_closed``, read), and the live event stream's log (``api_events``: rows a trigger on
``alert_audit`` writes; their retention is compliance's, the API only reads them)."""

from __future__ import annotations

from datetime import datetime

import psycopg


def closed_days(conn: psycopg.Connection, park_id: str, start: datetime, end: datetime) -> set[datetime]:
    """The starts of the park's closed park-local days in [start, end)."""
    rows = conn.execute(
        "SELECT start_at FROM compliance_closed WHERE park_id = %s AND span = 'day'"
        " AND start_at >= %s AND start_at < %s",
        (park_id, start, end),
    ).fetchall()
    return {r[0] for r in rows}


def prune_events(conn: psycopg.Connection, before: datetime) -> int:
    """Delete event-stream rows older than ``before``; how many. A client resuming from an older event
    id gets the stream from the oldest row kept."""
    return conn.execute("DELETE FROM api_events WHERE at < %s", (before,)).rowcount
