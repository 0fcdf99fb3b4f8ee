"""Abnormal data through the real broker, ingest worker and real-time consumer and the scheduled jobs
run at explicit times: zero values found in data time, a day held just under the limit found when the
day closes, and the routing: the operator first, an explanation accepted or rejected, the referral of
what stays unexplained, and notifications to operators' and officers' receivers accordingly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from compliance import jobs, notify, routing, service
from compliance.alerts import InvalidTransition
from compliance.models import AlertView
from ingest.core.models import ParkSpec
from tests.compliance.conftest import alerts_of, kinds, publish, settle
from tests.compliance.test_scenarios import T0, minutes
from tests.support import Publisher

PARK = """
id: {id}
name: Abnormal data
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop
    points:
      - id: total
        kind: total_outlet
        interval_s: 60
        parameters: {{cod: mg/L, nh3_n: mg/L, flow: L/s}}
"""
HOURLY = PARK.replace("interval_s: 60", "interval_s: 3600")
SUBSCRIBED = PARK.replace(
    "plants:\n",
    """config:
  subscriptions:
    - {{name: officers, email: officers@example.org, min_severity: warning}}
    - {{name: shop-ops, email: ops@example.org, plant: shop-01, min_severity: warning, audience: operator}}
plants:
""",
    1,
)


@pytest.fixture
def fast(ctx: jobs.Context) -> jobs.Context:
    """Zero values after 20 minutes; abnormal data referred to officers after an hour."""
    rules = ctx.rules.model_copy(update={"zero_s": 1200, "abnormal_refer_after_s": 3600})
    return replace(ctx, rules=rules)


def one(db: psycopg.Connection, park: str, kind: str) -> AlertView:
    (found,) = [a for a in alerts_of(db, park) if a.kind == kind]
    return found


def created_at(db: psycopg.Connection, alert_id: int) -> datetime:
    row = db.execute("SELECT created_at FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def outbox(db: psycopg.Connection, alert_id: int) -> list[tuple[str, str]]:
    rows = db.execute(
        "SELECT event, audience FROM notify_outbox WHERE alert_id = %s ORDER BY id", (alert_id,)
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def trail(db: psycopg.Connection, alert_id: int) -> list[tuple[str, str]]:
    return [(a.action, a.actor.split(":")[0]) for a in service.audit(db, alert_id)]


def test_zero_values_in_data_time_go_to_the_operator_first(
    env: Callable[[str], ParkSpec], publisher: Publisher, db: psycopg.Connection, services, fast
) -> None:  # type: ignore[no-untyped-def]
    park = env(PARK).id
    times = minutes(30)
    for i, t in enumerate(times):  # COD stuck at 0 while NH3-N varies and nothing flows (normal at night)
        publish(publisher, park, "shop-01", "total", t, {"cod": 0.0, "nh3_n": 2 + i % 3, "flow": 0.0})
    publisher.flush()
    settle(db, park, 90)
    jobs.run(services.database_url, fast, "data_quality", now=times[-1] + timedelta(seconds=30), park=park)
    assert kinds(db, park) == [("zero_value", "total", "cod", "warning", "open")]
    zero = one(db, park, "zero_value")
    assert (zero.first_time, zero.last_time, zero.count) == (T0, times[-1], 30)
    assert zero.officer_visible_at is None and zero.explanation is None
    assert outbox(db, zero.id) == [("opened", "operator")]
    (opened,) = service.audit(db, zero.id)
    assert opened.note == routing.OPERATOR_FIRST
    # not yet an hour since it opened: still the operator's; an hour later, unexplained: the officers'
    at = created_at(db, zero.id)
    jobs.run(services.database_url, fast, "refer_abnormal", now=at + timedelta(minutes=59), park=park)
    assert one(db, park, "zero_value").officer_visible_at is None
    jobs.run(services.database_url, fast, "refer_abnormal", now=at + timedelta(minutes=61), park=park)
    assert one(db, park, "zero_value").officer_visible_at is not None
    assert outbox(db, zero.id) == [("opened", "operator"), ("referred", "everyone")]
    assert trail(db, zero.id) == [("open", "compliance"), ("refer", "compliance")]


@pytest.fixture
def subscribed(env: Callable[[str], ParkSpec], db: psycopg.Connection) -> Iterator[str]:
    """A park with an officers' and an operators' e-mail receiver, whose notifications are never sent:
    what the test leaves in the outbox is dropped, so no later delivery run sends it."""
    park = env(SUBSCRIBED).id
    yield park
    db.execute("UPDATE notify_outbox SET grouped_at = now() WHERE park_id = %s", (park,))
    db.execute("DELETE FROM notify_deliveries WHERE park_id = %s", (park,))


def test_explained_abnormal_data_waits_for_the_officer(
    subscribed: str, publisher: Publisher, db: psycopg.Connection, services, fast
) -> None:  # type: ignore[no-untyped-def]
    park = subscribed
    publish(publisher, park, "shop-01", "total", T0, {"cod": -3.0, "nh3_n": -0.5, "flow": 2.0})
    publish(publisher, park, "shop-01", "total", T0 + timedelta(minutes=1), {"cod": 30.0, "flow": 2.0})
    publisher.flush()
    settle(db, park, 5)
    assert kinds(db, park) == [
        ("negative_value", "total", "cod", "warning", "resolved"),  # back at or above zero
        ("negative_value", "total", "nh3_n", "warning", "open"),
    ]
    cod, nh3 = (one_of(db, park, p) for p in ("cod", "nh3_n"))
    with db.transaction():
        service.explain(db, cod.id, "operator:ops#1", "分析仪零点漂移，已校准")
        service.explain(db, nh3.id, "operator:ops#1", "试剂更换")
    with pytest.raises(InvalidTransition), db.transaction():
        service.explain(db, cod.id, "operator:ops#1", "again")  # one waits already
    # explained: never referred for being unexplained, however long the officer takes
    later = created_at(db, cod.id) + timedelta(days=2)
    jobs.run(services.database_url, fast, "refer_abnormal", now=later, park=park)
    assert one_of(db, park, "cod").officer_visible_at is None
    assert one_of(db, park, "nh3_n").officer_visible_at is None
    with db.transaction():
        accepted = service.decide_explanation(db, cod.id, True, "officer:li#2")
        rejected = service.decide_explanation(db, nh3.id, False, "officer:li#2", "与工况不符")
    assert (accepted.explanation, accepted.officer_visible_at) == ("accepted", None)
    assert rejected.explanation == "rejected" and rejected.officer_visible_at is not None
    assert outbox(db, nh3.id) == [("opened", "operator"), ("referred", "everyone")]
    assert trail(db, nh3.id) == [
        ("open", "compliance"),
        ("explain", "operator"),
        ("explanation_reject", "officer"),
        ("refer", "compliance"),
    ]
    with db.transaction():  # after a rejection the plant may explain again; an accepted one is final
        assert service.explain(db, nh3.id, "operator:ops#1", "补充说明").explanation == "pending"
    with pytest.raises(InvalidTransition), db.transaction():
        service.explain(db, cod.id, "operator:ops#1", "x")
    # the notifications: the operators' receiver gets every change, the officers' only the referral
    notify.group_pending(db, datetime.now(UTC) + timedelta(minutes=1), 0)
    sent = db.execute(
        "SELECT subscription, payload FROM notify_deliveries WHERE park_id = %s ORDER BY id", (park,)
    ).fetchall()
    got = {(s, a["kind"], a["parameter"], a["event"]) for s, p in sent for a in p["alerts"]}
    assert got == {
        ("shop-ops", "negative_value", "cod", "opened"),
        ("shop-ops", "negative_value", "cod", "resolved"),
        ("shop-ops", "negative_value", "nh3_n", "opened"),
        ("shop-ops", "negative_value", "nh3_n", "referred"),
        ("officers", "negative_value", "nh3_n", "referred"),
    }


def one_of(db: psycopg.Connection, park: str, parameter: str) -> AlertView:
    (found,) = [a for a in alerts_of(db, park) if a.parameter == parameter]
    return found


def test_a_day_held_just_under_the_limit(
    env: Callable[[str], ParkSpec], publisher: Publisher, db: psycopg.Connection, services, ctx
) -> None:  # type: ignore[no-untyped-def]
    park = env(HOURLY).id
    tz = ZoneInfo("Asia/Shanghai")
    now = datetime.now(UTC)
    yesterday = (now.astimezone(tz) - timedelta(days=1)).date()
    start = datetime(yesterday.year, yesterday.month, yesterday.day, tzinfo=tz).astimezone(UTC)
    hourly = [40.0 if h % 6 == 0 else 76.0 + h % 4 for h in range(24)]  # limit 80: 20 hours near it
    for h, cod in enumerate(hourly):
        publish(publisher, park, "shop-01", "total", start + timedelta(hours=h, minutes=30), {"cod": cod})
    publisher.flush()
    settle(db, park, 24)
    jobs.run(services.database_url, ctx, "close_windows", now=now, park=park)
    (near,) = [a for a in alerts_of(db, park) if a.kind == "near_limit"]
    assert (near.parameter, near.severity, near.state, near.basis) == ("cod", "warning", "open", "day")
    assert near.first_time == start and near.limit == 80.0 and near.unit == "mg/L"
    assert near.detail["hours_near"] == 20 and near.detail["hours_judged"] == 24
    assert near.value == pytest.approx(sum(hourly) / 24)  # the day's valid mean
    assert near.officer_visible_at is None  # abnormal data: the operator's first
