"""Maintenance windows are bounded (at most 72 h long, starting at most 24 h back and 30 days ahead by
default), long ones wait for an officer, and criticals are never silenced: the pure rules, and the
database refusing exactly what they refuse (migration 030's trigger, on the same policy row)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance import jobs, rules, service
from compliance.models import MaintenanceBounds, MaintenanceSpan
from compliance.settings import MaintenanceSettings
from ingest.core.models import ParkSpec
from tests.support import Services

H = timedelta(hours=1)
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
BOUNDS = MaintenanceSettings().bounds()


def test_the_defaults() -> None:
    assert MaintenanceBounds(72 * H, 24 * H, timedelta(days=30), 12 * H) == BOUNDS


def test_a_century_backwards_is_refused_with_a_clear_reason() -> None:
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2125, 1, 1, tzinfo=UTC)
    assert rules.maintenance_refusal(start, end, NOW, BOUNDS) == (
        "a maintenance window may last at most 72 h (this one: 1095744 h)"
    )
    far = datetime(9999, 12, 31, tzinfo=UTC)
    assert "at most 72 h" in (rules.maintenance_refusal(NOW - H, far, NOW, BOUNDS) or "")


@pytest.mark.parametrize(
    ("start", "length", "refused"),
    [
        (NOW, 72 * H, None),  # exactly the longest
        (NOW, 72 * H + timedelta(seconds=1), "may last at most 72 h"),
        (NOW - 24 * H, H, None),  # marked exactly a day afterwards
        (NOW - 24 * H - timedelta(seconds=1), H, "may start at most 24 h before now"),
        (NOW + timedelta(days=30), H, None),
        (NOW + timedelta(days=30, seconds=1), H, "may start at most 720 h ahead"),
        (NOW, timedelta(0), "must end after it starts"),
        (NOW, -H, "must end after it starts"),
    ],
)
def test_bounds_at_their_edges(start: datetime, length: timedelta, refused: str | None) -> None:
    found = rules.maintenance_refusal(start, start + length, NOW, BOUNDS)
    assert (found is None) if refused is None else (refused in (found or ""))


def test_only_windows_over_the_threshold_need_an_officer() -> None:
    assert not rules.needs_approval(NOW, NOW + 12 * H, BOUNDS)
    assert rules.needs_approval(NOW, NOW + 12 * H + timedelta(seconds=1), BOUNDS)


def test_windows_are_half_open_and_criticals_never_silenced() -> None:
    spans = [MaintenanceSpan(NOW, NOW + H, 7)]
    assert rules.window_at(NOW, spans) == spans[0]
    assert rules.window_at(NOW + H, spans) is None
    assert rules.window_at(NOW - timedelta(seconds=1), spans) is None
    assert [rules.silenced_by_maintenance(s) for s in ("warning", "violation", "critical", None)] == [
        True,
        True,
        False,
        True,
    ]


@given(
    offset_s=st.integers(-3 * 86_400, 40 * 86_400),
    length_s=st.integers(-3_600, 100 * 3_600),
)
def test_refusal_means_a_bound_is_broken(offset_s: int, length_s: int) -> None:
    start = NOW + timedelta(seconds=offset_s)
    end = start + timedelta(seconds=length_s)
    within = (
        start < end <= start + BOUNDS.max_length
        and NOW - BOUNDS.max_backdate <= start <= NOW + BOUNDS.max_lead
    )
    assert (rules.maintenance_refusal(start, end, NOW, BOUNDS) is None) == within


# --- the database refuses what compliance refuses ---------------------------------------------------

PARK = """
id: {id}
name: Bounds
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop
    points:
      - id: total
        kind: total_outlet
        interval_s: 60
        parameters: {{cod: mg/L}}
