"""Compaction of cold readings into readings_archive, against the real database: every reading comes back
exactly, twice is once, a crash leaves the day as it was, a late reading for a compacted day is stored,
served and merged, and a re-sent archived reading is still a duplicate."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

import psycopg
import pytest

from ingest.core import archive, decoded, repo
from ingest.core.batches import Parts, Written, write_parts
from ingest.core.settings import IntakeSettings

_days = itertools.count()


def fresh_day() -> date:
    """A day of its own per test, so tests sharing the database never compact each other's data."""
    return date(2023, 1, 1) + timedelta(days=next(_days))


def point_ids(db: psycopg.Connection, park: str) -> dict[str, int]:
    rows = db.execute("SELECT plant_id || '/' || code, id FROM points WHERE park_id = %s", (park,)).fetchall()
    return {r[0]: r[1] for r in rows}


def insert(db: psycopg.Connection, rows: list[tuple[int, int, datetime, float, str, datetime, str]]) -> None:
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (point_id, parameter_id, time, value, flag, received_at, source)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


def served(
    db: psycopg.Connection, ids: list[int], start: datetime, end: datetime
) -> list[tuple[object, ...]]:
    """Every reading of these points in [start, end), hot or archived, with its receipt (to the second)
    and source, in key order."""
    return db.execute(
        "SELECT point_id, parameter_id, time, value, flag::text, date_trunc('second', received_at), source"
        " FROM readings WHERE point_id = ANY(%(ids)s) AND time >= %(a)s AND time < %(b)s"
        " UNION ALL SELECT a.point_id, a.parameter_id, u.time, u.value, u.flag::text, u.received_at, u.source"
        " FROM readings_archive a CROSS JOIN LATERAL readings_archive_rows(a) u"
        " WHERE a.point_id = ANY(%(ids)s) AND u.time >= %(a)s AND u.time < %(b)s ORDER BY 1, 2, 3",
        {"ids": ids, "a": start, "b": end},
    ).fetchall()


def ranged(
    db: psycopg.Connection, ids: list[int], start: datetime, end: datetime
) -> list[tuple[object, ...]]:
    """What readers get: readings_range (migration 070)."""
    return db.execute(
        "SELECT point_id, parameter_id, time, value, flag::text"
        " FROM readings_range(%s::integer[], %s::smallint[], %s, %s) ORDER BY 1, 2, 3",
        (ids, list(range(1, 100)), start, end),
    ).fetchall()


def compact(db_url: str, day: date, ids: list[int]) -> archive.Compacted:
    with psycopg.connect(db_url) as conn, conn.transaction():
        return archive.compact_day(conn, day, ids)


def hot_count(db: psycopg.Connection, ids: list[int], day: date) -> int:
    d0 = archive.day_start(day)
    row = db.execute(
        "SELECT count(*) FROM readings WHERE point_id = ANY(%s) AND time >= %s AND time < %s",
        (ids, d0, d0 + timedelta(days=1)),
    ).fetchone()
    assert row is not None
    return int(row[0])


def mixed_rows(ids: dict[str, int], day: date) -> list[tuple[int, int, datetime, float, str, datetime, str]]:
    """A day of two series, every kind of value and time the archive must keep exactly: decimals, values
    converted from µg/L (not short decimals), negatives, exponents, big numbers, sub-second and irregular
    times, two sources, late receipts."""
    d0, total, workshop = archive.day_start(day), ids["shop-01/total"], ids["shop-01/workshop"]
    rows = []
    for i in range(0, 1440, 7):
        t = d0 + timedelta(minutes=i, microseconds=(i * 37) % 1000 if i % 5 == 0 else 0)
        received = t + timedelta(seconds=0.4 + (i % 3), days=3 if i == 700 else 0)
        flag = "D" if i % 50 == 0 else "N"
        rows.append((total, 9, t, round(40 + (i % 97) / 10, 1), flag, received, "mqtt-json"))
        cr6 = [12.3 * 0.001, 1e-7, -0.5, 123456789.125, 0.1 + 0.2, 7.0][i % 6]
        rows.append((workshop, 15, t, cr6, "N", received, "tcp-hj212" if i % 2 else "mqtt-hj212"))
    return rows


def test_compaction_gives_back_every_reading_exactly_and_twice_is_once(db, services, make_park):
    spec = make_park()
    ids = point_ids(db, spec.id)
    day = fresh_day()
    insert(db, mixed_rows(ids, day))
    d0, d1 = archive.day_start(day), archive.day_start(day + timedelta(days=1))
    before = served(db, list(ids.values()), d0, d1)

    done = compact(services.database_url, day, list(ids.values()))

    assert (done.series, done.readings) == (2, len(before))
    assert hot_count(db, list(ids.values()), day) == 0
    assert served(db, list(ids.values()), d0, d1) == before
    assert ranged(db, list(ids.values()), d0, d1) == [r[:5] for r in before]
    kinds = db.execute(
        "SELECT point_id, values_i2 IS NOT NULL, values_f8 IS NOT NULL, cardinality(sources)"
        " FROM readings_archive WHERE point_id = ANY(%s) ORDER BY point_id",
        (list(ids.values()),),
    ).fetchall()
    # COD in tenths fits smallints; the µg/L-converted values stay doubles; the workshop had two sources.
    assert sorted(kinds) == sorted(
        [(ids["shop-01/total"], True, False, 1), (ids["shop-01/workshop"], False, True, 2)]
    )
    snapshot = db.execute(
        "SELECT * FROM readings_archive WHERE point_id = ANY(%s) ORDER BY point_id", (list(ids.values()),)
    ).fetchall()

    again = compact(services.database_url, day, list(ids.values()))

    assert (again.series, again.readings) == (0, 0)
    assert (
        db.execute(
            "SELECT * FROM readings_archive WHERE point_id = ANY(%s) ORDER BY point_id", (list(ids.values()),)
        ).fetchall()
        == snapshot
    )


