"""A chat robot's rate limit and digests (compliance/digest.py), pure, by property: whatever arrives,
whenever, with whatever send failures, every alert change ends up in exactly one delivered message,
no window and no second ever carries more requests than the limit allows, and every message fits the
robot's size unless it is a single change.

The model below does with a list what compliance/robotdelivery.py does with notify_deliveries rows:
due rows of one robot, ``slots`` from the requests already sent, ``plan``, re-cut rows superseded,
the first ``send`` claimed (each claim one request), a failure retried after a backoff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance import digest

T0 = datetime(2026, 11, 29, tzinfo=UTC)


@dataclass
class Row:
    id: int
    items: tuple[tuple[int, int], ...]  # (change id, size in bytes)
    due: datetime
    superseded: bool = False
    delivered: bool = False


@dataclass
class Robot:
    limit: digest.Limit
    max_bytes: int
    rows: list[Row] = field(default_factory=list)
    sent: list[datetime] = field(default_factory=list)
    delivered: list[tuple[tuple[int, int], ...]] = field(default_factory=list)
    next_id: int = 1

    def fits(self, items: Sequence[tuple[int, int]]) -> bool:
        return 100 + sum(size for _c, size in items) <= self.max_bytes

    def add(self, items: tuple[tuple[int, int], ...], at: datetime) -> None:
        self.rows.append(Row(self.next_id, items, at))
        self.next_id += 1

    def tick(self, at: datetime, fail: list[bool]) -> None:
        waiting = [r for r in self.rows if not (r.superseded or r.delivered) and r.due <= at]
        free = digest.slots(self.sent, at, self.limit)
        if free <= 0 or not waiting:
            return
        plan = digest.plan([digest.Waiting(r.id, r.items) for r in waiting], free, self.fits)
        send = waiting[: plan.send]
        if plan.recut is not None:
            for r in waiting:
                r.superseded = True
            start = len(self.rows)
            for items in plan.recut:
                self.add(items, at)
            send = self.rows[start : start + plan.send]
        for r in send:
            self.sent.append(at)
            if fail and fail.pop():
                r.due = at + timedelta(seconds=5)  # retried after a backoff
                continue
            r.delivered = True
            self.delivered.append(r.items)


ITEMS = st.lists(st.integers(10, 900), min_size=1, max_size=6)  # a delivery's changes, by size


@settings(max_examples=300, deadline=None)
@given(
    arrivals=st.lists(st.tuples(st.floats(0, 120), ITEMS), min_size=1, max_size=60),
    per_window=st.integers(1, 20),
    window_s=st.sampled_from([5, 10, 60]),
    per_second=st.integers(1, 5),
    max_bytes=st.integers(1000, 4000),
    fail=st.lists(st.booleans(), max_size=40),
    step=st.floats(0.1, 3.0),
)
def test_every_change_is_delivered_once_within_the_rate_limit(
    arrivals: list[tuple[float, list[int]]],
    per_window: int,
    window_s: int,
    per_second: int,
    max_bytes: int,
    fail: list[bool],
    step: float,
) -> None:
    limit = digest.Limit(per_window, timedelta(seconds=window_s), per_second)
    robot = Robot(limit, max_bytes)
    pending = sorted(arrivals)
    change = 0
    expected: list[int] = []
    fail = list(fail)  # consumed as sends fail: never the example's own list (hypothesis replays it)
    t = 0.0
    # until every burst has drained: at worst one change per request, one request per window, and each
    # failure costs a request and a back-off
    n_changes = sum(len(sizes) for _at, sizes in arrivals)
    horizon = 120 + (n_changes + len(fail) + 2) * (window_s + 5)
    while t < horizon and (pending or any(not (r.superseded or r.delivered) for r in robot.rows)):
        while pending and pending[0][0] <= t:
            _at, sizes = pending.pop(0)
            items = []
            for size in sizes:
                change += 1
                items.append((change, size))
                expected.append(change)
            robot.add(tuple(items), T0 + timedelta(seconds=t))
        robot.tick(T0 + timedelta(seconds=t), fail)
        t += step
    got = [c for message in robot.delivered for c, _size in message]
    assert sorted(got) == expected  # every change, each in exactly one delivered message
    for message in robot.delivered:
        assert len(message) == 1 or robot.fits(message)
    for i, sent in enumerate(robot.sent):  # never more than the limit in any window or second
        assert sum(1 for s in robot.sent[i:] if s < sent + limit.window) <= per_window
        assert sum(1 for s in robot.sent[i:] if s < sent + digest.SECOND) <= per_second


def test_a_burst_beyond_the_free_slots_goes_as_one_digest() -> None:
    limit = digest.Limit(3, timedelta(seconds=60), 5)
    robot = Robot(limit, 4000)
    robot.add(((1, 200),), T0)
    robot.tick(T0, [])
    for plant in range(5):  # five plants' groups at once, two slots left
        robot.add(((10 + plant, 200),), T0 + timedelta(seconds=1))
    robot.tick(T0 + timedelta(seconds=1), [])
    assert robot.delivered == [((1, 200),), tuple((10 + p, 200) for p in range(5))]
    assert digest.slots(robot.sent, T0 + timedelta(seconds=1), limit) == 1


def test_waiting_deliveries_go_as_they_are_while_slots_are_free() -> None:
    waiting = [digest.Waiting(1, (1,)), digest.Waiting(2, (2, 3))]
    assert digest.plan(waiting, 2, lambda items: True) == digest.Plan(None, 2)
    assert digest.plan(waiting, 1, lambda items: True) == digest.Plan(((1, 2, 3),), 1)
    # one too long for the robot is cut, even with slots free
    assert digest.plan(waiting, 5, lambda items: len(items) < 2) == digest.Plan(((1,), (2,), (3,)), 3)


def test_slots_count_the_window_and_the_second() -> None:
    limit = digest.Limit(3, timedelta(seconds=10), 2)
    now = T0 + timedelta(seconds=20)
    assert digest.slots([], now, limit) == 2
    assert digest.slots([now - timedelta(seconds=0.5)], now, limit) == 1
    assert digest.slots([now - timedelta(seconds=s) for s in (0.5, 0.6)], now, limit) == 0
    assert digest.slots([now - timedelta(seconds=s) for s in (2, 3, 4)], now, limit) == 0
    assert digest.slots([now - timedelta(seconds=s) for s in (2, 3, 11)], now, limit) == 1