"""


def _insert(conn: psycopg.Connection, park: str, start: datetime, end: datetime, status: str) -> None:
    conn.execute(
        "INSERT INTO maintenance_windows (park_id, plant_id, during, reason, created_by, status)"
        " VALUES (%s, 'shop-01', tstzrange(%s, %s), 'direct', 'someone', %s)",
        (park, start, end, status),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offset_s=st.integers(-2 * 86_400, 32 * 86_400),
    length_s=st.integers(1, 80 * 3_600),
)
def test_the_database_refuses_what_compliance_refuses(
    db: psycopg.Connection, make_park: Callable[..., ParkSpec], offset_s: int, length_s: int
) -> None:
    park = _park(db, make_park)
    with db.transaction(force_rollback=True):
        now = db.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        start = now + timedelta(seconds=offset_s)
        end = start + timedelta(seconds=length_s)
        status = "pending" if rules.needs_approval(start, end, BOUNDS) else "approved"
        refusal = rules.maintenance_refusal(start, end, now, BOUNDS)
        try:
            with db.transaction():
                _insert(db, park, start, end, status)
        except psycopg.errors.CheckViolation as exc:
            assert refusal is not None, f"the database refused an acceptable window: {exc}"
        else:
            assert refusal is None, f"the database stored a window compliance refuses: {refusal}"


_PARKS: dict[int, str] = {}


def _park(db: psycopg.Connection, make_park: Callable[..., ParkSpec]) -> str:
    """One park per test (hypothesis calls the test many times with the same fixtures)."""
    key = id(make_park)
    if key not in _PARKS:
        _PARKS[key] = make_park(PARK).id
    return _PARKS[key]


def test_the_database_refuses_a_long_window_approved_without_an_officer(
    db: psycopg.Connection, make_park: Callable[..., ParkSpec]
) -> None:
    park = make_park(PARK).id
    start = datetime.now(UTC)
    with pytest.raises(psycopg.errors.CheckViolation, match="needs an officer's approval"):
        _insert(db, park, start, start + 20 * H, "approved")
    with pytest.raises(psycopg.errors.CheckViolation, match=r"may last at most 72 h \(this one: 1095744 h\)"):
        _insert(db, park, datetime(2000, 1, 1, tzinfo=UTC), datetime(2125, 1, 1, tzinfo=UTC), "pending")
    _insert(db, park, start, start + 20 * H, "pending")  # pending is how a long window is stored


def test_the_policy_row_moves_both_judges(db: psycopg.Connection, make_park: Callable[..., ParkSpec]) -> None:
    park = make_park(PARK).id
    with db.transaction(force_rollback=True):
        tight = MaintenanceBounds(2 * H, H, H, H)
        from compliance import repo

        repo.set_maintenance_policy(db, tight)
        now, bounds = repo.maintenance_policy(db)
        assert bounds == tight
        with pytest.raises(service.MaintenanceRefused, match="at most 2 h"):
            service.create_maintenance(db, park, "shop-01", None, now, now + 3 * H, "x", "op")
        with pytest.raises(psycopg.errors.CheckViolation, match="at most 2 h"), db.transaction():
            _insert(db, park, now, now + 3 * H, "pending")


def test_a_long_window_waits_for_an_officer(
    db: psycopg.Connection, make_park: Callable[..., ParkSpec]
) -> None:
    park = make_park(PARK).id
    start = datetime.now(UTC)
    with db.transaction():
        long = service.create_maintenance(db, park, "shop-01", "total", start, start + 20 * H, "x", "op")
        short = service.create_maintenance(db, park, "shop-01", "total", start, start + 2 * H, "y", "op")
    assert (long.status, short.status) == ("pending", "approved")
    assert long.point == "total" and long.end == start + 20 * H  # read back as stored
    with db.transaction():
        done = service.decide_maintenance(db, long.id, True, "officer:li#3", "plan checked")
    assert (done.status, done.decided_by, done.decision_note) == ("approved", "officer:li#3", "plan checked")
    with pytest.raises(service.InvalidTransition), db.transaction():
        service.decide_maintenance(db, long.id, False, "officer:li#3")
    with pytest.raises(LookupError), db.transaction():
        service.decide_maintenance(db, 2**40, True, "officer:li#3")


def _with_window(start: datetime, end: datetime) -> str:
    entry = f'    - {{{{plant: shop-01, from: "{start.isoformat()}", to: "{end.isoformat()}"}}}}\n'
    return PARK.replace("plants:\n", "config:\n  maintenance:\n" + entry + "plants:\n", 1)


def test_park_file_windows_are_kept_across_refreshes_and_bounded_when_loaded(
    services: Services, db: psycopg.Connection, make_park: Callable[..., ParkSpec], ctx: jobs.Context
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - 2 * H
    park = make_park(_with_window(start, start + 3 * H)).id
    stored = []
    for _ in range(2):  # the scheduled refresh re-syncs the park file: the stored window stays as it is
        jobs.run(services.database_url, ctx, "refresh_limits", park=park)
        query = "SELECT id, status FROM maintenance_windows WHERE park_id = %s"
        stored.append(db.execute(query, (park,)).fetchall())
    assert stored[0] == stored[1] and len(stored[0]) == 1 and stored[0][0][1] == "approved"
    old = start - timedelta(days=3)
    other = make_park(_with_window(old, old + H)).id
    with db.transaction(force_rollback=True), pytest.raises(ValueError, match="24 h before now"):
        jobs.resolve_loaded_park(db, ctx, other)  # `outfall park load` fails with the reason
    # the scheduled refresh of every park leaves it out and goes on with the limits
    jobs.run(services.database_url, ctx, "refresh_limits", park=other)
    windows = "SELECT count(*) FROM maintenance_windows WHERE park_id = %s"
    assert db.execute(windows, (other,)).fetchone() == (0,)
    limits = (
        "SELECT count(*) FROM compliance_limits l JOIN points p ON p.id = l.point_id WHERE p.park_id = %s"
    )
    assert db.execute(limits, (other,)).fetchone() != (0,)