def test_a_crash_in_the_middle_leaves_the_day_as_it_was(db, services, make_park):
    spec = make_park()
    ids = list(point_ids(db, spec.id).values())
    day = fresh_day()
    insert(db, mixed_rows(point_ids(db, spec.id), day))
    d0, d1 = archive.day_start(day), archive.day_start(day + timedelta(days=1))
    before = served(db, ids, d0, d1)
    victim = psycopg.connect(services.database_url)  # not autocommit: a transaction is open
    archive.compact_day(victim, day, ids)  # archive rows written, hot rows deleted: not committed
    pid = victim.info.backend_pid
    db.execute("SELECT pg_terminate_backend(%s)", (pid,))  # the process dies before its commit
    with pytest.raises(psycopg.OperationalError):
        victim.commit()
    victim.close()

    assert hot_count(db, ids, day) == len(before)
    assert db.execute(
        "SELECT count(*) FROM readings_archive WHERE point_id = ANY(%s)", (ids,)
    ).fetchone() == (0,)
    assert served(db, ids, d0, d1) == before


def write(services, lines: list[str]) -> Written:
    """One ingest batch through the writers' own transaction (what the MQTT worker and gateway run)."""
    with psycopg.connect(services.database_url) as conn:
        repo.prepare_staging(conn)
        parts = Parts(copy_text="".join(lines).encode(), readings=len(lines), messages=1)
        written = write_parts(conn, parts, "test-archive", None, IntakeSettings())
        conn.commit()
    return written


def test_late_readings_for_a_compacted_day_are_stored_served_and_merged(db, services, make_park):
    spec = make_park()
    cod = point_ids(db, spec.id)["shop-01/total"]
    day = fresh_day()
    d0, d1 = archive.day_start(day), archive.day_start(day + timedelta(days=1))
    insert(
        db,
        [
            (cod, 9, d0 + timedelta(minutes=m), 40.5, "N", d0 + timedelta(minutes=m), "mqtt-json")
            for m in range(0, 60, 2)
        ],
    )
    with psycopg.connect(services.database_url) as conn, conn.transaction():
        archive.raise_guard(conn, d1)  # what the compaction job does first
    compact(services.database_url, day, [cod])

    late = decoded.copy_line(cod, 9, (d0 + timedelta(minutes=1)).isoformat(), 77.25, "N", "mqtt-json")
    assert write(services, [late]).inserted == 1
    times = [r[2] for r in served(db, [cod], d0, d1)]
    assert len(times) == 31 and d0 + timedelta(minutes=1) in times
    assert hot_count(db, [cod], day) == 1

    merged = compact(services.database_url, day, [cod])

    assert (merged.series, merged.readings) == (1, 1)
    assert hot_count(db, [cod], day) == 0
    row = db.execute("SELECT n FROM readings_archive WHERE point_id = %s AND day = %s", (cod, day)).fetchone()
    assert row == (31,)
    assert [r[3] for r in served(db, [cod], d0 + timedelta(minutes=1), d0 + timedelta(minutes=2))] == [77.25]


def test_a_re_sent_archived_reading_is_still_a_duplicate_and_a_second_value_is_set_aside(
    db, services, make_park
):
    spec = make_park()
    cod = point_ids(db, spec.id)["shop-01/total"]
    day = fresh_day()
    d0, d1 = archive.day_start(day), archive.day_start(day + timedelta(days=1))
    t = d0 + timedelta(hours=5)
    insert(db, [(cod, 9, t, 42.1, "N", t, "mqtt-json")])
    with psycopg.connect(services.database_url) as conn, conn.transaction():
        archive.raise_guard(conn, d1)
    compact(services.database_url, day, [cod])

    same = write(services, [decoded.copy_line(cod, 9, t.isoformat(), 42.1, "N", "mqtt-json")])
    assert (same.inserted, same.duplicates, same.dead) == (0, 1, 0)

    other = write(services, [decoded.copy_line(cod, 9, t.isoformat(), 99.9, "N", "mqtt-json")])
    assert (other.inserted, other.duplicates, other.dead) == (0, 1, 1)
    reason = db.execute(
        "SELECT reason FROM dead_letters WHERE reason LIKE %s",
        (f"second value for a stored reading (point {cod},%",),
    ).fetchone()
    assert reason is not None and "stored 42.1 N, received 99.9 N" in reason[0]
    assert [r[3] for r in served(db, [cod], d0, d1)] == [42.1]
    assert hot_count(db, [cod], day) == 0
