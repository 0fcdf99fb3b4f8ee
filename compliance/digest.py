"""A chat robot's rate limit, and digests when a burst exceeds it: nothing is dropped. Pure.

Every robot throttles (WeCom and DingTalk 20 messages a minute, Feishu 100 a minute and 5 a second;
compliance/robots.py), and DingTalk itself advises merging a burst of system alarms into a markdown
digest. So each robot subscription may send at most ``per_window`` requests in any ``window`` (and
``per_second`` in any second), set below the vendor's figure. Its waiting deliveries (one per plant
group, compliance/notify.py) go as they are while they fit in the free slots; when more wait than
slots are free, or one is too long for the robot, all waiting alert changes are re-cut, in order,
into as few messages as the robot's size limit allows (digests). Those beyond the free slots wait for
the next slot, and are re-cut again with whatever arrives meanwhile. An alert change is never dropped
and is in exactly one delivered message (tests/compliance/test_digest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Limit:
    per_window: int
    window: timedelta
    per_second: int


def slots(sent: Sequence[datetime], now: datetime, limit: Limit) -> int:
    """How many requests may go now, given the times of those already sent (all of them count: the
    vendor counts requests, refused ones included)."""
    in_window = sum(1 for t in sent if now - limit.window < t <= now)
    in_second = sum(1 for t in sent if now - SECOND < t <= now)
    return max(0, min(limit.per_window - in_window, limit.per_second - in_second))


@dataclass(frozen=True)
class Waiting(Generic[T]):
    """A delivery waiting for its robot: its id and its alert changes, in order."""

    id: int
    items: tuple[T, ...]


@dataclass(frozen=True)
class Plan(Generic[T]):
    """``recut`` None: send the first ``send`` waiting deliveries as they are. Otherwise the waiting
    deliveries are replaced by the messages in ``recut`` (every alert change once, in order), of which
    the first ``send`` go now."""

    recut: tuple[tuple[T, ...], ...] | None
    send: int


def plan(waiting: Sequence[Waiting[T]], free: int, fits: Callable[[Sequence[T]], bool]) -> Plan[T]:
    """What to send now with ``free`` slots (> 0). ``fits(items)``: whether one message may hold them;
    a single item always goes, whatever its size (nothing is dropped)."""
    if len(waiting) <= free and all(fits(w.items) for w in waiting):
        return Plan(None, len(waiting))
    messages = pack([item for w in waiting for item in w.items], fits)
    return Plan(messages, min(free, len(messages)))


def pack(items: Sequence[T], fits: Callable[[Sequence[T]], bool]) -> tuple[tuple[T, ...], ...]:
    """``items`` in order, cut into messages that each fit (greedy: a message takes items while the
    next one still fits)."""
    out: list[tuple[T, ...]] = []
    current: list[T] = []
    for item in items:
        if current and not fits([*current, item]):
            out.append(tuple(current))
            current = []
        current.append(item)
    if current:
        out.append(tuple(current))
    return tuple(out)
