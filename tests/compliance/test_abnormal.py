"""Abnormal data, pure: the zero, negative, constant, jump and near-limit rules, the alert changes the
near-limit verdict makes, and the routing of abnormal data to the plant's operator first."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from compliance import routing, rules, windows
from compliance.alerts import InvalidTransition
from compliance.models import (
    ABNORMAL_DATA_KINDS,
    ALERT_KINDS,
    EXCEEDANCE,
    FLATLINE,
    NEAR_LIMIT,
    NEGATIVE_VALUE,
    RATE_OF_CHANGE,
    ZERO_VALUE,
    AlertState,
)
from compliance.receivers import subscriptions
from compliance.settings import RuleSettings
from ingest.core.parameters import BY_CODE, CATALOGUE

T0 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
S = RuleSettings(flatline_s=3600, flatline_min_count=10, zero_s=1800, zero_min_count=3)
CODES = st.sampled_from([p.code for p in CATALOGUE])


def run(value: float, count: int, step_s: float = 60) -> rules.Run:
    return rules.Run(T0, T0 + timedelta(seconds=step_s * (count - 1)), value, count)


# --- negative values ---------------------------------------------------------------------------------
@given(CODES, st.floats(allow_nan=True, allow_infinity=True))
def test_negative_is_below_zero_where_zero_is_the_floor(code: str, value: float) -> None:
    floor_is_zero = BY_CODE[code].plausible_min >= 0
    assert rules.is_negative(code, value) == (floor_is_zero and value < 0 and value > float("-inf"))
    if rules.is_negative(code, value):  # never judged against a limit, like an implausible value
        assert not rules.is_plausible(code, value)


def test_negative_examples() -> None:
    assert rules.is_negative("cod", -0.01)
    assert rules.is_negative("nh3_n", -3)
    assert rules.is_negative("flow", -1)
    assert not rules.is_negative("temp", -2)  # water just under 0 °C is a plausible reading
    assert not rules.is_negative("cod", 0.0)


# --- constant values and zero values: one rule over runs of one value ---------------------------------
@given(CODES, st.sampled_from([0.0, 7.0, -2.0]), st.integers(1, 400), st.sampled_from([10, 60, 600]))
def test_a_run_is_named_by_one_rule_only(code: str, value: float, count: int, step_s: int) -> None:
    r = run(value, count, step_s)
    kind = rules.constant_run_kind(r, code, S)
    assert kind == (
        FLATLINE
        if rules.is_flat(r, S.flatline_s, S.flatline_min_count)
        else ZERO_VALUE
        if rules.is_zero_run(r, code, S.zero_s, S.zero_min_count, S.zero_exempt)
        else None
    )
    if kind == FLATLINE:
        assert value != 0 and count >= S.flatline_min_count and r.duration_s >= S.flatline_s
    if kind == ZERO_VALUE:
        assert value == 0 and code not in S.zero_exempt and rules.is_plausible(code, 0.0)
        assert count >= S.zero_min_count and r.duration_s >= S.zero_s
    if kind is not None:  # the store's prefilter never hides a run the rule would name
        assert count >= rules.min_run_count(S)


def test_zero_values_examples() -> None:
    held = run(0.0, 31)  # 30 minutes of zeros, one a minute
    assert rules.constant_run_kind(held, "cod", S) == ZERO_VALUE
    assert rules.constant_run_kind(held, "nh3_n", S) == ZERO_VALUE
    assert rules.constant_run_kind(held, "flow", S) is None  # no discharge at night is normal
    assert rules.constant_run_kind(held, "temp", S) is None
    assert rules.constant_run_kind(held, "ph", S) is None  # pH 0 is the implausible rule's
    assert rules.constant_run_kind(run(0.0, 30), "cod", S) is None  # 29 minutes: not yet
    assert rules.constant_run_kind(run(0.0, 2, 3600), "cod", S) is None  # two readings: too few
    assert rules.constant_run_kind(run(42.0, 61), "cod", S) == FLATLINE


@given(st.lists(st.sampled_from([0.0, 0.0, 0.0, 5.0]), min_size=1, max_size=80))
def test_zero_runs_are_found_in_any_series(values: list[float]) -> None:
    series = [(T0 + timedelta(minutes=i), v) for i, v in enumerate(values)]
    named = [r for r in rules.value_runs(series) if rules.constant_run_kind(r, "cod", S) == ZERO_VALUE]
    # every stretch of >= 31 consecutive zeros one minute apart is exactly one zero-value run
    stretches = [len(list(g)) for v, g in itertools.groupby(values) if v == 0.0]
    assert len(named) == sum(1 for n in stretches if n >= 31)


# --- sudden jumps ------------------------------------------------------------------------------------
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=40), st.floats(1, 200))
def test_a_jump_is_a_step_bigger_than_the_threshold(values: list[float], step: float) -> None:
    series = [(T0 + timedelta(minutes=i), v) for i, v in enumerate(values)]
    found = rules.rate_of_change(series, max_step=step, max_gap_s=120)
    assert (found is not None) == any(abs(b - a) > step for a, b in itertools.pairwise(values))
    far_apart = [(T0 + timedelta(minutes=3 * i), v) for i, v in enumerate(values)]
    assert rules.rate_of_change(far_apart, max_step=step, max_gap_s=120) is None  # not consecutive


# --- discharge held just under the limit -------------------------------------------------------------
HOURS = st.lists(st.tuples(st.floats(0, 200, allow_nan=False), st.floats(0.1, 100)), max_size=30)


@given(HOURS, st.floats(0.5, 0.99), st.floats(0.1, 1), st.integers(1, 24))
def test_near_limit_day_counts_only_hours_under_and_near_the_limit(
    hours: list[tuple[float, float]], fraction: float, share: float, min_hours: int
) -> None:
    day = rules.near_limit_day(hours, fraction, share, min_hours)
    assert day.judged == len(hours)
    assert day.near == sum(1 for m, u in hours if fraction * u <= m <= u)
    assert day.held == (day.judged >= min_hours and day.near >= share * day.judged)
    # an hour over its limit is a breach, never "near": raising it further changes nothing
    over = [(2 * u + 1, u) for _m, u in hours]
    assert rules.near_limit_day(over, fraction, share, min_hours).near == 0


@given(HOURS, st.floats(0.01, 100))
def test_near_limit_day_does_not_depend_on_the_unit(hours: list[tuple[float, float]], k: float) -> None:
    exact = [(float(round(m)), float(round(u) + 1)) for m, u in hours]  # no rounding at the edges
    assume(all(m * k != 0.9 * u * k for m, u in exact))
    scaled = [(m * k, u * k) for m, u in exact]
    a, b = (rules.near_limit_day(h, 0.9, 0.75, 8) for h in (exact, scaled))
    assert (a.near, a.judged, a.held) == (b.near, b.judged, b.held)


def test_near_limit_day_examples() -> None:
    at_limit = [(80.0, 80.0)] * 20
    assert rules.near_limit_day(at_limit, 0.9, 0.75, 8).held
    assert not rules.near_limit_day(at_limit[:7], 0.9, 0.75, 8).held  # too few judged hours
    mixed = [(76.0, 80.0)] * 15 + [(40.0, 80.0)] * 5  # 15 of 20 = 75 %
    assert rules.near_limit_day(mixed, 0.9, 0.75, 8).held
    assert not rules.near_limit_day([*mixed, (40.0, 80.0)], 0.9, 0.75, 8).held


def alert(kind: str, first: datetime, last: datetime) -> AlertState:
    return AlertState(9, kind, "warning", "open", 76.0, 76.0, 1, first, last)


def test_near_limit_change_opens_grows_once_and_ends_on_a_later_day() -> None:
    d1, d2, d3 = (T0 + timedelta(days=i) for i in range(3))
    opened = windows.near_limit_change(None, d1, True, 76.0)
    assert opened is not None and opened.action == "open" and opened.alert is not None
    assert opened.alert.kind == NEAR_LIMIT and opened.alert.severity == "warning"
    assert windows.near_limit_change(None, d1, False, 40.0) is None
    current = alert(NEAR_LIMIT, d1, d2)
    assert windows.near_limit_change(current, d2, True, 76.0) is None  # the day re-judged: already in
    grown = windows.near_limit_change(current, d3, True, 77.0)
    assert grown is not None and grown.alert is not None and grown.alert.last_time == d3
    assert windows.near_limit_change(current, d1, False, 40.0) is None  # an earlier day says nothing
    ended = windows.near_limit_change(current, d3, False, 40.0)
    assert ended is not None and ended.action == "resolve" and ended.alert is not None
    assert ended.alert.state == "resolved"  # a warning closes by itself


# --- routing -----------------------------------------------------------------------------------------
def test_the_abnormal_data_kinds_are_alert_kinds() -> None:
    assert set(ALERT_KINDS) >= ABNORMAL_DATA_KINDS
    assert {ZERO_VALUE, NEGATIVE_VALUE, FLATLINE, RATE_OF_CHANGE, NEAR_LIMIT} <= ABNORMAL_DATA_KINDS
    for kind in ALERT_KINDS:
        assert routing.officer_visible_on_open(kind) == (kind not in ABNORMAL_DATA_KINDS)


MOMENTS = st.integers(0, 10 * 3600).map(lambda s: T0 + timedelta(seconds=s))


@given(
    MOMENTS,
    st.sampled_from([None, "pending", "accepted", "rejected"]),
    st.one_of(st.none(), MOMENTS),
    MOMENTS,
    st.integers(0, 6 * 3600),
)
def test_referral_is_due_only_for_unexplained_hidden_alerts_past_the_delay(
    created: datetime, explanation: str | None, visible: datetime | None, now: datetime, after_s: int
) -> None:
    after = timedelta(seconds=after_s)
    due = routing.referral_due(created, explanation, visible, now, after)
    assert due == (visible is None and explanation in (None, "rejected") and now - created >= after)
    if due:  # later is due too: the sweep never forgets an alert it skipped
        assert routing.referral_due(created, explanation, visible, now + timedelta(hours=1), after)


def test_notifications_of_hidden_alerts_go_to_operators_only() -> None:
    assert routing.audience(None) == "operator"
    assert routing.audience(T0) == "everyone"
    config: dict[str, object] = {
        "subscriptions": [
            {"name": "officers", "webhook": "https://example.org/o", "min_severity": "warning"},
            {"name": "ops", "email": "ops@example.org", "plant": "shop-01", "audience": "operator"},
        ]
    }
    officers, ops = subscriptions(config)
    assert (officers.audience, ops.audience) == ("officer", "operator")
    assert not officers.wants("shop-01", "warning", "operator")
    assert officers.wants("shop-01", "warning", "everyone")
    assert ops.wants("shop-01", "violation", "operator") and ops.wants("shop-01", "violation", "everyone")
    assert not ops.wants("shop-02", "violation", "operator")  # another plant's


def test_explanations_are_for_abnormal_data_one_at_a_time() -> None:
    entry = routing.explain(ZERO_VALUE, "open", None, "operator:ops#3", "停产检修")
    assert (entry.action, entry.actor, entry.note) == ("explain", "operator:ops#3", "停产检修")
    assert routing.explain(ZERO_VALUE, "resolved", "rejected", "operator:ops#3", "again").action == "explain"
    for kind, expl, note in (
        (EXCEEDANCE, None, "x"),  # a breach is not explained away
        (ZERO_VALUE, "pending", "x"),
        (ZERO_VALUE, "accepted", "x"),
        (ZERO_VALUE, None, "  "),
    ):
        with pytest.raises(InvalidTransition):
            routing.explain(kind, "open", expl, "operator:ops#3", note)
    accept = routing.decide("open", "pending", True, "officer:li#4", None)
    reject = routing.decide("open", "pending", False, "officer:li#4", "数据与工况不符")
    assert (accept.action, reject.action) == ("explanation_accept", "explanation_reject")
    for expl in (None, "accepted", "rejected"):
        with pytest.raises(InvalidTransition):
            routing.decide("open", expl, True, "officer:li#4", None)
