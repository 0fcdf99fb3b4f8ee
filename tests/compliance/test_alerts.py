"""Alert transitions: open once, grow, escalate, resolve only after the clear level is held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance import alerts, rules
from compliance.models import Limit

T0 = datetime(2026, 11, 29, tzinfo=UTC)
COD = Limit(80, None, "mg/L")
P = rules.Policy(clear_hold_s=300)


def series(values: list[float]) -> list[tuple[datetime, float]]:
    return [(T0 + timedelta(minutes=i), v) for i, v in enumerate(values)]


def test_breach_opens_one_alert_then_grows_and_escalates() -> None:
    changes = alerts.fold_values(
        None, "exceedance", "cr6", series([0.1, 0.3, 0.25, 0.7]), Limit(0.2, None, "mg/L"), P
    )
    assert len(changes) == 1
    c = changes[0]
    assert c.action == "open" and c.alert is not None
    assert c.alert.count == 3 and c.alert.peak == 0.7 and c.alert.severity == "critical"
    assert c.alert.first_time == T0 + timedelta(minutes=1)


def test_resolves_only_after_hold() -> None:
    opened = alerts.fold_values(None, "exceedance", "cod", series([100]), COD, P)[0].alert
    assert opened is not None
    opened = opened.__class__(**{**opened.__dict__, "id": 7})
    # 5 minutes below the clear level (72) but the hold is 300 s: 0..4 min is 240 s -> still open
    later = [(T0 + timedelta(minutes=1 + i), 50.0) for i in range(5)]
    out = alerts.fold_values(opened, "exceedance", "cod", later, COD, P)
    assert [c.action for c in out] == ["update"]
    more = [(T0 + timedelta(minutes=1 + i), 50.0) for i in range(6)]
    out = alerts.fold_values(opened, "exceedance", "cod", more, COD, P)
    assert [c.action for c in out] == ["resolve"] and out[0].events == ("resolved",)


def test_open_and_resolve_in_one_batch_then_reopen() -> None:
    values = [100.0] + [10.0] * 6 + [100.0]
    out = alerts.fold_values(None, "exceedance", "cod", series(values), COD, P)
    assert [c.action for c in out] == ["resolve", "open"]
    assert out[0].events == ("opened", "resolved")


@given(st.lists(st.floats(0.92, 1.2), min_size=1, max_size=300))
def test_noise_around_the_limit_never_flaps(factors: list[float]) -> None:
    values = [120.0] + [80 * f for f in factors]  # stays above the clear level (72) all the time
    out = alerts.fold_values(None, "exceedance", "cod", series(values), COD, P)
    assert [c.action for c in out] == ["open"]


@given(st.lists(st.floats(0, 2.0), min_size=1, max_size=200))
def test_at_most_one_open_alert_and_resolves_need_hold(factors: list[float]) -> None:
    out = alerts.fold_values(None, "exceedance", "cod", series([80 * f for f in factors]), COD, P)
    assert sum(1 for c in out if c.action == "open") <= 1
    assert all(c.action in ("open", "resolve") for c in out)
    for c in out:
        if c.action == "resolve":
            assert c.alert is not None and c.alert.clear_since is not None and c.resolved_at is not None
            assert (c.resolved_at - c.alert.clear_since).total_seconds() >= P.clear_hold_s


def test_condition_alerts() -> None:
    c = alerts.step_condition(None, "offline", True, T0, None, "violation")
    assert c.action == "open"
    assert alerts.step_condition(None, "offline", False, T0, None, "violation").action == "none"
    assert c.alert is not None
    r = alerts.step_condition(c.alert, "offline", False, T0, 1.0, "violation", note="data returned")
    assert r.action == "resolve" and r.note == "data returned"


def test_officer_actions() -> None:
    e = alerts.officer_action("open", "acknowledge", "officer-li", "on it")
    assert (e.from_state, e.to_state, e.actor) == ("open", "acknowledged", "officer-li")
    assert alerts.officer_action("acknowledged", "resolve", "li", None).to_state == "resolved"
    assert alerts.officer_action("resolved", "annotate", "li", "follow-up").to_state == "resolved"
    with pytest.raises(alerts.InvalidTransition):
        alerts.officer_action("resolved", "acknowledge", "li", None)
    with pytest.raises(alerts.InvalidTransition):
        alerts.officer_action("open", "acknowledge", " ", None)
    with pytest.raises(alerts.InvalidTransition):
        alerts.officer_action("open", "annotate", "li", "")


PH = Limit(9.0, 6.0, "pH")


def test_ph_above_then_below_the_range_are_two_alerts() -> None:
    out = alerts.fold_values(None, "exceedance", "ph", series([7.0, 9.5, 5.5, 5.0]), PH, P)
    assert [c.action for c in out] == ["resolve", "open"]
    high, low = out[0].alert, out[1].alert
    assert high is not None and low is not None
    assert (
        high.peak == 9.5
        and high.state == "cleared"
        and out[0].note == "breach of the other bound of the range"
    )
    assert low.peak == 5.0 and low.count == 2  # the worst of a low breach is its lowest value
    assert low.first_time == T0 + timedelta(minutes=2)


def test_ph_switch_against_an_open_alert_ends_it() -> None:
    opened = alerts.fold_values(None, "exceedance", "ph", series([9.6]), PH, P)[0].alert
    assert opened is not None
    opened = opened.__class__(**{**opened.__dict__, "id": 3})
    out = alerts.fold_values(opened, "exceedance", "ph", [(T0 + timedelta(minutes=1), 5.5)], PH, P)
    assert [(c.action, c.alert.id if c.alert else None) for c in out] == [("resolve", 3), ("open", 0)]


def test_cleared_by_data_keeps_violations_with_the_officer() -> None:
    assert alerts.closed_state("warning") == "resolved"
    assert alerts.closed_state("violation") == alerts.closed_state("critical") == "cleared"
    out = alerts.fold_values(
        None, "exceedance", "ni", series([12.0] + [0.1] * 6), Limit(1.0, None, "mg/L"), P
    )
    assert [(c.action, c.alert.state if c.alert else None) for c in out] == [("resolve", "cleared")]
    warn = alerts.fold_values(None, "exceedance", "cod", series([70.0] + [10.0] * 6), COD, P)
    assert [(c.action, c.alert.state if c.alert else None) for c in warn] == [("resolve", "resolved")]
    e = alerts.officer_action("cleared", "resolve", "officer-li", "checked the plant")
    assert (e.from_state, e.to_state) == ("cleared", "resolved")
