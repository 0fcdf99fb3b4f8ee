"""The legal record's pure rules: valid hours, days and months, volume and discharged mass, KPIs, and
which points make a plant's discharge."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance import discharge, kpis, rules, validity
from compliance.settings import RuleSettings
from compliance.validity import Part, ValidityRule

SH = ZoneInfo("Asia/Shanghai")
H0 = datetime(2026, 11, 19, 16, tzinfo=UTC)  # 00:00 on 20 Nov in Shanghai
D0, D1 = H0, H0 + timedelta(days=1)
RULE = ValidityRule(0.75, 0.75, 0.75)
HOUR = timedelta(hours=1)


def minutes(start: datetime, n: int, value: float, flag: str = "N") -> list[tuple[datetime, float, str]]:
    return [(start + timedelta(minutes=i), value, flag) for i in range(n)]


def part(h: int, mean: float | None, n_valid: int = 60, ok: bool = True, **kw: object) -> Part:
    return Part(
        H0 + h * HOUR,
        mean,
        mean,
        mean,
        n_valid,
        n_valid,
        60,
        ok,
        {"N": n_valid},
        **kw,  # type: ignore[arg-type]
    )


# --- hours -------------------------------------------------------------------------------------------
def test_an_hour_counts_flags_and_is_valid_at_three_quarters_of_its_expected_values() -> None:
    samples = minutes(H0, 45, 40.0) + minutes(H0 + timedelta(minutes=45), 10, 999.0, "D")
    samples += [(H0 + timedelta(minutes=55), -3.0, "N"), (H0 + HOUR, 7.0, "N")]  # implausible; next hour
    res = validity.hour_record(samples, H0, H0 + HOUR, 60, RULE, "cod")
    assert (res.mean, res.min, res.max, res.n_valid, res.n_total, res.n_expected) == (40, 40, 40, 45, 56, 60)
    assert res.sufficient and res.flags == {"N": 46, "D": 10, "implausible": 1}
    assert "0.75 x 60 expected" in res.rule
    short = validity.hour_record(samples[:44], H0, H0 + HOUR, 60, RULE, "cod")
    assert not short.sufficient and short.mean == 40  # the mean of what there is, not a valid mean


def test_a_flow_hour_has_its_volume_and_zero_flow_can_invalidate_other_values() -> None:
    flow = validity.hour_record(minutes(H0, 60, 10.0), H0, H0 + HOUR, 60, RULE, "flow")
    assert flow.volume_m3 == pytest.approx(36.0)  # 10 L/s for an hour
    stopped = {H0 + timedelta(minutes=i) for i in range(30)}
    cod = minutes(H0, 60, 50.0)
    assert validity.hour_record(cod, H0, H0 + HOUR, 60, RULE, "cod", stopped).n_valid == 60  # rule off
    on = ValidityRule(0.75, 0.75, 0.75, zero_flow_invalid=True)
    res = validity.hour_record(cod, H0, H0 + HOUR, 60, on, "cod", stopped)
    assert (res.n_valid, res.flags["zero_flow"], res.sufficient) == (30, 30, False)


def test_per_parameter_settings_override_the_hour_and_day_shares() -> None:
    s = RuleSettings(min_valid_fraction_by_parameter={"cod": 0.5}, day_min_valid_fraction=0.9)
    assert validity.rule_for(s, "cod").hour_fraction == 0.5
    assert validity.rule_for(s, "ph").hour_fraction == 0.75
    assert validity.rule_for(s, "ph").day_fraction == 0.9


@given(st.lists(st.tuples(st.integers(0, 3599), st.floats(-10, 1e4), st.sampled_from("NSDCMFTB"))))
def test_hour_counts_add_up(items: list[tuple[int, float, str]]) -> None:
    samples = [(H0 + timedelta(seconds=s), v, f) for s, v, f in items]
    res = validity.hour_record(samples, H0, H0 + HOUR, 60, RULE, "cod")
    assert res.n_total == len(samples) == sum(n for k, n in res.flags.items() if len(k) == 1)
    valid = [v for _t, v, f in samples if f in "NS" and 0 <= v <= 50_000]
    assert res.n_valid == len(valid) and res.sufficient == (len(valid) >= 45)
    if valid:
        assert res.min is not None and res.max is not None and res.mean is not None
        assert res.min <= res.mean * (1 + 1e-12) + 1e-9 and res.mean <= res.max * (1 + 1e-12) + 1e-9


# --- days and mass -----------------------------------------------------------------------------------
def test_a_day_is_the_mean_of_its_valid_hours_and_valid_at_18_of_24() -> None:
    hours = [part(h, 40.0) for h in range(18)] + [part(18, 400.0, 10, ok=False)]
    res = validity.day_record(hours, D0, D1, 60, RULE, "cod", None, None)
    assert (res.mean, res.parts, res.parts_valid, res.sufficient) == (40.0, 24, 18, True)
    assert (res.n_valid, res.n_total, res.n_expected) == (18 * 60 + 10, 18 * 60 + 10, 1440)
    assert res.max == 40.0  # the invalid hour's values are not the day's extremes
    fewer = validity.day_record(hours[1:], D0, D1, 60, RULE, "cod", None, None)
    assert not fewer.sufficient and fewer.mean == 40.0
    none_valid = validity.day_record([part(3, 30.0, 10, ok=False)], D0, D1, 60, RULE, "cod", None, None)
    assert none_valid.mean == 30.0 and not none_valid.sufficient  # indicative only


def test_discharged_mass_counts_only_hours_valid_for_flow_and_concentration() -> None:
    cod = [part(h, 40.0) for h in range(20)] + [part(20, 90.0, 20, ok=False)]
    flow = {H0 + h * HOUR: 36.0 for h in range(10, 22)}  # the flow meter was down 00:00-10:00
    res = validity.day_record(cod, D0, D1, 60, RULE, "cod", flow, 99.0)
    assert res.mass_kg == pytest.approx(10 * 40 * 36 / 1000)  # hours 10-19: 14.4 kg
    assert res.mass_method is not None and "10 hours valid for both" in res.mass_method
    assert res.cou == 99.0  # the logger's own figure, kept beside ours
    no_meter = validity.day_record(cod, D0, D1, 60, RULE, "cod", None, 99.0)
    assert (no_meter.mass_kg, no_meter.mass_method) == (99.0, validity.day_mass(cod, None, 99.0, "cod")[1])
    assert validity.day_record(cod, D0, D1, 60, RULE, "ph", flow, None).mass_kg is None  # pH has no mass
    assert validity.day_record(cod, D0, D1, 60, RULE, "cod", {}, None).mass_kg is None


def test_flow_weighted_daily_mean() -> None:
    cod = [part(0, 10.0), part(1, 40.0)]
    flow = {H0: 30.0, H0 + HOUR: 10.0}
    weighted = ValidityRule(0.75, 0.05, 0.75, mean="flow_weighted")
    res = validity.day_record(cod, D0, D1, 60, weighted, "cod", flow, None)
    assert res.mean == pytest.approx((10 * 30 + 40 * 10) / 40) and "flow-weighted" in res.rule
    assert validity.day_record(cod, D0, D1, 60, RULE, "cod", flow, None).mean == 25.0


@given(
    st.lists(
        st.tuples(st.floats(0, 1000), st.floats(0, 500), st.booleans(), st.booleans()),
        min_size=1,
        max_size=24,
    )
)
def test_mass_is_the_sum_of_the_hourly_masses_and_never_negative(
    items: list[tuple[float, float, bool, bool]],
) -> None:
    hours = [part(h, c, 60 if ok else 5, ok=ok) for h, (c, _q, ok, _f) in enumerate(items)]
    flow = {H0 + h * HOUR: validity.volume_m3(q, 3600) for h, (_c, q, _ok, f) in enumerate(items) if f}
    mass, _how = validity.day_mass(hours, flow, None, "cod")
    expected = [c * validity.volume_m3(q, 3600) / 1000 for c, q, ok, f in items if ok and f]
    if expected:
        assert mass is not None and mass >= 0 and math.isclose(mass, math.fsum(expected), rel_tol=1e-9)
    else:
        assert mass is None


def test_a_month_sums_its_days_masses_and_is_valid_at_three_quarters_of_its_days() -> None:
    m0, m1, n = rules.local_month_bounds(date(2026, 11, 20), SH)
    assert (m0, m1 - m0, n) == (datetime(2026, 10, 31, 16, tzinfo=UTC), timedelta(days=30), 30)
    days = [
        Part(m0 + timedelta(days=d), 40.0, 40, 40, 1440, 1440, 1440, True, {"N": 1440}, None, 2.0, "flow x c")
        for d in range(22)
    ]
    res = validity.month_record(days, m0, m1, n, RULE, "cod")
    assert (res.parts, res.parts_valid, res.sufficient, res.n_expected) == (30, 22, False, 22 * 1440)
    assert res.mass_kg == pytest.approx(44.0) and res.mass_method == "sum of 22 daily masses (flow x c)"
    assert validity.month_record(days + days[:1], m0, m1, n, RULE, "cod").sufficient  # 23 >= 22.5


# --- KPIs ----------------------------------------------------------------------------------------------
def test_kpis_and_their_warning() -> None:
    k = kpis.kpi(kpis.Counts(received=1300, valid=1170, expected=1440), 0.9)
    assert k.transmission_rate == pytest.approx(1300 / 1440) and k.validity_rate == pytest.approx(0.9)
    assert k.effective_rate == pytest.approx(1170 / 1440) and k.warning
    assert k.below_target == ("effective_rate",)  # 0.9028 and 0.9 are on target
    silent = kpis.kpi(kpis.Counts(0, 0, 1440), 0.9)
    assert (silent.transmission_rate, silent.validity_rate, silent.effective_rate) == (0.0, None, 0.0)
    assert kpis.kpi(kpis.Counts(0, 0, 0), 0.9).effective_rate is None
    assert kpis.kpi(kpis.Counts(2000, 2000, 1440), 0.9).transmission_rate == 1.0  # a fast logger


@given(st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 5000), st.integers(1, 5000)), min_size=1))
def test_kpis_of_a_whole_are_those_of_its_summed_counts(parts: list[tuple[int, int, int]]) -> None:
    counts = [kpis.Counts(r, min(v, r), e) for r, v, e in parts]
    whole = kpis.kpi(kpis.total(counts), 0.9)
    assert whole.expected == sum(e for _r, _v, e in parts)
    assert whole.effective_rate is not None and 0 <= whole.effective_rate <= 1
    if whole.received <= whole.expected and whole.received:
        assert whole.effective_rate == pytest.approx(whole.valid / whole.expected)
    assert whole.warning == (whole.effective_rate < 0.9)


# --- a plant's discharge -------------------------------------------------------------------------------
def test_a_plant_discharges_through_its_final_outlets_not_twice() -> None:
    M = discharge.PointMass
    found = discharge.plant_discharge(
        [
            M("total", "total_outlet", 9, 12.0),
            M("workshop", "workshop_outlet", 9, 5.0),  # drains into the total outlet: not counted
            M("workshop", "workshop_outlet", 18, 0.3),  # nickel is measured only here
            M("inlet", "central_inlet", 9, 50.0),
            M("t2", "total_outlet", 27, 1.0),
            M("t3", "total_outlet", 27, None),
        ]
    )
    by = {d.parameter_id: d for d in found}
    assert (by[9].mass_kg, by[9].points) == (12.0, ("total",))
    assert (by[18].mass_kg, by[18].points) == (0.3, ("workshop",)) and "workshop" in by[18].method
    assert by[27].mass_kg is None and "unknown: 1" in by[27].method
