"""Compliance reports of a park or one plant over a park-local day, month or quarter, with pandas: the
tables of a report built from the stored legal record (compliance_windows via compliance/repo/legal.py),
the alerts of the period with their outcome, the data marks, and the day figures compliance stored.
Nothing here judges or recomputes a mean: verdicts, valid means, counts, KPIs (api/record.py over
compliance/kpis.py) and masses (compliance/discharge.py) are compliance's; this module only arranges
them. Pure: rows in, frames out (api/reportformats.py renders them; api/reportdata.py reads the rows)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd

from api import record
from compliance import rules
from compliance.models import ACTIVE_STATES, CONCENTRATION_KINDS, SEVERITY_RANK
from compliance.repo.legal import DayWindow, ExceededHours, ParkWindow
from compliance.repo.marks import Mark
from compliance.repo.periods import DayReport, Incident
from ingest.core import parameters
from ingest.core.reads import ParkRow, PointRow

Kind = Literal["day", "month", "quarter"]
EARLIEST = date(2000, 1, 1)
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
NOT_CLOSED = "not_closed"  # a day compliance has not closed yet: nothing on record


@dataclass(frozen=True)
class Period:
    kind: Kind
    label: str  # 2026-11-29 | 2026-11 | 2026-Q4
    timezone: str
    days: tuple[date, ...]  # its park-local calendar days
    parts: tuple[str, ...]  # what its summary is per: the day itself, or each month (2026-10, ...)
    start: datetime  # UTC
    end: datetime


def period(kind: Kind, text: str, timezone: str, today: date) -> Period:
    """The park-local day (2026-11-29), month (2026-11) or quarter (2026-Q4) asked for; ValueError with
    the reason when it is malformed or outside [2000-01-01, tomorrow]."""
    tz = ZoneInfo(timezone)
    if kind == "day":
        try:
            first = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"day must look like 2026-11-29, not {text!r}") from None
        months = 0
    elif kind == "month":
        m = MONTH.match(text)
        if m is None:
            raise ValueError(f"month must look like 2026-11, not {text!r}")
        first, months = date(int(m[1]), int(m[2]), 1), 1
    else:
        q = QUARTER.match(text)
        if q is None:
            raise ValueError(f"quarter must look like 2026-Q4, not {text!r}")
        first, months = date(int(q[1]), 3 * int(q[2]) - 2, 1), 3
    if not EARLIEST <= first <= today + timedelta(days=1):
        raise ValueError(f"the period must start between {EARLIEST} and tomorrow")
    firsts = [_add_months(first, i) for i in range(max(months, 1))]
    last = _add_months(first, months) if months else first + timedelta(days=1)
    days = tuple(first + timedelta(days=i) for i in range((last - first).days))
    parts = (text,) if kind == "day" else tuple(f"{f:%Y-%m}" for f in firsts)
    start, end = rules.local_day_bounds(first, tz)[0], rules.local_day_bounds(last, tz)[0]
    return Period(kind, text, timezone, days, parts, start, end)


def _add_months(first: date, n: int) -> date:
    y, m = divmod(first.month - 1 + n, 12)
    return date(first.year + y, m + 1, 1)


@dataclass(frozen=True)
class Rows:
    """What a report is made of, as read from the record (api/reportdata.py)."""

    park: ParkRow
    plant: str | None
    period: Period
    today: date  # park-local: days after it are not in the daily table
    points: Sequence[PointRow]
    days: Sequence[DayWindow]
    hours: Sequence[ExceededHours]
    windows: Sequence[tuple[str, Sequence[ParkWindow]]]  # per part: its stored day or month windows
    incidents: Sequence[Incident]
    marks: Sequence[Mark]
    reuse: Sequence[DayReport]
    days_closed: int
    kpi_target: float
    truncated: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    summary: dict[str, Any]
    daily: pd.DataFrame  # per series and day: the stored valid daily mean against its limit
    series: pd.DataFrame  # per series and part (month, or the day): exceedance days and hours
    incidents: pd.DataFrame
    marks: pd.DataFrame
    kpis: pd.DataFrame
    mass: pd.DataFrame
    reuse: pd.DataFrame


SERIES_KEYS = ["plant", "point", "point_kind", "parameter", "name", "unit"]
DAILY = [
    "date", *SERIES_KEYS, "mean", "max", "limit_upper", "ratio", "verdict", "valid", "received", "expected",
    "exceeded_hours", "breach_alerts",
]  # fmt: skip
SERIES = [
    "part", *SERIES_KEYS, "limit_upper", "mean", "sufficient", "max_daily_mean", "days_closed", "valid_days",
    "exceeded_days", "exceeded_hours", "breach_alerts",
]  # fmt: skip


def build(rows: Rows) -> Report:
    tz = ZoneInfo(rows.period.timezone)
    incidents = incidents_frame(rows.incidents, tz)
    daily = with_breaches(
        daily_frame(rows.points, rows.days, rows.hours, rows.period, rows.today, tz), incidents
    )
    series = series_frame(daily, rows.windows)
    level: Literal["plant", "point"] = "point" if rows.plant else "plant"
    kpis = kpi_frame(rows.windows, level, rows.kpi_target, rows.period)
    mass = mass_frame(rows.windows, rows.period)
    marks = marks_frame(rows.marks, tz)
    reuse = reuse_frame(rows.reuse, rows.park.config.get("reuse_target"))
    summary = summarise(rows, daily, incidents, marks, kpis, reuse)
    return Report(summary, daily, series, incidents, marks, kpis, mass, reuse)


def _series(points: Sequence[PointRow], on_record: set[tuple[int, int]]) -> pd.DataFrame:
    """Every series of the scope: what an active point measures, and what any point has on record."""
    out = []
    for p in points:
        for pid in sorted(p.parameters):
            c = parameters.BY_ID.get(pid)
            if c is None or not (p.active or (p.id, pid) in on_record):
                continue
            name = f"{c.name_zh} {c.name_en}"
            out.append((p.id, pid, p.plant, p.code, p.kind, c.code, name, c.unit))
    return pd.DataFrame(out, columns=["point_id", "parameter_id", *SERIES_KEYS])


def daily_frame(
    points: Sequence[PointRow],
    days: Sequence[DayWindow],
    hours: Sequence[ExceededHours],
    p: Period,
    today: date,
    tz: ZoneInfo,
) -> pd.DataFrame:
    """One row per series and park-local day of the period up to today: the stored day's valid mean, its
    extremes and counts, its verdict against the limit in force (``not_closed`` before compliance closed
    the day), and how many of its stored hours were judged over the limit."""
    series = _series(points, {(d.point_id, d.parameter_id) for d in days})
    grid = series.merge(pd.DataFrame({"date": [d for d in p.days if d <= today]}), how="cross")
    win = pd.DataFrame(
        [
            (rules.local_day_of(d.start, tz), d.point_id, d.parameter_id, d.mean, d.max, d.limit_upper,
             d.verdict, d.n_valid, d.n_total, d.n_expected)
            for d in days
        ],
        columns=["date", "point_id", "parameter_id", "mean", "max", "limit_upper", "verdict", "valid",
                 "received", "expected"],
    )  # fmt: skip
    hrs = pd.DataFrame(
        [(h.day, h.point_id, h.parameter_id, h.hours) for h in hours],
        columns=["date", "point_id", "parameter_id", "exceeded_hours"],
    )
    keys = ["date", "point_id", "parameter_id"]
    df = grid.merge(win, on=keys, how="left").merge(hrs, on=keys, how="left")
    df["verdict"] = df["verdict"].fillna(NOT_CLOSED)
    df["exceeded_hours"] = df["exceeded_hours"].fillna(0).astype(int)
    for col in ("valid", "received", "expected"):
        df[col] = df[col].astype("Int64")  # none before the day is closed
    for col in ("mean", "max", "limit_upper"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["ratio"] = (df["mean"] / df["limit_upper"]).where(df["limit_upper"] > 0)
    df["part"] = [d.isoformat() if p.kind == "day" else f"{d:%Y-%m}" for d in df["date"]]
    return df.sort_values(["date", "plant", "point", "parameter"], kind="stable").reset_index(drop=True)


def with_breaches(daily: pd.DataFrame, incidents: pd.DataFrame) -> pd.DataFrame:
    """Each day's breach alerts: the counted incidents of the series opened that park-local day (a
    single valid value over its limit is a breach, GB 21900-2008 §6.2, whatever the day's mean)."""
    counted = incidents[incidents["counted"]] if len(incidents) else incidents
    cols = ["plant", "point", "parameter"]
    counts = Counter(zip([t.date() for t in counted["opened_at"]], *(counted[c] for c in cols), strict=True))
    keys = zip(daily["date"], *(daily[c] for c in cols), strict=True)
    return daily.assign(breach_alerts=[counts.get(k, 0) for k in keys])


