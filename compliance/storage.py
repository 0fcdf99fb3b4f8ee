"""The scheduled jobs that keep history small and for its legal period (README "History and
retention"): ``compact_readings`` moves cold readings into the archive (or keeps TimescaleDB's
compression policy where licensed), ``retention`` deletes what has outlived its period. Both run on
the compliance leader's scheduler like every job (jobs.py); the tables are ingest's and compliance's,
each changed through its owner's functions (``ingest/core/archive.py``, ``compliance/repo``).

Nothing is dropped before it is compacted and its park-local days are closed: readings leave the hot
table only by compaction (the archive row is written in the same transaction), and retention deletes
archived days, or compressed chunks, only up to the first day some park has not closed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import psycopg

from compliance import repo
from compliance.repo import retention as retention_repo
from ingest.core import archive, reads
from ingest.core.settings import HistorySettings


class Context(Protocol):
    """What these jobs need of the job context (``jobs.Context``, which imports this module)."""

    @property
    def history(self) -> HistorySettings: ...


log = logging.getLogger(__name__)
RUN_BUDGET_S = 20 * 60  # no new day is started after this (the job runs hourly)


def compact_readings(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    """Owns its transactions (an autocommit connection): the guard is raised and committed first, then
    each UTC day is compacted in a transaction of its own, so a crash loses at most the day under way
    (rolled back whole) and the next run goes on from there."""
    age = timedelta(days=ctx.history.compact_after_days)
    with conn.transaction():
        if archive.licensed(conn):
            changed = archive.keep_compression_policy(conn, age)
            return f"TimescaleDB compression policy {'set to' if changed else 'kept at'} {age.days} days"
    before = (now - age).astimezone(UTC).date()  # days before this one are at least `age` old
    with conn.transaction():
        archive.raise_guard(conn, archive.day_start(before))
    points = list(repo.points(conn, park_id=park)) if park else None
    days, moved, failed, done = archive.days_to_compact(conn, before), 0, [], 0
    started = time.monotonic()
    for day in days:
        if time.monotonic() - started > RUN_BUDGET_S:
            break  # a backlog drains over several runs; each run ends well within its period
        done += 1
        try:
            with conn.transaction():
                moved += archive.compact_day(conn, day, points).readings
        except archive.NotExact as exc:
            log.error("%s: the day stays in the hot table", exc)
            failed.append(str(exc))
    if failed:
        raise archive.NotExact("; ".join(failed))
    return f"{done} days compacted, {moved} readings archived, {len(days) - done} days left for the next run"


def retention(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    """One transaction: each kind of history past its period (``HistorySettings``), one step each."""
    h = ctx.history
    done = [f"{count} {what}" for what, step in STEPS for count in [step(conn, h, now)]]
    return ", ".join(done)


def _readings(conn: psycopg.Connection, h: HistorySettings, now: datetime) -> int:
    """Archived days (Apache build) or compressed chunks (Timescale licence) past the period, per park
    only up to its first day not closed."""
    legal = now - timedelta(days=h.readings_retention_days)
    licensed, dropped, floors = archive.licensed(conn), 0, []
    for k in reads.parks(None, None).fetch(conn):
        ids = [p.id for p in reads.points(k.id).fetch(conn)]
        # On the Apache build only archived readings are ever dropped: a hot one is compacted first.
        oldest = archive.oldest_day(conn, ids, hot=licensed)
        if oldest is None or archive.day_start(oldest) >= legal:
            continue
        since = archive.day_start(oldest) - timedelta(days=1)
        upto = closed_until(conn, k.id, ZoneInfo(k.timezone), since, legal)
        floors.append(upto)
        if not licensed:
            dropped += archive.drop_archived(conn, ids, upto.astimezone(UTC).date())
    if licensed and floors:
        dropped += archive.drop_compressed_chunks(conn, min(floors))
    return dropped


def closed_until(
    conn: psycopg.Connection, park_id: str, tz: ZoneInfo, since: datetime, upto: datetime
) -> datetime:
    """``upto``, or the start of the park's first park-local day from ``since`` on that is not closed,
    whichever is earlier: history before it may go."""
    closed = retention_repo.closed_days(conn, park_id, since - timedelta(days=1), upto)
    day = since.astimezone(tz).date()
    while (start := datetime.combine(day, datetime.min.time(), tz)) < upto:
        if start not in closed:
            return start
        day += timedelta(days=1)
    return upto


def _statistics(conn: psycopg.Connection, h: HistorySettings, now: datetime) -> int:
    return archive.drop_statistics(conn, now - timedelta(days=h.statistics_retention_days))


def _events(conn: psycopg.Connection, h: HistorySettings, now: datetime) -> int:
    return retention_repo.prune_events(conn, now - timedelta(days=h.events_retention_days))


def _deliveries(conn: psycopg.Connection, h: HistorySettings, now: datetime) -> int:
    return repo.purge_delivered(conn, now - timedelta(days=h.deliveries_retention_days))


# What the retention job deletes, one step per kind of history with its own setting. (Dead letters have
# their own hourly job, dead_letter_retention.)
Step = Callable[[psycopg.Connection, HistorySettings, datetime], int]
STEPS: tuple[tuple[str, Step], ...] = (
    ("archived series-days or compressed chunks of readings", _readings),
    ("chunks or rows of logger statistics, equipment status and sample checks", _statistics),
    ("event-stream rows", _events),
    ("delivered notifications", _deliveries),
)
