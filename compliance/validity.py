"""The legal record's rules: which hourly, daily and monthly means are valid, what they stand on, and the
water volume and discharged mass behind them. Pure: rows in, ``WindowResult`` out; windows.py stores them.

What the sources say, and what is a setting (``RuleSettings``):
- A value is valid when its HJ 212 flag is N or S and it is physically plausible (rules.py); HJ 212-2017
  Table 8 defines the flags. Values read while the point's flow is 0 are invalid in HJ/T 356-2007 practice
  (a 2018 review of it, handmsg.com/page/2018/0910/10682917.shtml): ``zero_flow_invalid``, off by default.
- Hours are made of the values in them, days of their hourly means, months of their daily means: the
  arithmetic chain of HJ 212-2017 Annex D.1, which also gives the flow-weighted mean (C = 1000 G / D):
  ``concentration_mean``.
- How many valid values make a valid hour, valid hours a valid day and valid days a valid month is
  HJ 356-2019 chapter 7 ("calculation of the effective mean value"; its scope is COD, NH3-N, TP, TN, pH,
  temperature and flow: chinesestandard.net/PDF.aspx/HJ356-2019, m.lab216.com/news/show-4775.html). Its
  text could not be read, so the shares are settings (default 75 %, per parameter where they differ).
  Not HJ 75-2017's flue-gas 45 minutes / 18 hours.
- Volume ΔD (m³) = Q (L/s) × T (s) / 1000 and mass ΔG (kg) = ΔD × C (mg/L) / 1000, summed over the
  interval (HJ 212-2017 Annex D.1). Only hours valid for both flow and concentration count; where a point
  has no flow meter the logger's own HJ 212 ``Cou`` totals (hourly records, valid flags) are the mass.

A day or month that is not valid still carries the mean of what valid data it has (for charts); only
``sufficient`` makes it a valid mean, and only a valid mean is judged against a limit.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from compliance import rules
from compliance.models import WindowResult
from compliance.settings import RuleSettings
from ingest.core.parameters import BY_CODE

FLOW = "flow"
MASS_UNIT = "mg/L"  # parameters whose mass is discharged (mg/L x m3 / 1000 = kg)
Mean = Literal["arithmetic", "flow_weighted"]


@dataclass(frozen=True)
class ValidityRule:
    """The shares a parameter's hours, days and months are judged valid by."""

    hour_fraction: float
    day_fraction: float
    month_fraction: float
    mean: Mean = "arithmetic"
    zero_flow_invalid: bool = False


def rule_for(settings: RuleSettings, code: str) -> ValidityRule:
    """The rule for one parameter: the settings, with its per-parameter overrides."""
    return ValidityRule(
        settings.min_valid_fraction_by_parameter.get(code, settings.min_valid_fraction),
        settings.day_min_valid_fraction_by_parameter.get(code, settings.day_min_valid_fraction),
        settings.month_min_valid_fraction,
        settings.concentration_mean,
        settings.zero_flow_invalid,
    )


def has_mass(code: str) -> bool:
    """A pollutant whose discharged mass is counted (a concentration in mg/L)."""
    return code in BY_CODE and BY_CODE[code].unit == MASS_UNIT


def enough(n_valid: int, n_expected: int, fraction: float) -> bool:
    return n_valid > 0 and n_valid >= fraction * n_expected


def volume_m3(mean_lps: float, seconds: float) -> float:
    """HJ 212-2017 Annex D.1: ΔD (m³) = Q (L/s) × T (s) / 1000."""
    return mean_lps * seconds / 1000.0


def mass_kg(concentration_mgl: float, volume: float) -> float:
    """HJ 212-2017 Annex D.1: ΔG (kg) = ΔD (m³) × C (mg/L) / 1000."""
    return volume * concentration_mgl / 1000.0


