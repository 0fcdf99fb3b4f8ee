"""The rows of a report, read from the stored record on one connection: the API's report routes and
`outfall report` both build their reports here (then api/reports.py arranges them, api/reportformats.py
renders them), so a report is the same however it is asked for."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection

from api import charts as charts_
from api import reportformats, reporthtml, reports
from compliance import rules
from compliance.repo import legal, periods
from compliance.repo.marks import MarkFilter, mark_codes, marks_in_scope
from compliance.settings import RuleSettings
from ingest.core import reads as ingest_reads

MAX_INCIDENTS = 20_000
MAX_MARKS = 5_000


class NotFound(LookupError):
    """The park or plant asked for is not there (or not in the caller's scope)."""


async def gather(
    conn: AsyncConnection[Any],
    park: str,
    plant: str | None,
    kind: reports.Kind,
    label: str,
    kpi_target: float,
) -> reports.Rows:
    """Everything a report shows, from the record; NotFound for an unknown park or plant, ValueError
    for a malformed period."""
    found = await ingest_reads.parks(park, plant).fetch_async(conn)
    if not found or (plant and not await ingest_reads.plants(park, plant).fetch_async(conn)):
        raise NotFound(f"plant {park}/{plant}" if plant else f"park {park}")
    k = found[0]
    today = rules.local_day_of(datetime.now(UTC), ZoneInfo(k.timezone))
    p = reports.period(kind, label, k.timezone, today)
    pts = await ingest_reads.points(park, plant).fetch_async(conn)
    windows = []
    for part in p.parts:  # the stored day, or each month: KPIs and mass as /kpis and /mass read them
        start = p.start if kind == "day" else _month_start(part, k.timezone)
        span = "day" if kind == "day" else "month"
        windows.append((part, await legal.park_windows(park, plant, span, start).fetch_async(conn)))
    incidents = await periods.incidents(park, plant, p.start, p.end, MAX_INCIDENTS + 1).fetch_async(conn)
    marks = await marks_in_scope(
        MarkFilter(park, plant, start=p.start, end=p.end), MAX_MARKS + 1
    ).fetch_async(conn)
    return reports.Rows(
        park=k,
        plant=plant,
        period=p,
        today=today,
        points=pts,
        days=await legal.day_windows(park, plant, p.start, p.end).fetch_async(conn),
        hours=await legal.exceeded_hours(park, plant, p.start, p.end, k.timezone).fetch_async(conn),
        windows=windows,
        incidents=incidents[:MAX_INCIDENTS],
        marks=marks[:MAX_MARKS],
        reuse=await _reuse(conn, park, pts, p),
        days_closed=len(await legal.closed(park, "day", p.start, p.end).fetch_async(conn)),
        kpi_target=kpi_target,
        truncated={"incidents": len(incidents) > MAX_INCIDENTS, "marks": len(marks) > MAX_MARKS},
    )


async def _reuse(
    conn: AsyncConnection[Any], park: str, pts: list[ingest_reads.PointRow], p: reports.Period
) -> list[periods.DayReport]:
    """The park's stored day figures, for a scope that holds the central plant's outlet and reuse outlet
    (a plant's own report has no park figures)."""
    if not {"central_outlet", "reuse_outlet"} <= {x.kind for x in pts}:
        return []
    return await periods.stored_reports(park, p.days[0], p.days[-1]).fetch_async(conn)


def _month_start(part: str, timezone: str) -> datetime:
    y, m = part.split("-")
    return rules.local_month_bounds(datetime(int(y), int(m), 1).date(), ZoneInfo(timezone))[0]


# --- `outfall report` -------------------------------------------------------------------------------
def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="a compliance report of a park or plant: day, month or quarter")
    p.add_argument("--park", required=True)
    p.add_argument("--plant", help="one plant's report (default: the whole park)")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--day", help="a park-local day, 2026-11-29")
    when.add_argument("--month", help="a park-local month, 2026-11")
    when.add_argument("--quarter", help="a park-local quarter, 2026-Q4")
    p.add_argument("--format", choices=reportformats.FORMATS, default="xlsx")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: a name from the period)")
    return p


def command(args: argparse.Namespace, database_url: str) -> int:
    kind: reports.Kind = "day" if args.day else "month" if args.month else "quarter"
    label = args.day or args.month or args.quarter
    try:
        report = asyncio.run(_build(database_url, args.park, args.plant, kind, label))
    except (NotFound, ValueError) as e:
        print(f"outfall report: {e}", file=sys.stderr)
        return 2
    data = reportformats.render(report, args.format)
    out: Path = args.output or Path(reportformats.filename(report, args.format))
    out.write_bytes(data)
    print(f"{out}: {len(data)} bytes")
    return 0


async def _build(database_url: str, park: str, plant: str | None, kind: reports.Kind, label: str) -> Any:
    async with await AsyncConnection.connect(database_url) as conn:
        rows = await gather(conn, park, plant, kind, label, RuleSettings().kpi_target)
    return reports.build(rows)


async def names(conn: AsyncConnection[Any], rows: reports.Rows, lang: reporthtml.Lang) -> reporthtml.Names:
    """What the report's plants, points and data-mark codes are called in ``lang``: the registry's names
    (read as /parks/{park}/names reads them) and the mark catalogue's."""
    plants = await ingest_reads.plants(rows.park.id, rows.plant).fetch_async(conn)
    codes = [(c.code, c.name_zh, c.name_en) for c in await mark_codes().fetch_async(conn)]
    return reporthtml.names(lang, rows.park.name, plants, rows.points, codes)


async def charts(
    conn: AsyncConnection[Any], rows: reports.Rows, report: reports.Report, n: reporthtml.Names
) -> list[str]:
    """The HTML report's charts: for one plant's day, each series' stored hourly means against its limit;
    otherwise the worst daily mean / limit per plant."""
    if rows.period.kind != "day" or rows.plant is None:
        bars = [(n.plants.get(plant, plant), v) for plant, v in reportformats.park_bars(report.daily)]
        return [charts_.bar_chart(n.word("chart.bars"), bars)]
    p, tz = rows.period, rows.period.timezone
    means = await legal.hours_in([x.id for x in rows.points], p.start, p.end).fetch_async(conn)
    by_series: dict[tuple[int, int], list[tuple[datetime, float | None]]] = {}
    for m in means:
        by_series.setdefault((m.point_id, m.parameter_id), []).append((m.start, m.mean))
    limits = {(r.point_id, r.parameter_id): r.limit_upper for r in rows.days}
    out = []
    for s in report.daily.drop_duplicates(["point_id", "parameter_id"]).to_dict(orient="records"):
        key = (int(s["point_id"]), int(s["parameter_id"]))
        series = by_series.get(key, [])
        raw = [(t, m, "N") for t, m in series if m is not None]
        point = n.points.get((str(s["plant"]), str(s["point"])), str(s["point"]))
        title = f"{point} · {n.parameter(str(s['parameter']))} · {n.word('chart.hourly')}"
        chart = charts_.series_chart(
            title, str(s["unit"]), raw, series, limits.get(key), None, p.start, p.end, tz
        )
        out.append(chart)
    return out