def _breaches(i: Incident) -> bool:
    """A breach of a concentration limit compliance alerted on (violation or worse), not withdrawn."""
    severe = SEVERITY_RANK.get(i.severity, 0) >= SEVERITY_RANK["violation"]
    return i.kind in CONCENTRATION_KINDS and severe and not i.withdrawn_by_mark


def series_frame(daily: pd.DataFrame, windows: Sequence[tuple[str, Sequence[ParkWindow]]]) -> pd.DataFrame:
    """Per series and part of the period (each month; the day itself): the stored mean of the month's
    valid values (a day report: the day's), the highest daily mean, days closed and valid, exceedance
    days (stored daily verdict ``exceeded``), exceedance hours, and breach alerts opened."""
    if daily.empty:
        return pd.DataFrame(columns=SERIES)
    keys = ["part", "point_id", "parameter_id"]
    g = daily.assign(
        closed=daily["verdict"] != NOT_CLOSED,
        valid_day=daily["verdict"].isin(["ok", "exceeded", "no_limit"]) & daily["mean"].notna(),
        exceeded=daily["verdict"] == "exceeded",
    ).groupby(keys, sort=False)
    out = g.agg(
        max_daily_mean=("mean", "max"),
        limit_upper=("limit_upper", "last"),
        days_closed=("closed", "sum"),
        valid_days=("valid_day", "sum"),
        exceeded_days=("exceeded", "sum"),
        exceeded_hours=("exceeded_hours", "sum"),
        breach_alerts=("breach_alerts", "sum"),
    ).reset_index()
    stored = pd.DataFrame(
        [(part, w.point_id, w.parameter_id, w.mean, w.sufficient) for part, rows in windows for w in rows],
        columns=[*keys, "mean", "sufficient"],
    )
    out = out.merge(stored, on=keys, how="left")
    info = daily.drop_duplicates(["point_id", "parameter_id"])[["point_id", "parameter_id", *SERIES_KEYS]]
    out = out.merge(info, on=["point_id", "parameter_id"], how="left")
    out["sufficient"] = out["sufficient"].astype(object).where(out["sufficient"].notna(), None)
    return (
        out[SERIES].sort_values(["part", "plant", "point", "parameter"], kind="stable").reset_index(drop=True)
    )