# --- hours ------------------------------------------------------------------------------------------
def hour_record(
    samples: Iterable[tuple[datetime, float, str]],
    start: datetime,
    end: datetime,
    interval_s: int,
    rule: ValidityRule,
    code: str,
    zero_flow: Collection[datetime] = (),
) -> WindowResult:
    """One park-local hour of a series from its readings; ``zero_flow``: times the point's flow was 0."""
    flags: Counter[str] = Counter()
    values: list[float] = []
    received = 0
    for t, v, flag in samples:
        if not start <= t < end:
            continue
        received += 1
        flags[flag] += 1
        if not rules.is_valid(flag):
            continue
        if not rules.is_plausible(code, v):
            flags["implausible"] += 1
        elif rule.zero_flow_invalid and code != FLOW and t in zero_flow:
            flags["zero_flow"] += 1
        else:
            values.append(v)
    expected = max(1, round((end - start).total_seconds() / interval_s))
    n = len(values)
    mean = math.fsum(values) / n if n else None
    ok = enough(n, expected, rule.hour_fraction)
    at_zero = "; not read at zero flow" if rule.zero_flow_invalid and code != FLOW else ""
    return WindowResult(
        start,
        end,
        mean,
        n,
        expected,
        ok,
        n_total=received,
        min=min(values) if values else None,
        max=max(values) if values else None,
        flags=dict(flags),
        rule=f"valid hour: >= {rule.hour_fraction:g} x {expected} expected values valid (flags N, S;"
        f" plausible{at_zero}; interval {interval_s} s)",
        volume_m3=volume_m3(mean, (end - start).total_seconds())
        if code == FLOW and ok and mean is not None
        else None,
    )


# --- days and months ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """A stored hour (of a day) or day (of a month), as the longer window is made of it."""

    start: datetime
    mean: float | None
    min: float | None
    max: float | None
    n_valid: int
    n_total: int
    n_expected: int
    sufficient: bool
    flags: dict[str, int]
    volume_m3: float | None = None
    mass_kg: float | None = None
    mass_method: str | None = None
    cou: float | None = None


def _mean(parts: Sequence[Part], weights: Mapping[datetime, float] | None) -> tuple[float | None, bool]:
    """Arithmetic mean of the parts' means, or weighted by volume when every part has one; and whether
    it was weighted."""
    means = [(p.start, p.mean) for p in parts if p.mean is not None]
    if not means:
        return None, False
    if weights is not None and all(weights.get(t, 0) > 0 for t, _m in means):
        total = math.fsum(weights[t] for t, _m in means)
        return math.fsum(m * weights[t] for t, m in means) / total, True
    return math.fsum(m for _t, m in means) / len(means), False


def running_mean(hours: Iterable[tuple[float | None, bool]]) -> float | None:
    """The mean of a day so far from its closed hours' (mean, valid): of the valid hours' means, or of
    every hourly mean when none is valid yet (as ``combine`` takes a day)."""
    pairs = [(m, ok) for m, ok in hours if m is not None]
    base = [m for m, ok in pairs if ok] or [m for m, _ok in pairs]
    return math.fsum(base) / len(base) if base else None


