"""Gaps and flat runs in data time, and late data re-making a closed day's park rules: readings go
through the real broker, ingest worker (with the real-time hook) and consumer; the jobs run with
explicit times. The end-to-end versions through the processes are in tests/e2e/test_data_time.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from compliance import jobs
from tests.compliance.conftest import alerts_of, publish, settle
from tests.compliance.test_scenarios import CENTRAL, ONE_POINT

T0 = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def replay_day(publisher, park: str) -> int:  # type: ignore[no-untyped-def]
    """Four hours of minute data: no data from minute 60 to 99 (a 40-minute dropout: last reading at
    59, first after at 100), and pH stuck at 7.05 from minute 110 to 230 (two hours)."""
    sent = 0
    for m in range(240):
        if 60 <= m < 100:
            continue
        ph = 7.05 if 110 <= m <= 230 else 7.0 + (m % 5) / 10
        publish(publisher, park, "shop-01", "total", at(m), {"cod": 30.0 + m % 7, "ph": ph})
        sent += 2
    publisher.flush()
    return sent


def test_a_replayed_day_with_a_dropout_and_a_stuck_ph(env, publisher, db, services, ctx) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    settle(db, park, replay_day(publisher, park))
    now = datetime.now(UTC)
    for _ in range(2):  # a second run finds nothing new: no twins
        jobs.run(services.database_url, ctx, "data_quality", now=now, park=park)
    found = {a.kind: a for a in alerts_of(db, park)}
    assert sorted(found) == ["flatline", "offline"]
    off, flat = found["offline"], found["flatline"]
    assert (off.first_time, off.last_time, off.state, off.parameter) == (at(59), at(100), "cleared", "")
    assert off.severity == "violation"  # cleared by the data, still in the officer's queue
    assert (flat.first_time, flat.last_time, flat.state, flat.parameter) == (
        at(110),
        at(230),
        "resolved",
        "ph",
    )
    assert flat.value == 7.05 and flat.count == 121 and flat.resolved_at == at(231)
    note = db.execute(
        "SELECT note FROM alert_audit WHERE alert_id = %s AND action = 'clear'", (off.id,)
    ).fetchone()
    assert note == ("data returned after a 41-minute gap in the data",)  # 59 -> 100


def test_a_stuck_value_still_going_is_open_and_grows_with_the_data(env, publisher, db, services, ctx) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    for m in range(70):
        publish(publisher, park, "shop-01", "total", at(m), {"cod": 42.0, "ph": 7.0 + (m % 3) / 10})
    publisher.flush()
    settle(db, park, 140)
    jobs.run(services.database_url, ctx, "data_quality", now=at(70), park=park)
    (a,) = alerts_of(db, park)
    assert (a.kind, a.parameter, a.state, a.first_time, a.last_time) == (
        "flatline",
        "cod",
        "open",
        at(0),
        at(69),
    )
    for m in range(70, 75):  # still stuck, then it moves
        publish(publisher, park, "shop-01", "total", at(m), {"cod": 42.0 if m < 74 else 50.0, "ph": 7.0})
    publisher.flush()
    settle(db, park, 150)
    jobs.run(services.database_url, ctx, "data_quality", now=at(75), park=park)
    (a,) = alerts_of(db, park)
    assert (a.state, a.first_time, a.last_time, a.resolved_at) == ("resolved", at(0), at(73), at(74))


def test_gap_inside_the_wall_clock_offline_alert_is_the_same_alert(env, publisher, db, services, ctx) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    for m in range(3):
        publish(publisher, park, "shop-01", "total", at(m), {"cod": 40, "ph": 7})
    publisher.flush()
    settle(db, park, 6)
    jobs.run(services.database_url, ctx, "offline_sweep", now=at(10), park=park)
    publish(publisher, park, "shop-01", "total", at(20), {"cod": 40, "ph": 7})
    publisher.flush()
    settle(db, park, 8)
    jobs.run(services.database_url, ctx, "data_quality", now=at(21), park=park)
    (a,) = alerts_of(db, park)  # one episode: the sweep's alert, its window now the gap
    assert (a.kind, a.state, a.first_time, a.last_time) == ("offline", "cleared", at(2), at(20))


def test_late_flow_data_for_a_closed_day_makes_its_reuse_ratio(env, publisher, db, services, ctx) -> None:  # type: ignore[no-untyped-def]
    park = env(CENTRAL).id
    tz = ZoneInfo("Asia/Shanghai")
    now = datetime.now(UTC)
    day = (now.astimezone(tz) - timedelta(days=1)).date()
    start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    jobs.run(services.database_url, ctx, "close_windows", now=now, park=park)  # the day closes empty
    report = db.execute("SELECT body FROM compliance_reports WHERE park_id = %s AND day = %s", (park, day))
    assert "reuse_ratio" not in report.fetchone()[0]
    for h in range(24):  # the day's flows arrive late
        publish(publisher, park, "central", "outlet", start + timedelta(hours=h), {"flow": 80.0})
        publish(publisher, park, "central", "reuse", start + timedelta(hours=h), {"flow": 20.0})
    publisher.flush()
    settle(db, park, 48)
    jobs.run(services.database_url, ctx, "close_windows", now=now, park=park)
    assert [(a.kind, a.point, a.state) for a in alerts_of(db, park)] == [("reuse_ratio", "reuse", "open")]
    body = db.execute(
        "SELECT body FROM compliance_reports WHERE park_id = %s AND day = %s", (park, day)
    ).fetchone()[0]
    assert body["reuse_ratio"] == pytest.approx(0.2)


def test_late_readings_stored_while_their_hour_closes_are_judged_with_it(
    env, publisher, db, services, ctx
) -> None:  # type: ignore[no-untyped-def]
    """Closing reads an hour; more of that hour's readings are stored before closing commits. The
    consumer takes their late markers meanwhile: it must wait for the closing (the closing lock) and
    re-judge the hour, not leave it to a closing that has already read it."""
    import time

    import psycopg

    from compliance import windows
    from tests.compliance.conftest import inbox_empty, wait_stored

    park = env(ONE_POINT).id
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    for m in range(30):
        publish(publisher, park, "shop-01", "total", hour + timedelta(minutes=m), {"cod": 40.0})
    publisher.flush()
    settle(db, park, 30)  # the first half's markers taken while the hour was open: left to closing
    with psycopg.connect(services.database_url) as closing:  # one transaction, left open below
        windows.close_hours(closing, park, now, ctx.rules)
        for m in range(30, 60):
            publish(publisher, park, "shop-01", "total", hour + timedelta(minutes=m), {"cod": 40.0})
        publisher.flush()
        wait_stored(db, park, 60)
        # the consumer takes the second half's markers; were it not to wait for the closing, it would
        # find the hour open and leave it (the inbox drains at once)
        deadline = time.monotonic() + 3
        while not inbox_empty(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not inbox_empty(db), "the consumer judged late readings while their hour was being closed"
        closing.commit()
    settle(db, park, 60)
    row = db.execute(
        "SELECT n_valid, n_total FROM compliance_windows w JOIN points p ON p.id = w.point_id"
        " WHERE p.park_id = %s AND span = 'hour' AND parameter_id = 9 AND start_at = %s",
        (park, hour),
    ).fetchone()
    assert row == (60, 60)
