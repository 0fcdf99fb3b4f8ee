"""What a simulator run tells its user: a progress bar on stderr, a summary on stdout at the end."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from simulators.records import Message

MAX_POINT_LINES = 30


class ProgressBar:
    """A one-line bar on a terminal, redrawn at most ten times a second; silent when not a terminal."""

    def __init__(self, total: float, label: str, stream: TextIO | None = None, force: bool = False) -> None:
        self.total, self.label = max(total, 1e-9), label
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self.done = 0.0
        self.count = 0
        self._drawn = 0.0
        self._t0 = time.monotonic()

    def update(self, done: float) -> None:
        self.done, self.count = done, self.count + 1
        now = time.monotonic()
        if self.enabled and now - self._drawn >= 0.1:
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        share = min(1.0, self.done / self.total)
        width = 30
        filled = int(share * width)
        bar = "#" * filled + "-" * (width - filled)
        rate = self.count / max(now - self._t0, 1e-9)
        self.stream.write(f"\r{self.label} [{bar}] {share:6.1%}  {self.count} msgs  {rate:,.0f}/s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class Tally:
    """Messages sent, per point (``plant/point`` or the HJ 212 MN)."""

    per_point: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None

    def add(self, message: Message, point: str) -> None:
        self.per_point[point] += 1
        self.first = self.first or message.sim_time
        self.last = message.sim_time

    @property
    def sent(self) -> int:
        return sum(self.per_point.values())


def summary(tally: Tally, heading: str, events: list[dict[str, Any]], extra: list[str]) -> str:
    lines = [heading, f"  messages sent : {tally.sent}"]
    if tally.first and tally.last:
        lines.append(f"  simulated time: {tally.first.isoformat()} .. {tally.last.isoformat()}")
    lines += [f"  {line}" for line in extra]
    points = sorted(tally.per_point.items())
    lines.append(f"  per point ({len(points)} points):")
    if len(points) <= MAX_POINT_LINES:
        lines += [f"    {name:<40} {count:>8}" for name, count in points]
    else:
        counts = sorted(tally.per_point.values())
        median = counts[len(counts) // 2]
        lines.append(f"    min {counts[0]}, median {median}, max {counts[-1]} messages per point")
        lines.append("    (every point's count is in the --truth file)")
    if events:
        injected = sum(1 for e in events if e["messages"])
        lines.append(f"  events injected: {injected} of {len(events)} scripted")
        for event in events:
            where = "/".join(x for x in (event["plant"], event["point"], event["parameter"]) if x)
            lines.append(f"    {event['id']:<24} {event['type']:<15} {where:<36} {event['messages']:>6} msgs")
    return "\n".join(lines)