def combine(
    parts: Sequence[Part],
    start: datetime,
    end: datetime,
    n_parts: int,
    fraction: float,
    rule: ValidityRule,
    code: str,
    part: Literal["hour", "day"],
    weights: Mapping[datetime, float] | None = None,
) -> WindowResult:
    """A day of its hours or a month of its days: valid when at least ``fraction`` of ``n_parts`` are
    valid; the mean of the valid parts' means (of every part with a mean when none is valid)."""
    valid = [p for p in parts if p.sufficient]
    base = valid or [p for p in parts if p.n_valid > 0]
    wanted = rule.mean == "flow_weighted" and has_mass(code) and weights is not None
    mean, flow_weighted = _mean(base, weights if wanted else None)
    flags: Counter[str] = Counter()
    for p in parts:
        flags.update(p.flags)
    lows = [p.min for p in base if p.min is not None]
    highs = [p.max for p in base if p.max is not None]
    volumes = [p.volume_m3 for p in valid if p.volume_m3 is not None]
    cous = [p.cou for p in parts if p.cou is not None]
    how = "flow-weighted" if flow_weighted else "arithmetic"  # arithmetic where a volume is missing
    return WindowResult(
        start,
        end,
        mean,
        sum(p.n_valid for p in parts),
        sum(p.n_expected for p in parts),
        len(valid) > 0 and len(valid) >= fraction * n_parts,
        n_total=sum(p.n_total for p in parts),
        min=min(lows) if lows else None,
        max=max(highs) if highs else None,
        flags=dict(flags),
        rule=f"valid {'day' if part == 'hour' else 'month'}: >= {fraction:g} x {n_parts} {part}s valid;"
        f" mean: {how} of the valid {part}ly means",
        parts=n_parts,
        parts_valid=len(valid),
        volume_m3=math.fsum(volumes) if code == FLOW and volumes else None,
        cou=math.fsum(cous) if cous else None,
    )


def day_record(
    hours: Sequence[Part],
    start: datetime,
    end: datetime,
    interval_s: int,
    rule: ValidityRule,
    code: str,
    flow_hours: Mapping[datetime, float] | None,
    cou: float | None,
) -> WindowResult:
    """A park-local day of a series from its stored hours. ``flow_hours``: the volume (m³) of each valid
    flow hour of the point (None: the point measures no flow); ``cou``: the logger's Cou total."""
    n_hours = round((end - start).total_seconds() / 3600)
    res = combine(hours, start, end, n_hours, rule.day_fraction, rule, code, "hour", flow_hours)
    expected = max(1, round((end - start).total_seconds() / interval_s))  # silent hours count too
    mass, method = day_mass(hours, flow_hours, cou, code)
    return replace(res, n_expected=expected, mass_kg=mass, mass_method=method, cou=cou)


def day_mass(
    hours: Sequence[Part], flow_hours: Mapping[datetime, float] | None, cou: float | None, code: str
) -> tuple[float | None, str | None]:
    """The discharged mass of a day and how it was obtained (None, None for what has no mass)."""
    if not has_mass(code):
        return None, None
    if flow_hours is not None:
        pairs = [(h.mean, flow_hours[h.start]) for h in hours if h.sufficient and h.start in flow_hours]
        both = [(c, v) for c, v in pairs if c is not None]
        if not both:
            return None, "flow x concentration: no hour valid for both"
        total = math.fsum(mass_kg(c, v) for c, v in both)
        return total, (
            f"flow x concentration over the {len(both)} hours valid for both: hourly valid mean (mg/L)"
            " x hourly volume (m3) / 1000 (HJ 212-2017 Annex D.1)"
        )
    if cou is not None:
        return cou, "HJ 212 Cou: the data logger's hourly totals (records flagged N or S)"
    return None, "no flow measured and no HJ 212 Cou sent"


def month_record(
    days: Sequence[Part],
    start: datetime,
    end: datetime,
    n_days: int,
    rule: ValidityRule,
    code: str,
    flow_days: Mapping[datetime, float] | None = None,
) -> WindowResult:
    """A park-local month of a series from its stored days (those closed so far); ``flow_days``: the
    volume (m³) of each day of the point's flow, for a flow-weighted mean."""
    res = combine(days, start, end, n_days, rule.month_fraction, rule, code, "day", flow_days)
    masses = [d for d in days if d.mass_kg is not None]
    if not has_mass(code):
        return res
    if not masses:
        return replace(res, mass_method="no day with a discharged mass")
    methods = sorted({(d.mass_method or "").split(":")[0] for d in masses})
    how = f"sum of {len(masses)} daily masses ({'; '.join(methods)})"
    return replace(res, mass_kg=math.fsum(d.mass_kg or 0.0 for d in masses), mass_method=how)
