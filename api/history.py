"""How the readings endpoint answers a range (pure): which bucket a request gets, and how its rows are
cut into pages. The endpoint streams (``api/routes/readings.py``); these decide what it sends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from fastapi import HTTPException


def choose_bucket(
    start: datetime,
    end: datetime,
    bucket: str | None,
    raw: bool,
    raw_window: timedelta,
    hourly_window: timedelta,
) -> str | None:
    """THE rule for what a readings request returns: the bucket asked for; raw readings when asked for
    (``raw=true``) or when the range is at most ``raw_window``; else hourly means up to
    ``hourly_window`` and daily means beyond. None: raw readings. Means are what the legal judgements
    stand on, and a long range of raw minute values is more than a chart or a person can use."""
    if bucket is not None and raw:
        raise HTTPException(422, "ask for raw readings (raw=true) or for means (bucket=1h|1d), not both")
    if bucket is not None or raw:
        return bucket
    span = end - start
    if span <= raw_window:
        return None
    return "1h" if span <= hourly_window else "1d"


R = TypeVar("R")


@dataclass
class Pager(Generic[R]):
    """Cuts rows ordered by time into a page of at most ``cap`` rows, never between two rows of the same
    time (several parameters share one), so the next page can start at ``from`` = ``next_from`` and
    repeat nothing. Feed it at most ``cap + 1`` rows (the query's LIMIT): the extra row says whether
    there is more."""

    cap: int
    time_of: Callable[[R], datetime]
    seen: int = 0
    held: list[R] = field(default_factory=list)  # rows of the latest time, not released yet

    def push(self, rows: Sequence[R]) -> list[R]:
        """Rows that may be sent now (every earlier time is complete)."""
        out: list[R] = []
        for row in rows:
            self.seen += 1
            if self.held and self.time_of(row) != self.time_of(self.held[0]):
                out.extend(self.held)
                self.held = []
            self.held.append(row)
        return out

    def finish(self) -> tuple[list[R], datetime | None]:
        """The last rows to send, and where the next page starts (None: nothing more)."""
        if self.seen <= self.cap:
            return self.held, None
        # The extra row's time is incomplete on this page: it starts the next one.
        return [], self.time_of(self.held[0]) if self.held else None