INCIDENTS = [
    "id", "plant", "point", "parameter", "kind", "severity", "state", "outcome", "opened_at", "first_time",
    "last_time", "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by", "peak", "limit", "unit",
    "count", "note", "counted",
]  # fmt: skip
TIMES = ["opened_at", "first_time", "last_time", "acknowledged_at", "resolved_at"]


def _outcome(i: Incident) -> str:
    if i.withdrawn_by_mark:
        return "withdrawn: data mark in effect"
    if i.state == "resolved":
        return f"resolved by {i.resolved_by}" if i.resolved_by else "resolved"
    if i.state == "cleared":
        return "cleared: the condition ended, not yet resolved"
    return "acknowledged, still active" if i.state == "acknowledged" else "open"


def incidents_frame(incidents: Sequence[Incident], tz: ZoneInfo) -> pd.DataFrame:
    """The period's alerts with their outcome, times park-local; ``counted``: a breach the report counts
    (a concentration alert at violation or worse that no data mark withdrew)."""
    rows = [
        {**{k: getattr(i, k) for k in INCIDENTS if hasattr(i, k)}, "outcome": _outcome(i),
         "counted": _breaches(i)}
        for i in incidents
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=INCIDENTS)
    return _local(df, TIMES, tz)


MARKS = [
    "id", "plant", "point", "code", "group", "invalidates", "start", "end", "status", "reason", "created_by",
    "decided_by", "decided_at", "decision_note",
]  # fmt: skip


def marks_frame(marks: Sequence[Mark], tz: ZoneInfo) -> pd.DataFrame:
    """The data marks overlapping the period, whatever their status (pending, approved, rejected,
    withdrawn): only an approved mark that invalidates takes data out of the record."""
    df = pd.DataFrame([{k: getattr(m, k) for k in MARKS} for m in marks], columns=MARKS)
    return _local(df, ["start", "end", "decided_at"], tz)


def _local(df: pd.DataFrame, cols: Sequence[str], tz: ZoneInfo) -> pd.DataFrame:
    for c in cols:
        df[c] = pd.to_datetime(df[c], utc=True).dt.tz_convert(tz)
    return df


KPIS = [
    "part", "level", "id", "received", "valid", "expected", "transmission_rate", "validity_rate",
    "effective_rate", "target", "warning",
]  # fmt: skip


def kpi_frame(
    windows: Sequence[tuple[str, Sequence[ParkWindow]]],
    level: Literal["plant", "point"],
    target: float,
    p: Period,
) -> pd.DataFrame:
    """Per part: the KPIs of the whole scope and of each plant (a park report) or point (a plant report),
    as /kpis serves them (api/record.py); a quarter also over its three months together."""
    parts = list(windows)
    if p.kind == "quarter":
        parts.append((p.label, [w for _part, rows in windows for w in rows]))
    out = []
    for part, rows in parts:
        whole, items, _warnings = record.kpi_items(rows, level, target)
        for lvl, key, k in [("all", "", whole), *((level, i.id, i.kpi) for i in items)]:
            out.append({"part": part, "level": lvl, "id": key, **k.model_dump(exclude={"below_target"})})
    return pd.DataFrame(out, columns=KPIS)


