"""Pure: which bucket a readings request gets, and pages that never split a time (api/history.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import HTTPException
from hypothesis import given
from hypothesis import strategies as st

from api.history import Pager, choose_bucket

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WEEK, QUARTER = timedelta(days=7), timedelta(days=92)


@pytest.mark.parametrize(
    ("span", "bucket", "raw", "chosen"),
    [
        (timedelta(days=1), None, False, None),
        (timedelta(days=7), None, False, None),
        (timedelta(days=8), None, False, "1h"),
        (timedelta(days=92), None, False, "1h"),
        (timedelta(days=93), None, False, "1d"),
        (timedelta(days=365), None, True, None),
        (timedelta(days=365), "1h", False, "1h"),
        (timedelta(hours=1), "1d", False, "1d"),
    ],
)
def test_choose_bucket(span, bucket, raw, chosen):
    assert choose_bucket(T0, T0 + span, bucket, raw, WEEK, QUARTER) == chosen


def test_raw_and_a_bucket_exclude_each_other():
    with pytest.raises(HTTPException) as exc:
        choose_bucket(T0, T0 + WEEK, "1h", True, WEEK, QUARTER)
    assert exc.value.status_code == 422


@dataclass(frozen=True)
class Row:
    time: datetime
    parameter: int


@given(
    per_time=st.lists(st.integers(1, 5), min_size=0, max_size=80),
    cap=st.integers(5, 40),
    chunk=st.integers(1, 17),
)
def test_pages_cover_every_row_once_and_never_split_a_time(per_time, cap, chunk):
    rows = [Row(T0 + timedelta(minutes=i), q) for i, n in enumerate(per_time) for q in range(n)]
    got: list[Row] = []
    start = T0
    for _ in range(len(rows) + 1):
        page = [r for r in rows if r.time >= start][: cap + 1]  # the query: from, ordered, LIMIT cap + 1
        pager: Pager[Row] = Pager(cap, lambda r: r.time)
        sent = [r for i in range(0, len(page), chunk) for r in pager.push(page[i : i + chunk])]
        rest, next_from = pager.finish()
        sent += rest
        assert len(sent) <= cap
        assert not any(r.time == next_from for r in sent)  # a time is on one page only
        got += sent
        if next_from is None:
            break
        start = next_from
    assert got == rows
