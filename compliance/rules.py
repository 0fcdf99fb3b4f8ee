"""The rules: pure functions of typed inputs. Callers load the data and write the outcome.

Only N and S values are valid (HJ 212-2017 §6.3.3 Table 8 data flags); M and C (maintenance, calibration) and
the fault flags never count as breaches. Values outside the parameter's physically plausible range are
suspect and never judged against a limit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from compliance.models import (
    FLATLINE,
    ZERO_VALUE,
    Limit,
    MaintenanceBounds,
    MaintenanceSpan,
    Severity,
    WindowResult,
)
from ingest.core.models import VALID_FLAGS
from ingest.core.parameters import BY_CODE

if TYPE_CHECKING:
    from compliance.settings import RuleSettings

# 法释〔2023〕7号 Art. 1: >= 3x the standard for these is "serious environmental pollution" ...
CRIMINAL_3X = frozenset({"pb", "hg", "cd", "cr_total", "cr6", "as", "tl", "sb"})
# ... and >= 10x for these (V has no parameter in the catalogue).
CRIMINAL_10X = frozenset({"ni", "cu", "zn", "ag", "mn", "co"})
HEAVY_METALS = CRIMINAL_3X | CRIMINAL_10X
FAULT_FLAGS = frozenset("DBF")


@dataclass(frozen=True)
class Policy:
    warn_fraction: float = 0.8
    clear_fraction: float = 0.9
    clear_hold_s: float = 300.0


def policy(settings: RuleSettings) -> Policy:
    """The warning, clearing and hold levels the rule settings set."""
    return Policy(settings.warn_fraction, settings.clear_fraction, settings.clear_hold_s)


def is_valid(flag: str) -> bool:
    return flag in VALID_FLAGS


def is_plausible(code: str, value: float) -> bool:
    p = BY_CODE[code]
    return math.isfinite(value) and p.plausible_min <= value <= p.plausible_max


def critical_multiple(code: str) -> float | None:
    if code in CRIMINAL_3X:
        return 3.0
    if code in CRIMINAL_10X:
        return 10.0
    return None


def severity(code: str, value: float, limit: Limit, policy: Policy) -> Severity | None:
    """The severity tier of one valid value, or None when it is below the warning level."""
    if limit.lower is not None and value < limit.lower:
        return "violation"
    if limit.upper is None:
        return None
    if limit.not_detected or limit.upper <= 0:
        return "violation" if value > limit.upper else None
    multiple = critical_multiple(code)
    # relative tolerance: 3 x 0.2 is 0.6000000000000001 in floating point, and 0.6 is 3x the limit
    if multiple is not None and value >= multiple * limit.upper * (1 - 1e-9):
        return "critical"
    if value > limit.upper:
        return "violation"
    # Two-sided ranges (pH) have no "approaching" tier: 8.5 is as normal as 7.5.
    if limit.lower is None and value >= policy.warn_fraction * limit.upper:
        return "warning"
    return None


ValueLevel = Literal["invalid", "implausible", "no_limit", "ok", "warning", "violation", "critical"]


def value_level(code: str, value: float, flag: str, limit: Limit | None, policy: Policy) -> ValueLevel:
    """How the real-time rules take one value: not valid for compliance (flag other than N/S),
    implausible (never judged against a limit), no limit to judge it by, or its severity tier."""
    if not is_valid(flag):
        return "invalid"
    if not is_plausible(code, value):
        return "implausible"
    if limit is None or (limit.upper is None and limit.lower is None):
        return "no_limit"
    return severity(code, value, limit, policy) or "ok"


def breach_side(value: float, limit: Limit) -> str | None:
    """Which bound a value breaks: "lower", "upper" or None (within the range)."""
    if limit.lower is not None and value < limit.lower:
        return "lower"
    if limit.upper is not None and value > limit.upper:
        return "upper"
    return None


def switches_side(peak: float | None, value: float, limit: Limit) -> bool:
    """True when ``value`` breaks the other bound of a two-sided range than the alert's peak did."""
    if peak is None or limit.lower is None or limit.upper is None:
        return False
    before, now = breach_side(peak, limit), breach_side(value, limit)
    return before is not None and now is not None and before != now