MASS = ["part", "plant", "parameter", "mass_kg", "points", "method"]


def mass_frame(windows: Sequence[tuple[str, Sequence[ParkWindow]]], p: Period) -> pd.DataFrame:
    """Per part and plant, the discharged mass of each pollutant as /mass serves it (api/record.py); a
    quarter adds each plant's three months together (a month without a figure adds nothing)."""
    out = [
        {"part": part, "plant": m.plant, "parameter": d.parameter, "mass_kg": d.mass_kg,
         "points": ", ".join(d.points), "method": d.method}
        for part, rows in windows
        for m in record.plant_masses(rows)
        for d in m.discharged
    ]  # fmt: skip
    df = pd.DataFrame(out, columns=MASS)
    if p.kind == "quarter" and len(df):
        total = df.groupby(["plant", "parameter"], as_index=False).agg(
            mass_kg=("mass_kg", lambda s: s.sum(min_count=1)), points=("points", "last")
        )
        total = total.assign(part=p.label, method=f"sum of the months of {p.label}")
        df = pd.concat([df, total[MASS]], ignore_index=True)
    df["mass_kg"] = pd.to_numeric(df["mass_kg"], errors="coerce").astype(float)
    return df


REUSE = ["date", "reuse_ratio", "reuse_target", "below_target", "mass_balance_gap"]


def reuse_frame(reports: Sequence[DayReport], park_target: object) -> pd.DataFrame:
    """The central plant's daily reuse ratio and mass-balance gap as compliance stored them when it
    closed each day (days it could not judge are left out)."""
    out = []
    for r in reports:
        ratio, target = r.body.get("reuse_ratio"), r.body.get("reuse_target", park_target)
        if ratio is None and r.body.get("mass_balance_gap") is None:
            continue
        below = ratio < target if isinstance(ratio, int | float) and isinstance(target, int | float) else None
        out.append((r.day, ratio, target, below, r.body.get("mass_balance_gap")))
    return pd.DataFrame(out, columns=REUSE)


def summarise(
    rows: Rows,
    daily: pd.DataFrame,
    incidents: pd.DataFrame,
    marks: pd.DataFrame,
    kpis: pd.DataFrame,
    reuse: pd.DataFrame,
) -> dict[str, Any]:
    p = rows.period
    exceeded = daily[daily["verdict"] == "exceeded"]
    counted = incidents[incidents["counted"]] if len(incidents) else incidents
    whole = kpis[(kpis["level"] == "all") & (kpis["part"] == p.label)]
    ratios = pd.to_numeric(reuse["reuse_ratio"], errors="coerce").dropna()
    return {
        "park": rows.park.id,
        "park_name": rows.park.name,
        "plant": rows.plant,
        "period": p.kind,
        "label": p.label,
        "timezone": p.timezone,
        "start": p.start.astimezone(ZoneInfo(p.timezone)).isoformat(),
        "end": p.end.astimezone(ZoneInfo(p.timezone)).isoformat(),
        "days": len(p.days),
        "days_closed": rows.days_closed,
        "series": int(daily.groupby(["point_id", "parameter_id"]).ngroups) if len(daily) else 0,
        "exceeded_days": len(exceeded),
        "series_exceeded": int(exceeded.groupby(["point_id", "parameter_id"]).ngroups)
        if len(exceeded)
        else 0,
        "exceeded_hours": int(daily["exceeded_hours"].sum()),
        "insufficient_days": int((daily["verdict"] == "insufficient").sum()),
        "plants_exceeded": sorted(set(exceeded["plant"])),
        "plants_with_breaches": sorted(set(daily["plant"][daily["breach_alerts"] > 0])),
        "incidents": len(incidents),
        "breach_alerts": len(counted),
        "incidents_by_kind": {str(k): int(v) for k, v in incidents["kind"].value_counts().items()},
        "incidents_withdrawn": int(incidents["id"][incidents["outcome"].str.startswith("withdrawn")].count()),
        "incidents_active": int(incidents["state"].isin(ACTIVE_STATES).sum()),
        "marks_by_status": {str(k): int(v) for k, v in marks["status"].value_counts().items()},
        "effective_rate": None if whole.empty else _num(whole["effective_rate"].iloc[0]),
        "kpi_target": rows.kpi_target,
        "reuse_days_judged": len(ratios),
        "reuse_days_below_target": int(reuse["below_target"].eq(True).sum()),
        "reuse_ratio_min": float(ratios.min()) if len(ratios) else None,
        "truncated": dict(rows.truncated),
    }


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)
