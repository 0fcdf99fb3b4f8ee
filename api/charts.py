"""SVG charts drawn by our own code (no third-party JavaScript): a time series with its limit line,
breaches and invalid flags marked and hourly means beside the raw values; a bar chart. Pure functions
from numbers to markup; every text is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

W, H = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 22, 28
VALID = frozenset("NS")


def _scale(lo: float, hi: float, a: float, b: float) -> tuple[float, float]:
    span = (hi - lo) or 1.0
    k = (b - a) / span
    return k, a - lo * k


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    step = (hi - lo) / n if hi > lo else 1.0
    return [lo + i * step for i in range(n + 1)]


def series_chart(
    title: str,
    unit: str,
    points: Sequence[tuple[datetime, float, str]],
    means: Sequence[tuple[datetime, float | None]],
    upper: float | None,
    lower: float | None,
    start: datetime,
    end: datetime,
    timezone: str,
) -> str:
    """Raw values as a line (valid ones) with red dots where they break the limit and grey marks where
    the flag makes them invalid; hourly means as a step line; the limit as a dashed red line."""
    values = [v for _t, v, _f in points] + [m for _t, m in means if m is not None]
    values += [x for x in (upper, lower) if x is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    lo = min(lo, 0.0) if lo >= 0 else lo
    hi = hi * 1.08 if hi > 0 else hi + 1
    t0, t1 = start.timestamp(), end.timestamp()
    kx, bx = _scale(t0, t1, LEFT, W - RIGHT)
    ky, by = _scale(lo, hi, H - BOTTOM, TOP)

    def x(t: datetime) -> float:
        return kx * t.timestamp() + bx

    def y(v: float) -> float:
        return ky * v + by

    out = [_frame(title, unit, lo, hi, ky, by, start, end, timezone, kx, bx)]
    valid = [(t, v) for t, v, f in points if f in VALID]
    if valid:
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in valid)
        out.append(f'<polyline class="raw" fill="none" stroke="#2563eb" stroke-width="1" points="{path}"/>')
    steps = [(t, m) for t, m in means if m is not None]
    if steps:
        path = " ".join(
            f"{x(t):.1f},{y(m):.1f} {min(x(t) + kx * 3600, W - RIGHT):.1f},{y(m):.1f}" for t, m in steps
        )
        out.append(f'<polyline class="mean" fill="none" stroke="#059669" stroke-width="2" points="{path}"/>')
    for limit, name in ((upper, "limit"), (lower, "lower limit")):
        if limit is not None:
            out.append(
                f'<line class="limit" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(limit):.1f}" y2="{y(limit):.1f}"'
                f' stroke="#dc2626" stroke-dasharray="6 4">'
                f"<title>{name} {limit:g} {escape(unit)}</title></line>"
            )
    for t, v, f in points:
        breach = f in VALID and ((upper is not None and v > upper) or (lower is not None and v < lower))
        if breach:
            out.append(
                f'<circle class="breach" cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="#dc2626">'
                f"<title>{_local(t, timezone)} {v:g} {escape(unit)}</title></circle>"
            )
        elif f not in VALID:
            out.append(
                f'<rect class="flag" x="{x(t) - 2:.1f}" y="{H - BOTTOM - 6}" width="4" height="6"'
                ' fill="#6b7280">'
                f"<title>{_local(t, timezone)} flag {escape(f)} {v:g}</title></rect>"
            )
    out.append("</svg>")
    return "".join(out)


def _local(t: datetime, timezone: str) -> str:
    return t.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M")


def _frame(
    title: str,
    unit: str,
    lo: float,
    hi: float,
    ky: float,
    by: float,
    start: datetime,
    end: datetime,
    timezone: str,
    kx: float,
    bx: float,
) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" class="chart" role="img"'
        f' aria-label="{escape(title)}"><text x="{LEFT}" y="14" font-size="12" font-weight="bold">'
        f"{escape(title)} ({escape(unit)})</text>",
        f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="none"'
        ' stroke="#d1d5db"/>',
    ]
    for v in _ticks(lo, hi):
        yy = ky * v + by
        parts.append(
            f'<text x="{LEFT - 4}" y="{yy + 4:.1f}" font-size="10" text-anchor="end">{v:.3g}</text>'
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#f3f4f6"/>'
        )
    for i in range(5):
        t = start + (end - start) * i / 4
        xx = kx * t.timestamp() + bx
        parts.append(
            f'<text x="{xx:.1f}" y="{H - 10}" font-size="10" text-anchor="middle">'
            f"{_local(t, timezone)}</text>"
        )
    return "".join(parts)


def bar_chart(title: str, bars: Sequence[tuple[str, float | None]], reference: float | None = 1.0) -> str:
    """Horizontal bars (e.g. mean / limit per plant and parameter) with a reference line at 1."""
    row = 16
    height = TOP + row * max(1, len(bars)) + 10
    top = max([v for _l, v in bars if v is not None] + [reference or 0, 0.01]) * 1.1
    k = (W - 180 - RIGHT) / top
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" class="chart" role="img"'
        f' aria-label="{escape(title)}"><text x="4" y="14" font-size="12" font-weight="bold">'
        f"{escape(title)}</text>"
    ]
    for i, (label, v) in enumerate(bars):
        yy = TOP + i * row
        colour = "#dc2626" if v is not None and reference is not None and v > reference else "#2563eb"
        out.append(f'<text x="176" y="{yy + 11}" font-size="10" text-anchor="end">{escape(label)}</text>')
        if v is not None:
            out.append(
                f'<rect x="180" y="{yy + 2}" width="{max(v * k, 1):.1f}" height="{row - 4}" fill="{colour}">'
                f"<title>{escape(label)}: {v:.2f}</title></rect>"
            )
    if reference is not None:
        xx = 180 + reference * k
        out.append(
            f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{TOP}" y2="{height - 8}" stroke="#dc2626"'
            ' stroke-dasharray="4 3"/>'
        )
    out.append("</svg>")
    return "".join(out)
