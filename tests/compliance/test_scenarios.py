"""End-to-end scenarios through the real broker and ingest worker (with the compliance hook) and the
real-time consumer: each scripted event yields exactly the expected alerts and no others. Time is
driven by the readings' own timestamps and by explicit `now` for jobs, never by sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from compliance import jobs, service
from tests.compliance.conftest import alerts_of, kinds, publish, settle

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
ONE_POINT = """
id: {id}
name: One point
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop
    points:
      - id: total
        kind: total_outlet
        interval_s: 60
        parameters: {{cod: mg/L, ph: pH}}
"""
WORKSHOP = """
id: {id}
name: Workshop
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop
    points:
      - id: workshop
        kind: workshop_outlet
        interval_s: 60
        parameters: {{cr6: µg/L, ni: mg/L}}
"""


def minutes(n: int, start: datetime = T0) -> list[datetime]:
    return [start + timedelta(minutes=i) for i in range(n)]


def test_exceedance_opens_one_alert_and_resolves_after_hold(env, publisher, db) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    values = [40.0, 100.0, 120.0, 95.0] + [30.0] * 8
    for t, v in zip(minutes(len(values)), values, strict=True):
        publish(publisher, park, "shop-01", "total", t, {"cod": v, "ph": 7.2})
    publisher.flush()
    settle(db, park, 2 * len(values))
    # cleared by the data: a violation stays in the officer's queue until an officer closes it
    assert kinds(db, park) == [("exceedance", "total", "cod", "violation", "cleared")]
    (a,) = service.list_alerts(db, park)
    assert a.count == 3 and a.peak == 120.0 and a.limit == 80.0 and a.unit == "mg/L"
    assert a.opened_at == T0 + timedelta(minutes=1)
    assert "GB21900-2008-T2" in (a.limit_source or "")


def test_microgram_heavy_metal_is_converted_before_judging(env, publisher, db) -> None:  # type: ignore[no-untyped-def]
    park = env(WORKSHOP).id
    # 150 µg/L = 0.15 mg/L: under 80 % of the 0.2 mg/L limit, no alert (read as mg/L it would be 750x).
    for t in minutes(3):
        publish(publisher, park, "shop-01", "workshop", t, {"cr6": 150, "ni": 0.1})
    # 700 µg/L = 0.7 mg/L >= 3x the limit: criminal threshold, critical
    publish(publisher, park, "shop-01", "workshop", T0 + timedelta(minutes=3), {"cr6": 700, "ni": 0.1})
    publisher.flush()
    settle(db, park, 8)
    assert kinds(db, park) == [("exceedance", "workshop", "cr6", "critical", "open")]
    assert service.list_alerts(db, park)[0].peak == pytest.approx(0.7)


def test_offline_gap_opens_then_clears_when_data_returns(env, publisher, db, services, ctx) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    for t in minutes(3):
        publish(publisher, park, "shop-01", "total", t, {"cod": 40, "ph": 7})
    publisher.flush()
    settle(db, park, 6)
    last = T0 + timedelta(minutes=2)
    jobs.run(services.database_url, ctx, "offline_sweep", now=last + timedelta(minutes=4), park=park)
    assert kinds(db, park) == []  # 4 min < 5 x 60 s
    jobs.run(services.database_url, ctx, "offline_sweep", now=last + timedelta(minutes=6), park=park)
    jobs.run(services.database_url, ctx, "offline_sweep", now=last + timedelta(minutes=7), park=park)
    assert kinds(db, park) == [("offline", "total", "", "violation", "open")]
    publish(publisher, park, "shop-01", "total", last + timedelta(minutes=8), {"cod": 40, "ph": 7})
    publisher.flush()
    settle(db, park, 8)
    assert kinds(db, park) == [("offline", "total", "", "violation", "cleared")]


def test_maintenance_window_silences_the_point(env, publisher, db) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)  # marked afterwards
    with db.transaction():
        window = service.create_maintenance(
            db, park, "shop-01", "total", start, start + timedelta(hours=1), "probe replacement", "op-wang"
        )
    assert window.status == "approved"  # short: needs no approval
    for i, t in enumerate(minutes(6, start)):
        flag = "M" if i % 2 else "N"
        publish(publisher, park, "shop-01", "total", t, {"cod": 200, "ph": 2.5}, {"cod": flag, "ph": flag})
    # M and C data never count as breaches, even after the window
    publish(publisher, park, "shop-01", "total", start + timedelta(hours=2), {"cod": 300}, {"cod": "C"})
    publisher.flush()
    settle(db, park, 13)
    assert kinds(db, park) == []


def test_a_critical_breach_in_a_window_still_opens_an_alert(env, publisher, db) -> None:  # type: ignore[no-untyped-def]
    park = env(WORKSHOP).id
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    with db.transaction():
        window = service.create_maintenance(
            db, park, "shop-01", "workshop", start, start + timedelta(hours=2), "plating line", "op-wang"
        )
    t = start + timedelta(minutes=5)
    publish(publisher, park, "shop-01", "workshop", t, {"ni": 1.0})  # 2x the limit: a violation, silenced
    publish(publisher, park, "shop-01", "workshop", t + timedelta(minutes=1), {"ni": 6.0})  # 12x: critical
    publisher.flush()
    settle(db, park, 2)
    (alert,) = alerts_of(db, park)
    assert (alert.parameter, alert.severity, alert.peak, alert.count) == ("ni", "critical", 6.0, 1)
    assert alert.during_maintenance == window.id


def test_fault_flags_held_open_instrument_fault(env, publisher, db) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    publish(publisher, park, "shop-01", "total", T0, {"cod": 40, "ph": 7})
    for t in minutes(31, T0 + timedelta(minutes=1)):  # D from minute 1 to 31: held 30 min
        publish(publisher, park, "shop-01", "total", t, {"cod": 0, "ph": 7}, {"cod": "D"})
    publisher.flush()
    settle(db, park, 64)
    assert kinds(db, park) == [("instrument_fault", "total", "cod", "violation", "open")]
    publish(publisher, park, "shop-01", "total", T0 + timedelta(minutes=40), {"cod": 41, "ph": 7})
    publisher.flush()
    settle(db, park, 66)
    assert kinds(db, park) == [("instrument_fault", "total", "cod", "violation", "cleared")]


def test_short_fault_and_over_range_on_non_metal_raise_nothing(env, publisher, db) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    for t in minutes(10):
        publish(publisher, park, "shop-01", "total", t, {"cod": 500, "ph": 7}, {"cod": "B"})
    publisher.flush()
    settle(db, park, 20)
    assert kinds(db, park) == []


def test_over_range_on_heavy_metal_escalates(env, publisher, db) -> None:  # type: ignore[no-untyped-def]
    park = env(WORKSHOP).id
    publish(publisher, park, "shop-01", "workshop", T0, {"cr6": 10, "ni": 5.0}, {"ni": "T"})
    publisher.flush()
    settle(db, park, 2)
    assert kinds(db, park) == [("over_range", "workshop", "ni", "critical", "open")]


def test_implausible_ph_is_suspect_not_a_breach(env, publisher, db) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    publish(publisher, park, "shop-01", "total", T0, {"cod": 40, "ph": 0.0})
    publish(publisher, park, "shop-01", "total", T0 + timedelta(minutes=1), {"cod": -3, "ph": 7.1})
    publisher.flush()
    settle(db, park, 4)
    # a negative COD is suspect as well, under the negative-value rule of its own (abnormal data)
    assert sorted(kinds(db, park)) == [
        ("implausible", "total", "ph", "warning", "resolved"),
        ("negative_value", "total", "cod", "warning", "open"),
    ]


def test_flatline(env, publisher, db, services, ctx) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    times = minutes(65)
    for i, t in enumerate(times):
        publish(publisher, park, "shop-01", "total", t, {"cod": 42.0, "ph": 7.0 + (i % 3) / 10})
    publisher.flush()
    settle(db, park, 130)
    jobs.run(services.database_url, ctx, "data_quality", now=times[-1] + timedelta(seconds=30), park=park)
    assert kinds(db, park) == [("flatline", "total", "cod", "warning", "open")]


def test_late_data_rejudges_a_closed_hour(env, publisher, db, services, ctx) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    tz = ZoneInfo("Asia/Shanghai")
    now = datetime.now(UTC)
    yesterday = (now.astimezone(tz) - timedelta(days=1)).date()
    hour = datetime(yesterday.year, yesterday.month, yesterday.day, 10, tzinfo=tz).astimezone(UTC)
    jobs.run(services.database_url, ctx, "close_windows", now=now, park=park)  # closes yesterday (empty)
    for t in minutes(60, hour):
        publish(publisher, park, "shop-01", "total", t, {"cod": 78.0 if t.minute % 2 else 85.0, "ph": 7})
    publisher.flush()
    settle(db, park, 120)
    # mean 81.5 > 80: the closed hour is re-judged; the instant values opened one exceedance alert.
    # The day has 60 of 1440 expected values: insufficient for a daily mean, so no daily alert.
    assert sorted(kinds(db, park)) == [
        ("exceedance", "total", "cod", "violation", "open"),
        ("hourly_mean", "total", "cod", "violation", "open"),
    ]
    d0 = datetime(yesterday.year, yesterday.month, yesterday.day, tzinfo=tz)
    row = db.execute(
        "SELECT verdict, n_valid, n_total FROM compliance_windows w JOIN points p ON p.id = w.point_id"
        " WHERE p.park_id = %s AND span = 'day' AND parameter_id = 9 AND start_at = %s",
        (park, d0),
    ).fetchone()
    assert row == ("insufficient", 60, 60)


CENTRAL = """
id: {id}
name: Reuse park
industry: dyeing
standard: GB4287-2012-T2
config: {{reuse_target: 0.4}}
plants:
  - id: central
    name: Central plant
    kind: central_plant
    points:
      - {{id: outlet, kind: central_outlet, discharge_mode: direct, interval_s: 3600, parameters: [flow]}}
      - {{id: reuse, kind: reuse_outlet, interval_s: 3600, parameters: [flow]}}
