"""Pure rules: severity tiers, hysteresis, means on the park-local calendar, data-truth rules."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from compliance import rules
from compliance.models import Limit

SH = ZoneInfo("Asia/Shanghai")
P = rules.Policy()
T0 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)


def lim(upper: float | None, lower: float | None = None, nd: bool = False) -> Limit:
    return Limit(upper, lower, "mg/L", not_detected=nd)


def test_severity_tiers_and_criminal_thresholds() -> None:
    assert rules.severity("cod", 63, lim(80), P) is None
    assert rules.severity("cod", 64, lim(80), P) == "warning"
    assert rules.severity("cod", 80, lim(80), P) == "warning"
    assert rules.severity("cod", 80.1, lim(80), P) == "violation"
    assert rules.severity("cod", 1000, lim(80), P) == "violation"  # no criminal tier for COD
    assert rules.severity("cr6", 0.59, lim(0.2), P) == "violation"
    assert rules.severity("cr6", 0.6, lim(0.2), P) == "critical"  # 3x for Cr
    assert rules.severity("ni", 4.9, lim(0.5), P) == "violation"
    assert rules.severity("ni", 5.0, lim(0.5), P) == "critical"  # 10x for Ni
    assert rules.severity("ph", 5.9, lim(9, 6), P) == "violation"
    assert rules.severity("ph", 8.9, lim(9, 6), P) is None  # no "approaching" for a range
    assert rules.severity("cr6", 0.001, lim(0, nd=True), P) == "violation"
    assert rules.severity("cr6", 0.0, lim(0, nd=True), P) is None


@given(st.floats(0, 1e4, allow_nan=False), st.floats(0.01, 1e3, allow_nan=False))
def test_clear_level_is_below_every_opening_level(value: float, upper: float) -> None:
    limit = lim(upper)
    sev = rules.severity("cod", value, limit, P)
    if sev is not None:  # a value that opens an alert can never also clear it (no flapping)
        assert not rules.is_clear(value, limit, "warning", P)
        assert not rules.is_clear(value, limit, sev, P)


@given(st.floats(0, 14, allow_nan=False))
def test_ph_clear_band_inside_the_range(value: float) -> None:
    limit = lim(9, 6)
    if rules.is_clear(value, limit, "violation", P):
        assert 6.3 <= value <= 8.7 + 1e-9
        assert rules.severity("ph", value, limit, P) is None


def test_local_day_bounds_in_shanghai() -> None:
    start, end = rules.local_day_bounds(date(2026, 11, 29), SH)
    assert start == datetime(2026, 11, 28, 16, tzinfo=UTC)
    assert end - start == timedelta(days=1)
    # 23:59 UTC on the 28th is already the 29th in Shanghai
    assert rules.local_day_of(datetime(2026, 11, 28, 16, 0, tzinfo=UTC), SH) == date(2026, 11, 29)
    assert rules.local_day_of(datetime(2026, 11, 28, 15, 59, tzinfo=UTC), SH) == date(2026, 11, 28)
    ny = ZoneInfo("America/New_York")
    s, e = rules.local_day_bounds(date(2026, 3, 8), ny)  # DST day: 23 hours
    assert e - s == timedelta(hours=23)
    kol = ZoneInfo("Asia/Kolkata")
    hs, _he = rules.local_hour_bounds(datetime(2026, 1, 1, 10, 10, tzinfo=UTC), kol)
    assert hs == datetime(2026, 1, 1, 9, 30, tzinfo=UTC)


flags = st.sampled_from(list("NFMSDCTB"))


@given(st.lists(st.tuples(st.integers(0, 59), st.floats(0, 100, allow_nan=False), flags), max_size=60))
def test_means_ignore_invalid_flags(rows: list[tuple[int, float, str]]) -> None:
    samples = [(T0 + timedelta(minutes=m), v, f) for m, v, f in rows]
    res = rules.window_mean(samples, T0, T0 + timedelta(hours=1), 60, 0.75, "cod")
    valid = [v for _m, v, f in rows if f in "NS"]
    assert res.n_valid == len(valid)
    assert res.n_expected == 60
    if valid:
        assert res.mean is not None and abs(res.mean - sum(valid) / len(valid)) < 1e-6
        assert res.sufficient == (len(valid) >= 45)
    else:
        assert res.mean is None and not res.sufficient
    # adding invalid values never changes the mean
    more = [
        *samples,
        (T0 + timedelta(seconds=1), 1000000.0, "M"),
        (T0 + timedelta(seconds=2), 1000000.0, "D"),
    ]
    assert rules.window_mean(more, T0, T0 + timedelta(hours=1), 60, 0.75, "cod").mean == res.mean


def test_means_skip_implausible_values() -> None:
    samples = [(T0 + timedelta(minutes=m), 7.0, "N") for m in range(50)] + [(T0, 0.0, "N")]
    res = rules.window_mean(samples, T0, T0 + timedelta(hours=1), 60, 0.75, "ph")
    assert res.mean == 7.0 and res.n_valid == 50


def test_offline_and_fault_hold() -> None:
    assert rules.is_offline(T0, None, 60, 5)
    assert not rules.is_offline(T0 + timedelta(seconds=300), T0, 60, 5)
    assert rules.is_offline(T0 + timedelta(seconds=301), T0, 60, 5)
    assert rules.fault_held(T0, T0 + timedelta(minutes=30), 1800)
    assert not rules.fault_held(T0, T0 + timedelta(minutes=29), 1800)
    assert "T" not in rules.status_flags("ni") and "T" in rules.status_flags("cod")


def test_implausible() -> None:
    assert not rules.is_plausible("ph", 0.0)
    assert not rules.is_plausible("cod", -1.0)
    assert not rules.is_plausible("cod", float("nan"))
    assert rules.is_plausible("cod", 42.0)


@given(st.floats(0.1, 100, allow_nan=False), st.integers(3, 200))
def test_flatline_detects_identical_runs(value: float, n: int) -> None:
    series = [(T0 + timedelta(minutes=i), value) for i in range(n)]
    found = rules.flatline(series, min_duration_s=3600, min_count=3)
    assert (found is not None) == ((n - 1) * 60 >= 3600)
    noisy = [*series, (T0 + timedelta(minutes=n), value + 1)]
    assert rules.flatline(noisy, min_duration_s=3600, min_count=3) is None


def test_flatline_ignores_zero_flow() -> None:
    series = [(T0 + timedelta(minutes=i), 0.0) for i in range(200)]
    assert rules.flatline(series, 3600, 3) is None


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=50))
def test_rate_of_change_finds_the_biggest_step(values: list[float]) -> None:
    series = [(T0 + timedelta(minutes=i), v) for i, v in enumerate(values)]
    biggest = max(abs(b - a) for a, b in itertools.pairwise(values))
    found = rules.rate_of_change(series, max_step=50, max_gap_s=120)
    assert (found is not None) == (biggest > 50)
    if found:
        assert abs(found[1] - biggest) < 1e-9


def test_reuse_ratio_and_mass_balance() -> None:
    assert rules.reuse_ratio(40, 60) == 0.4
    assert rules.reuse_ratio(0, 0) is None
    assert rules.volume_m3(10, 86400) == 864
    assert rules.mass_balance_gap(120, 100) == 0.2
    assert rules.mass_balance_gap(10, 0) is None


def test_value_level_follows_the_real_time_rules() -> None:
    pol = rules.Policy()
    ph = lim(9.0, 6.0)
    assert rules.value_level("ph", 0.0, "N", ph, pol) == "implausible"  # pH 0.00 flagged N: a bad probe
    assert rules.value_level("ph", 5.5, "N", ph, pol) == "violation"
    assert rules.value_level("ph", 5.5, "M", ph, pol) == "invalid"  # maintenance data never counts
    assert rules.value_level("ph", 8.6, "S", ph, pol) == "ok"  # two-sided: no approaching tier
    assert rules.value_level("ni", 0.42, "N", lim(0.5), pol) == "warning"
    assert rules.value_level("ni", 6.0, "N", lim(0.5), pol) == "critical"
    assert rules.value_level("ni", -1.0, "N", lim(0.5), pol) == "implausible"
    assert rules.value_level("cod", 500.0, "N", None, pol) == "no_limit"


def test_park_reuse_ratio_needs_every_volume() -> None:
    assert rules.park_reuse_ratio([30.0, 10.0], [60.0]) == 0.4
    assert rules.park_reuse_ratio([30.0, None], [60.0]) is None
    assert rules.park_reuse_ratio([], [60.0]) is None
    assert rules.park_reuse_ratio([0.0], [0.0]) is None
