"""Plant and point status: pure presentation over rows the routes load. Every judgement (validity,
plausibility, severity tiers, offline, the severity ranking, the reuse ratio) is compliance's: this
module only calls its pure functions, so the dashboard never disagrees with the alerts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal, cast
from zoneinfo import ZoneInfo

from compliance import rules
from compliance.models import SEVERITY_RANK, Limit, Severity
from ingest.core import parameters

Level = Literal[rules.ValueLevel, "no_data"]


def local_day(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The park-local calendar day containing ``now`` (UTC bounds, compliance's calendar)."""
    tz = ZoneInfo(timezone)
    return rules.local_day_bounds(rules.local_day_of(now, tz), tz)


def is_online(now: datetime, last_seen: datetime | None, interval_s: int, k: float) -> bool:
    return not rules.is_offline(now, last_seen, interval_s, k)


def ratio(value: float | None, upper: float | None) -> float | None:
    if value is None or upper is None or upper <= 0:
        return None
    return value / upper


def level(
    parameter_id: int, value: float | None, flag: str | None, limit: Limit | None, policy: rules.Policy
) -> Level:
    """How a latest value stands, as the real-time rules take it: no_data, invalid, implausible,
    no_limit, ok, or its severity tier (warning, violation, critical)."""
    if value is None or flag is None:
        return "no_data"
    return rules.value_level(parameters.BY_ID[parameter_id].code, value, flag, limit, policy)


def expected_count(start: datetime, now: datetime, interval_s: int) -> int:
    return max(0, int((now - start).total_seconds() // interval_s))


def valid_rate(valid: int, expected: int) -> float | None:
    """Valid values over expected ones, capped at 1 (a logger may report faster than declared)."""
    if expected <= 0:
        return None
    return min(1.0, valid / expected)


def worst(severities: Iterable[str]) -> Severity | None:
    """The highest severity by compliance's ranking."""
    ranked = [s for s in severities if s in SEVERITY_RANK]
    return cast(Severity, max(ranked, key=SEVERITY_RANK.__getitem__)) if ranked else None


def reuse_ratio(
    reuse_means: Sequence[float | None], discharge_means: Sequence[float | None], seconds: float
) -> float | None:
    """The central plant's reuse ratio from mean flows (L/s) over one period, by compliance's rule."""

    def volumes(means: Sequence[float | None]) -> list[float | None]:
        return [None if m is None else rules.volume_m3(m, seconds) for m in means]

    return rules.park_reuse_ratio(volumes(reuse_means), volumes(discharge_means))
