"""Plant and point status: pure decisions over rows the routes load."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ingest.models import VALID_FLAGS

SEVERITY_RANK = {"warning": 1, "violation": 2, "critical": 3}
# The same threshold the compliance engine uses for the offline rule (k x the expected interval).
WARN_FRACTION = 0.8


def local_day(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The park-local calendar day containing ``now``, as aware datetimes."""
    local = now.astimezone(ZoneInfo(timezone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
    return start, end


def is_online(now: datetime, last_seen: datetime | None, interval_s: int, k: float) -> bool:
    """Online = data within k reporting intervals: the compliance engine's offline rule (``offline_k``)."""
    return last_seen is not None and (now - last_seen).total_seconds() <= k * interval_s


def ratio(value: float | None, upper: float | None) -> float | None:
    if value is None or upper is None or upper <= 0:
        return None
    return value / upper


def level(value: float | None, flag: str | None, upper: float | None, lower: float | None) -> str:
    """How a latest value stands: ok, warning (>= 80 % of the limit), violation, invalid (flag not N/S),
    no_data, no_limit."""
    if value is None or flag is None:
        return "no_data"
    if flag not in VALID_FLAGS:
        return "invalid"
    if upper is None and lower is None:
        return "no_limit"
    if (upper is not None and value > upper) or (lower is not None and value < lower):
        return "violation"
    two_sided = lower is not None
    if upper is not None and not two_sided and upper > 0 and value >= WARN_FRACTION * upper:
        return "warning"
    return "ok"


def expected_count(start: datetime, now: datetime, interval_s: int) -> int:
    return max(0, int((now - start).total_seconds() // interval_s))


def valid_rate(valid: int, expected: int) -> float | None:
    """Valid values over expected ones, capped at 1 (a logger may report faster than declared)."""
    if expected <= 0:
        return None
    return min(1.0, valid / expected)


def worst(severities: Iterable[str]) -> str | None:
    best: str | None = None
    for s in severities:
        if best is None or SEVERITY_RANK.get(s, 0) > SEVERITY_RANK.get(best, 0):
            best = s
    return best


def reuse_ratio(reuse: float | None, outflow: float | None) -> float | None:
    """Reuse volume / (reuse + discharge), from mean flows over the same period."""
    if reuse is None or outflow is None or reuse + outflow <= 0:
        return None
    return reuse / (reuse + outflow)
