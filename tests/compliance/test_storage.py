"""The storage jobs against the real database: `compact_readings` as the scheduler runs it (guard first,
one transaction per day), and retention, which drops archived readings only past their period and only
up to the first park-local day that is not closed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg

from compliance import jobs, storage
from ingest.core import archive
from ingest.core.settings import HistorySettings
from tests.ingest.test_archive import hot_count, insert, point_ids, served

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_job_compacts_cold_days_of_a_park_and_leaves_recent_ones(db, services, make_park, ctx):
    spec = make_park()
    ids = list(point_ids(db, spec.id).values())
    now = datetime.now(UTC)
    cold, warm = (now - timedelta(days=9)).date(), (now - timedelta(days=2)).date()
    rows = []
    for day in (cold, warm):
        d0 = archive.day_start(day)
        rows += [
            (ids[0], 9, d0 + timedelta(minutes=m), 40.0 + m, "N", d0, "mqtt-json") for m in range(0, 1440, 30)
        ]
    insert(db, rows)

    detail = jobs.run(services.database_url, ctx, "compact_readings", now=now, park=spec.id)

    assert "days compacted" in detail and "0 days left" in detail
    assert hot_count(db, ids, cold) == 0 and hot_count(db, ids, warm) == 48
    got = db.execute("SELECT day, n FROM readings_archive WHERE point_id = %s", (ids[0],)).fetchall()
    assert got == [(cold, 48)]
    guard = db.execute("SELECT guard FROM readings_archive_guard").fetchone()
    assert guard is not None and guard[0] >= archive.day_start(cold + timedelta(days=1))
    runs = db.execute("SELECT ok FROM compliance_job_runs WHERE name = 'compact_readings'").fetchone()
    assert runs == (True,)


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), SHANGHAI)


def test_retention_drops_archived_days_only_when_past_the_period_and_closed(db, services, make_park):
    spec = make_park()
    pid = point_ids(db, spec.id)["shop-01/total"]
    first = date(2019, 4, 1)
    days = [first + timedelta(days=i) for i in range(5)]
    for day in days:
        d0 = archive.day_start(day)
        insert(db, [(pid, 9, d0 + timedelta(hours=h), 1.5, "N", d0, "t") for h in range(24)])
        with psycopg.connect(services.database_url) as conn, conn.transaction():
            archive.compact_day(conn, day, [pid])
    late = archive.day_start(first) + timedelta(minutes=7)  # a late reading of day one, not merged yet
    insert(db, [(pid, 9, late, 9.0, "N", late, "t")])
    # Park-local days 1 to 3 are closed, day 4 is not.
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO compliance_closed (park_id, span, start_at) VALUES (%s, 'day', %s)",
            [(spec.id, local_midnight(d)) for d in [first - timedelta(days=1), *days[:3]]],
        )
    h = HistorySettings()
    readings_step = dict(storage.STEPS)["archived series-days or compressed chunks of readings"]

    with psycopg.connect(services.database_url) as conn, conn.transaction():
        too_soon = readings_step(conn, h, archive.day_start(days[-1]) + timedelta(days=1800))
    assert too_soon == 0

    with psycopg.connect(services.database_url) as conn, conn.transaction():
        dropped = readings_step(conn, h, archive.day_start(days[-1]) + timedelta(days=1830))

    # UTC day 2 ends at 08:00 on park-local day 3 (closed); UTC day 3 reaches into local day 4 (open).
    assert dropped == 2
    kept = db.execute("SELECT day FROM readings_archive WHERE point_id = %s ORDER BY day", (pid,)).fetchall()
    assert [r[0] for r in kept] == days[2:]
    window = served(db, [pid], archive.day_start(first), archive.day_start(days[-1] + timedelta(days=1)))
    assert [r[2] for r in window if r[2] < archive.day_start(days[2])] == [late]  # never compacted: kept


def test_closed_until_is_the_first_open_local_day(db, make_park):
    spec = make_park()
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO compliance_closed (park_id, span, start_at) VALUES (%s, 'day', %s)",
            [(spec.id, local_midnight(date(2018, 5, d))) for d in (1, 2, 4)],
        )
    since, upto = local_midnight(date(2018, 5, 1)), local_midnight(date(2018, 6, 1))
    with psycopg.connect(db.info.dsn) as conn:
        assert storage.closed_until(conn, spec.id, SHANGHAI, since, upto) == local_midnight(date(2018, 5, 3))
        assert storage.closed_until(
            conn, spec.id, SHANGHAI, since, since + timedelta(days=2)
        ) == since + timedelta(days=2)
