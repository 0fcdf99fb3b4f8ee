"""Data marks against the real database, broker, ingest worker and real-time consumer: the database
refuses what compliance refuses (migration 045's trigger, on the mark_policy row), a locked mark stays,
and a mark's change re-judges its period: alerts withdrawn with an audit entry, reinstated when an
officer rejects the mark, breaches the mark kept quiet raised when it is withdrawn; and a plant marked
stopped whose flow shows it running gets a stopped_running alert from the data-time scan."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance import jobs, marks, rules, service
from compliance.repo import marks as mrepo
from compliance.repo.reads import day_judgements
from compliance.settings import MaintenanceSettings, MarkSettings
from ingest.core.models import ParkSpec
from tests.compliance.conftest import alerts_of, kinds, publish, settle
from tests.support import wait_for

H, D = timedelta(hours=1), timedelta(days=1)
MINUTE = timedelta(minutes=1)
PARK = """
id: {id}
name: Marks
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop
    points:
      - id: total
        kind: total_outlet
        interval_s: 60
        parameters: {{cod: mg/L, flow: L/s}}
"""
COD_LIMIT = 80.0  # GB 21900-2008 Table 2, total outlet


def _exceedances(db: psycopg.Connection, park: str, t: datetime) -> int:
    """What the daily report counts for the park-local day of ``t``."""
    tz = ZoneInfo("Asia/Shanghai")
    d0, d1 = rules.local_day_bounds(rules.local_day_of(t, tz), tz)
    rows = day_judgements(park, None, d0, d1, ["exceedance"], ["violation", "critical"], "exceedance").fetch(
        db
    )
    return sum(r.exceedances for r in rows)


def _now(db: psycopg.Connection) -> datetime:
    row = db.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


_PARKS: dict[int, str] = {}


def _park(make_park: Callable[..., ParkSpec]) -> str:
    key = id(make_park)  # one park per test: hypothesis calls the test many times with its fixtures
    if key not in _PARKS:
        _PARKS[key] = make_park(PARK).id
    return _PARKS[key]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset_s=st.integers(-11 * 86_400, 32 * 86_400), length_s=st.integers(1, 33 * 86_400))
def test_the_database_refuses_what_compliance_refuses(
    db: psycopg.Connection, make_park: Callable[..., ParkSpec], offset_s: int, length_s: int
) -> None:
    park = _park(make_park)
    with db.transaction(force_rollback=True):
        now = _now(db)
        start = now + timedelta(seconds=offset_s)
        end = start + timedelta(seconds=length_s)
        refusal = marks.refusal(
            "fault", start, end, now, MarkSettings().bounds(), MaintenanceSettings().bounds()
        )
        try:
            with db.transaction():
                mrepo.create_mark(
                    db, park, "shop-01", None, "fault", (start, end), "direct", "psql", "approved"
                )
        except psycopg.errors.CheckViolation as exc:
            assert refusal is not None, f"the database refused an acceptable mark: {exc}"
            assert refusal == exc.diag.message_primary  # and words it the same
        else:
            assert refusal is None, f"the database stored a mark compliance refuses: {refusal}"


def test_unknown_codes_and_plants_are_refused(
    db: psycopg.Connection, make_park: Callable[..., ParkSpec]
) -> None:
    park = make_park(PARK).id
    now = datetime.now(UTC)
    with pytest.raises(service.UnknownCode, match="unknown mark code 'holiday'"), db.transaction():
        service.create_mark(db, park, "shop-01", None, "holiday", now, now + H, "x", "op")
    with pytest.raises(LookupError), db.transaction():
        service.create_mark(db, park, "shop-01", "nowhere", "fault", now, now + H, "x", "op")
    with pytest.raises(psycopg.errors.ForeignKeyViolation), db.transaction():
        mrepo.create_mark(db, park, "shop-01", None, "holiday", (now, now + H), "x", "psql", "approved")


def test_a_mark_is_locked_once_its_correction_window_is_over(
    db: psycopg.Connection, make_park: Callable[..., ParkSpec]
) -> None:
    park = make_park(PARK).id
    with db.transaction(force_rollback=True):
        now = _now(db)
        made = service.create_mark(
            db, park, "shop-01", "total", "fault", now - 3 * H, now - 2 * H, "pump", "op"
        )
        assert made.locked_at == now - 2 * H + 10 * D
        # the policy shrinks to one hour: the mark's window ended an hour ago
        mrepo.set_mark_policy(db, MarkSettings(correction_days=1 / 24).bounds())
        with pytest.raises(service.MarkLocked, match=f"mark {made.id} is locked"), db.transaction():
            service.withdraw_mark(db, made.id, "op")
        with pytest.raises(service.MarkLocked), db.transaction():
            service.add_evidence(db, made.id, "a.txt", "text/plain", b"late", "op", MarkSettings())
        # what bypasses compliance is refused by the database
        with pytest.raises(psycopg.errors.CheckViolation, match="is locked"), db.transaction():
            mrepo.withdraw_mark(db, made.id, "psql")
        # officers may still review it
        assert service.decide_mark(db, made.id, False, "officer:li#3", "no O&M record").status == "rejected"
        audit = mrepo.mark_audit(made.id).fetch(db)
        assert [(a.actor, a.action, a.to_status) for a in audit] == [
            ("op", "create", "approved"),
            ("officer:li#3", "reject", "rejected"),
        ]


def test_marking_a_breach_withdraws_its_alert_and_rejecting_the_mark_reinstates_it(
    env,
    publisher,
    db,  # type: ignore[no-untyped-def]
) -> None:
    park = env(PARK).id
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - 40 * MINUTE
    for i in range(10):  # two breaches, then quiet long enough to clear (hold time)
        cod = 2 * COD_LIMIT if i < 2 else 10.0
        publish(publisher, park, "shop-01", "total", t0 + i * MINUTE, {"cod": cod, "flow": 1.0})
    publisher.flush()
    settle(db, park, 20)
    assert kinds(db, park) == [("exceedance", "total", "cod", "violation", "cleared")]
    (alert,) = alerts_of(db, park)
    assert _exceedances(db, park, t0) == 2
    with db.transaction():
        mark = service.create_mark(
            db, park, "shop-01", None, "calibration", t0 - MINUTE, t0 + 3 * MINUTE, "cal", "op"
        )
    assert kinds(db, park) == [("exceedance", "total", "cod", "violation", "resolved")]
    assert _exceedances(db, park, t0) == 0  # the report no longer counts the marked breaches
    withdraw = service.audit(db, alert.id)[-1]
    assert (withdraw.action, withdraw.actor) == ("withdraw", "compliance")
    assert f"data marked calibration by op (mark {mark.id})" in (withdraw.note or "")
    with db.transaction():
        rejected = service.decide_mark(db, mark.id, False, "officer:li#3", "no calibration record")
    assert rejected.status == "rejected"
    assert kinds(db, park) == [("exceedance", "total", "cod", "violation", "cleared")]  # as it was
    assert _exceedances(db, park, t0) == 2
    back = service.audit(db, alert.id)[-1]
    assert (back.action, back.to_state) == ("reinstate", "cleared")
    assert f"mark {mark.id} (calibration) rejected by officer:li#3" in (back.note or "")
    settle(db, park, 20)  # the period was queued again: it does not open a second alert
    assert len(alerts_of(db, park)) == 1


def test_a_breach_under_a_mark_opens_no_alert_until_the_mark_is_withdrawn(
    env,
    publisher,
    db,  # type: ignore[no-untyped-def]
) -> None:
    park = env(PARK).id
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - 30 * MINUTE
    with db.transaction():
        mark = service.create_mark(db, park, "shop-01", "total", "fault", t0, t0 + 10 * MINUTE, "probe", "op")
    for i in range(4):
        publish(publisher, park, "shop-01", "total", t0 + i * MINUTE, {"cod": 3 * COD_LIMIT, "flow": 1.0})
    publisher.flush()
    settle(db, park, 8)
    assert kinds(db, park) == []  # marked invalid: not judged
    with db.transaction():
        service.withdraw_mark(db, mark.id, "op", "entered on the wrong point")
    wait_for(lambda: alerts_of(db, park), timeout=30, message="the breach judged again")
    settle(db, park, 8)
    (a,) = alerts_of(db, park)
    assert (a.kind, a.parameter, a.count, a.peak) == ("exceedance", "cod", 4, 3 * COD_LIMIT)
    assert a.first_time == t0 and a.during_maintenance is None


def test_a_plant_marked_stopped_whose_flow_runs_gets_an_abnormal_data_alert(
    env,
    publisher,
    db,
    services,
    ctx,  # type: ignore[no-untyped-def]
) -> None:
    park = env(PARK).id
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - 20 * MINUTE
    for i in range(5):  # flowing before the mark is made: the mark, made afterwards, is checked too
        publish(publisher, park, "shop-01", "total", t0 + i * MINUTE, {"cod": 20.0, "flow": 4.0 + i})
    publisher.flush()
    settle(db, park, 10)
    jobs.run(services.database_url, ctx, "data_quality", park=park)  # the ingest spans, before any mark
    assert [a for a in alerts_of(db, park) if a.kind == "stopped_running"] == []
    with db.transaction():
        mark = service.create_mark(
            db, park, "shop-01", None, "production_stopped", t0 - MINUTE, t0 + 2 * H, "holiday", "op"
        )
    jobs.run(services.database_url, ctx, "data_quality", park=park)
    (alert,) = [a for a in alerts_of(db, park) if a.kind == "stopped_running"]
    assert (alert.parameter, alert.severity, alert.state, alert.peak, alert.count) == (
        "flow",
        "violation",
        "open",
        8.0,
        5,
    )
    assert alert.detail["mark"] == mark.id and alert.detail["code"] == "production_stopped"
    # the marked cod is not judged, and the mark withdrew nothing of the kind
    assert [a.kind for a in alerts_of(db, park)] == ["stopped_running"]


def test_outfall_mark_shows_the_codes_the_marks_and_their_trail(
    services,
    db: psycopg.Connection,
    make_park: Callable[..., ParkSpec],  # type: ignore[no-untyped-def]
) -> None:
    park = make_park(PARK).id
    now = datetime.now(UTC)
    with db.transaction():
        made = service.create_mark(
            db, park, "shop-01", None, "production_stopped", now, now + D, "holiday", "op"
        )
        service.decide_mark(db, made.id, True, "officer:li#3", "notice filed")
    env = {**os.environ, "OUTFALL_DATABASE_URL": services.database_url}

    def outfall(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "outfall", "mark", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    assert "production_stopped   production" in outfall("codes") and "停产" in outfall("codes")
    listed = outfall("list", "--park", park)
    assert f"{park}/shop-01/*" in listed and "approved by officer:li#3" in listed
    shown = outfall("show", str(made.id))
    assert (
        "op create None -> approved holiday" in shown and "officer:li#3 accept approved -> approved" in shown
    )


def _hour_record(db: psycopg.Connection, point: int, start: datetime) -> tuple[str, int]:
    row = db.execute(
        "SELECT verdict, n_valid FROM compliance_windows WHERE point_id = %s AND parameter_id = 9"
        " AND span = 'hour' AND start_at = %s",
        (point, start),
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_a_mark_rejudges_the_closed_hours_it_covers_and_withdrawing_it_restores_them(
    env,
    db,
    services,
    ctx,  # type: ignore[no-untyped-def]
) -> None:
    park = env(PARK).id
    (point,) = db.execute("SELECT id FROM points WHERE park_id = %s", (park,)).fetchone()
    tz = ZoneInfo("Asia/Shanghai")
    h0 = rules.local_hour_bounds(datetime.now(UTC) - 3 * H, tz)[0]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (point_id, parameter_id, time, value, flag, source)"
            " VALUES (%s, 9, %s, %s, 'N', 'test')",
            [(point, h0 + i * MINUTE, 2 * COD_LIMIT) for i in range(60)],
        )
    jobs.run(services.database_url, ctx, "close_windows", park=park)
    assert _hour_record(db, point, h0) == ("exceeded", 60)
    with db.transaction():
        mark = service.create_mark(db, park, "shop-01", "total", "fault", h0, h0 + H, "probe", "op")
    assert _hour_record(db, point, h0) == ("insufficient", 0)  # marked invalid: not in the mean
    with db.transaction():
        service.withdraw_mark(db, mark.id, "op", "entered on the wrong hour")
    assert _hour_record(db, point, h0) == ("exceeded", 60)