"""


def test_low_reuse_ratio(env, publisher, db, services, ctx) -> None:  # type: ignore[no-untyped-def]
    park = env(CENTRAL).id
    tz = ZoneInfo("Asia/Shanghai")
    now = datetime.now(UTC)
    day = (now.astimezone(tz) - timedelta(days=1)).date()
    start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    for h in range(24):
        t = start + timedelta(hours=h)
        publish(publisher, park, "central", "outlet", t, {"flow": 80.0})
        publish(publisher, park, "central", "reuse", t, {"flow": 20.0})
    publisher.flush()
    settle(db, park, 48)
    jobs.run(services.database_url, ctx, "close_windows", now=now, park=park)
    assert kinds(db, park) == [("reuse_ratio", "reuse", "flow", "violation", "open")]
    report = db.execute(
        "SELECT body FROM compliance_reports WHERE park_id = %s AND day = %s", (park, day)
    ).fetchone()
    assert report is not None and report[0]["reuse_ratio"] == pytest.approx(0.2)


def test_alert_lifecycle_and_append_only_audit(env, publisher, db, services, ctx) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    publish(publisher, park, "shop-01", "total", T0, {"cod": 150, "ph": 7})
    publisher.flush()
    settle(db, park, 2)
    (a,) = service.list_alerts(db, park)
    with db.transaction():
        service.act(db, a.id, "acknowledge", "officer-li", "calling the plant")
    with db.transaction():
        service.act(db, a.id, "annotate", "operator-wang", "dosing pump failed, fixed 10:40")
    with pytest.raises(service.InvalidTransition), db.transaction():
        service.act(db, a.id, "acknowledge", "officer-li")
    with db.transaction():
        done = service.act(db, a.id, "resolve", "officer-li", "sampled on site: back under the limit")
    assert (done.state, done.acknowledged_by, done.resolved_by) == ("resolved", "officer-li", "officer-li")
    trail = [(r.actor, r.action, r.from_state, r.to_state) for r in service.audit(db, a.id)]
    assert trail == [
        ("compliance", "open", None, "open"),
        ("officer-li", "acknowledge", "open", "acknowledged"),
        ("operator-wang", "annotate", "acknowledged", "acknowledged"),
        ("officer-li", "resolve", "acknowledged", "resolved"),
    ]
    with pytest.raises(psycopg.errors.RaiseException):
        db.execute("UPDATE alert_audit SET note = 'x' WHERE alert_id = %s", (a.id,))
    # a new breach after an officer resolved opens a new alert (the old one stays as history)
    publish(publisher, park, "shop-01", "total", T0 + timedelta(minutes=5), {"cod": 150, "ph": 7})
    publisher.flush()
    settle(db, park, 4)
    assert [x[4] for x in kinds(db, park)] == ["resolved", "open"]


def test_escalation_of_unacknowledged_violation(env, publisher, db, services, ctx) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    publish(publisher, park, "shop-01", "total", T0, {"cod": 150, "ph": 7})
    publisher.flush()
    settle(db, park, 2)
    later = datetime.now(UTC) + timedelta(hours=2)
    jobs.run(services.database_url, ctx, "escalate", now=later)
    (a,) = service.list_alerts(db, park)
    assert a.escalation == 1
    events = [
        r[0] for r in db.execute("SELECT event FROM notify_outbox WHERE alert_id = %s ORDER BY id", (a.id,))
    ]
    assert events == ["opened", "escalated"]


def test_offline_inhibits_open_concentration_alerts_and_releases_them(
    env, publisher, db, services, ctx
) -> None:  # type: ignore[no-untyped-def]
    park = env(ONE_POINT).id
    publish(publisher, park, "shop-01", "total", T0, {"cod": 120, "ph": 7.2})  # violation, open
    publisher.flush()
    settle(db, park, 2)
    (exceedance,) = alerts_of(db, park)
    assert exceedance.muted is None
    # the point falls silent: offline opens, and the open COD alert is muted (no notifications, no
    # escalation) while the monitor cannot be trusted
    jobs.run(services.database_url, ctx, "offline_sweep", now=T0 + timedelta(minutes=7), park=park)
    assert sorted(kinds(db, park)) == [
        ("exceedance", "total", "cod", "violation", "open"),
        ("offline", "total", "", "violation", "open"),
    ]
    assert {a.kind: a.muted for a in alerts_of(db, park)}["exceedance"] == "inhibited"
    # data returns (still over the limit): offline resolves and the COD alert speaks again
    publish(publisher, park, "shop-01", "total", T0 + timedelta(minutes=8), {"cod": 110, "ph": 7.2})
    publisher.flush()
    settle(db, park, 4)
    muted = {a.kind: (a.state, a.muted) for a in alerts_of(db, park)}
    assert muted == {"exceedance": ("open", None), "offline": ("cleared", None)}