def is_clear(value: float, limit: Limit, alert_severity: Severity, policy: Policy) -> bool:
    """Hysteresis: below the clear level, which sits under the level that opened the alert."""
    if limit.lower is not None:
        span = (limit.upper - limit.lower) if limit.upper is not None else limit.lower
        margin = (1 - policy.clear_fraction) * span
        if value < limit.lower + margin:
            return False
        return limit.upper is None or value <= limit.upper - margin
    if limit.upper is None:
        return True
    if limit.not_detected or limit.upper <= 0:
        return value <= limit.upper
    level = limit.upper * (policy.warn_fraction if alert_severity == "warning" else 1.0)
    return value < policy.clear_fraction * level


# --- means on the park-local calendar ---------------------------------------------------------------
def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC start and end of a park-local calendar day (23 or 25 h long across a DST change)."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_month_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime, int]:
    """UTC start and end of the park-local calendar month containing ``day``, and its number of days."""
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return local_day_bounds(first, tz)[0], local_day_bounds(nxt, tz)[0], (nxt - first).days


def local_day_of(t: datetime, tz: ZoneInfo) -> date:
    return t.astimezone(tz).date()


def local_hour_bounds(t: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The park-local calendar hour containing ``t``, in UTC (correct for half-hour zones too)."""
    local = t.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    start = local.astimezone(UTC)
    return start, start + timedelta(hours=1)


def window_mean(
    samples: Iterable[tuple[datetime, float, str]],
    start: datetime,
    end: datetime,
    interval_s: int,
    min_valid_fraction: float,
    code: str | None = None,
) -> WindowResult:
    """Mean of the valid (and plausible) values in [start, end); sufficient when at least
    ``min_valid_fraction`` of the expected values are valid."""
    values = [
        v
        for t, v, flag in samples
        if start <= t < end and is_valid(flag) and (code is None or is_plausible(code, v))
    ]
    expected = max(1, round((end - start).total_seconds() / interval_s))
    n = len(values)
    mean = math.fsum(values) / n if n else None
    return WindowResult(start, end, mean, n, expected, is_sufficient(n, expected, min_valid_fraction))


def is_sufficient(n_valid: int, n_expected: int, min_valid_fraction: float) -> bool:
    """Enough valid values for a mean to judge by: at least the configured share of those expected."""
    return n_valid > 0 and n_valid >= min_valid_fraction * n_expected


# --- data truth --------------------------------------------------------------------------------------
def is_offline(now: datetime, last_seen: datetime | None, interval_s: int, k: float) -> bool:
    return last_seen is None or (now - last_seen).total_seconds() > k * interval_s


def fault_held(run_start: datetime, latest: datetime, hold_s: float) -> bool:
    """A D/B/F flag run that has lasted at least ``hold_s`` (run_start = first flagged value)."""
    return (latest - run_start).total_seconds() >= hold_s


def status_flags(code: str) -> frozenset[str]:
    """Flags that mean 'instrument not measuring' for this parameter. T on a heavy metal is not here:
    it is an over-range alert of its own, since the true value is at least the range ceiling."""
    return FAULT_FLAGS if code in HEAVY_METALS else FAULT_FLAGS | {"T"}


@dataclass(frozen=True)
class Run:
    """A run of identical consecutive valid values of one series, in data time. ``next_time`` is the
    first later valid reading (a different value): the run is over. None while it may still go on."""

    start: datetime
    end: datetime
    value: float
    count: int
    next_time: datetime | None = None

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def value_runs(series: Sequence[tuple[datetime, float]]) -> list[Run]:
    """Run-length encoding of a series in time order: each run of identical consecutive values."""
    runs: list[Run] = []
    for t, v in sorted(series):
        last = runs[-1] if runs else None
        if last is not None and last.value == v:
            runs[-1] = Run(last.start, t, v, last.count + 1)
        else:
            if last is not None:
                runs[-1] = Run(last.start, last.end, last.value, last.count, t)
            runs.append(Run(t, t, v, 1))
    return runs


def is_flat(run: Run, min_duration_s: float, min_count: int) -> bool:
    """Constant values (恒值), a stuck sensor or falsified data: the same value for at least
    ``min_duration_s`` over at least ``min_count`` readings. Runs of exact zero are the zero-value
    rule's (``is_zero_run``): a plant that is not discharging reports flow 0 all night."""
    return run.value != 0 and run.count >= min_count and run.duration_s >= min_duration_s


def is_zero_run(run: Run, code: str, min_duration_s: float, min_count: int, exempt: Collection[str]) -> bool:
    """Zero values (零值): a parameter held at exactly zero for at least ``min_duration_s`` over at least
    ``min_count`` readings, where zero is neither normal (``exempt``: flow, temperature) nor
    implausible (pH 0 is the implausible rule's). A COD of 0 mg/L is a dry cell, a switched-off
    analyser or a plant that stopped; the operator is asked which."""
    return (
        run.value == 0
        and code not in exempt
        and is_plausible(code, 0.0)
        and run.count >= min_count
        and run.duration_s >= min_duration_s
    )


def constant_run_kind(run: Run, code: str, settings: RuleSettings) -> str | None:
    """The one rule over runs of identical valid values (constant values, generalised): a non-zero run
    held ``flatline_s`` is a flatline, a zero run held ``zero_s`` is zero values, else None."""
    if is_flat(run, settings.flatline_s, settings.flatline_min_count):
        return FLATLINE
    if is_zero_run(run, code, settings.zero_s, settings.zero_min_count, settings.zero_exempt):
        return ZERO_VALUE
    return None


def min_run_count(settings: RuleSettings) -> int:
    """The fewest readings a run needs for ``constant_run_kind`` to name it (a store-side prefilter)."""
    return min(settings.flatline_min_count, settings.zero_min_count)


def flatline(series: Sequence[tuple[datetime, float]], min_duration_s: float, min_count: int) -> Run | None:
    """The latest run of identical values if it is flat (see ``is_flat``), else None."""
    runs = value_runs(series)
    return runs[-1] if runs and is_flat(runs[-1], min_duration_s, min_count) else None


def offline_gaps(
    consecutive: Iterable[tuple[datetime, datetime]], interval_s: int, k: float
) -> list[tuple[datetime, datetime]]:
    """Offline episodes in data time: of pairs of consecutive readings of a point (last reading
    before, first reading after), those further apart than k x its interval (as ``is_offline``)."""
    return [(t0, t1) for t0, t1 in consecutive if is_offline(t1, t0, interval_s, k)]


def rate_of_change(
    series: Sequence[tuple[datetime, float]], max_step: float, max_gap_s: float
) -> tuple[datetime, float] | None:
    """The largest jump between consecutive values at most ``max_gap_s`` apart if it exceeds
    ``max_step``; None otherwise."""
    worst: tuple[datetime, float] | None = None
    ordered = sorted(series)
    for (t0, v0), (t1, v1) in itertools.pairwise(ordered):
        step = abs(v1 - v0)
        if (t1 - t0).total_seconds() <= max_gap_s and step > max_step and (worst is None or step > worst[1]):
            worst = (t1, step)
    return worst


# --- abnormal data (异常数据) ------------------------------------------------------------------------
def is_negative(code: str, value: float) -> bool:
    """Negative values (负值): a value below zero for a parameter whose physical floor is zero (every
    concentration, flow; not temperature). Never judged against a limit, like an implausible value,
    but its own rule: analysers drift below zero near their detection limit, and the operator is
    asked to explain or recalibrate."""
    return math.isfinite(value) and value < 0 and BY_CODE[code].plausible_min >= 0


@dataclass(frozen=True)
class NearLimitDay:
    """Discharge held just under the limit (贴限排放) over one park-local day, from its hourly means."""

    near: int  # judged hours whose valid mean lay in [fraction x limit, limit]
    judged: int  # hours with a sufficient valid mean against an upper limit
    held: bool


def near_limit_day(
    hours: Iterable[tuple[float, float]], fraction: float, share: float, min_hours: int
) -> NearLimitDay:
    """``hours``: (valid mean, upper limit) of each hour of the day judged against an upper limit. Held
    when at least ``min_hours`` were judged and at least ``share`` of them were between ``fraction`` of
    their limit and the limit (an hour over its limit is a breach, not near it)."""
    judged = [(m, u) for m, u in hours if u > 0 and math.isfinite(m)]
    near = sum(1 for m, u in judged if fraction * u <= m <= u)
    held = len(judged) >= min_hours and near >= share * len(judged)
    return NearLimitDay(near, len(judged), held)


# --- park water balance -----------------------------------------------------------------------------
def volume_m3(mean_flow_lps: float, seconds: float) -> float:
    return mean_flow_lps * seconds / 1000.0


def reuse_ratio(reuse_m3: float, discharge_m3: float) -> float | None:
    total = reuse_m3 + discharge_m3
    return reuse_m3 / total if total > 0 else None


def park_reuse_ratio(reuse_m3: Sequence[float | None], discharge_m3: Sequence[float | None]) -> float | None:
    """The park's reuse ratio over all its reuse and central outlets; None unless every volume is known."""
    volumes = [*reuse_m3, *discharge_m3]
    if not reuse_m3 or not discharge_m3 or any(v is None for v in volumes):
        return None
    return reuse_ratio(math.fsum(v or 0.0 for v in reuse_m3), math.fsum(v or 0.0 for v in discharge_m3))


def mass_balance_gap(plants_m3: float, inlet_m3: float) -> float | None:
    """Relative gap between what the plants discharged and what reached the central plant; a large
    positive gap is water that went somewhere else (bypass, leak)."""
    return (plants_m3 - inlet_m3) / inlet_m3 if inlet_m3 > 0 else None


# --- maintenance windows ----------------------------------------------------------------------------
# A window silences a point's non-critical alerts for data timed inside it. It is bounded because an
# operator could otherwise silence their own plant indefinitely, or backwards over a breach already
# sent: the MEE marking rules (公告2022年第21号) let the enterprise mark data ahead or afterwards within
# a correction period and let officers reject a mark; local rules want a broken monitor back within
# 12 h to 5 working days (Chongqing 2020 draft, Shaanxi 48 h, Bengbu 24 h). See MaintenanceSettings.


def hours_text(d: timedelta) -> str:
    """An interval in hours, as the refusals word it ("72 h", "1.50 h"; migration 030 says the same)."""
    h = d.total_seconds() / 3600
    return f"{h:.0f} h" if h == int(h) else f"{h:.2f} h"


def maintenance_refusal(start: datetime, end: datetime, now: datetime, b: MaintenanceBounds) -> str | None:
    """Why a window [start, end) declared at ``now`` is refused, or None when it is acceptable. The
    database refuses the same (migration 030's trigger, on the same bounds)."""
    if end <= start:
        return "a maintenance window must end after it starts"
    if end - start > b.max_length:
        longest, this = hours_text(b.max_length), hours_text(end - start)
        return f"a maintenance window may last at most {longest} (this one: {this})"
    if start < now - b.max_backdate:
        return f"a maintenance window may start at most {hours_text(b.max_backdate)} before now"
    if start > now + b.max_lead:
        return f"a maintenance window may start at most {hours_text(b.max_lead)} ahead"
    return None


def needs_approval(start: datetime, end: datetime, b: MaintenanceBounds) -> bool:
    """A window longer than the approval threshold silences nothing until an officer approves it."""
    return end - start > b.approval_over


def window_at(t: datetime, spans: Sequence[MaintenanceSpan]) -> MaintenanceSpan | None:
    """The approved window covering data time ``t``, if any."""
    return next((w for w in spans if w.start <= t < w.end), None)


def silenced_by_maintenance(severity: Severity | None) -> bool:
    """Criticals (the criminal thresholds) are never silenced by a maintenance window."""
    return severity != "critical"
