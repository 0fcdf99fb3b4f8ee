"""The daily compliance report of a park or a plant, with pandas: per point and parameter the valid
daily mean against its limit, what compliance decided (exceedances it alerted on, its verdict),
valid-data and transmission rates; alerts opened; the central plant's reuse ratio. Pure: rows in,
frames and markup out."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import pandas as pd

from compliance import rules
from compliance.repo.reads import DayJudgement, LimitPeriod, OpenedAlert
from ingest.core import parameters
from ingest.core.reads import DayStatistics, PointRow

COLUMNS = [
    "plant", "point", "point_kind", "parameter", "unit", "limit_upper", "limit_lower", "mean", "max",
    "ratio", "exceedances", "exceedance_minutes", "received", "valid", "expected", "valid_rate",
    "transmission_rate", "verdict",
]  # fmt: skip


def frame(
    points: Sequence[PointRow],
    stats: Sequence[DayStatistics],
    judged: Sequence[DayJudgement],
    seconds: float,
) -> pd.DataFrame:
    """One row per point and parameter measured, whether or not anything arrived. Exceedances are the
    values compliance counted in its breach alerts over the day, never a count of our own."""
    by_key = {(r.point_id, r.parameter_id): r for r in stats}
    verdicts = {(j.point_id, j.parameter_id): j for j in judged}
    rows = []
    for p in points:
        expected = max(1, int(seconds // p.interval_s))
        for pid in sorted(p.parameters):
            c = parameters.BY_ID.get(pid)
            if c is None:
                continue
            s, j = by_key.get((p.id, pid)), verdicts.get((p.id, pid))
            rows.append(
                {"plant": p.plant, "point": p.code, "point_kind": p.kind, "parameter": c.code,
                 "unit": c.unit, "mean": s.mean if s else None, "max": s.max if s else None,
                 "exceedances": j.exceedances if j else 0, "received": s.received if s else 0,
                 "valid": s.valid if s else 0, "expected": expected, "interval_s": p.interval_s,
                 "point_id": p.id, "parameter_id": pid, "exceeded": bool(j and j.exceeded),
                 "day_verdict": j.day_verdict if j else None}
            )  # fmt: skip
    extra = ["interval_s", "point_id", "parameter_id", "exceeded", "day_verdict"]
    df = pd.DataFrame(rows, columns=[*COLUMNS, *extra])
    df["exceedance_minutes"] = df["exceedances"] * df["interval_s"] / 60.0
    df["valid_rate"] = (df["valid"] / df["expected"]).clip(upper=1.0)
    df["transmission_rate"] = (df["received"] / df["expected"]).clip(upper=1.0)
    return df


def with_limits(df: pd.DataFrame, limits: Sequence[LimitPeriod], min_valid_fraction: float) -> pd.DataFrame:
    lim = {(x.point_id, x.parameter_id): x for x in limits}
    df = df.copy()
    keys = list(zip(df.point_id, df.parameter_id, strict=True))
    df["limit_upper"] = [getattr(lim.get(k), "upper", None) for k in keys]
    df["limit_lower"] = [getattr(lim.get(k), "lower", None) for k in keys]
    upper = pd.to_numeric(df["limit_upper"], errors="coerce")
    mean = pd.to_numeric(df["mean"], errors="coerce")
    df["ratio"] = (mean / upper).where(upper > 0)
    df["verdict"] = [_verdict(r, min_valid_fraction) for r in df.itertuples()]
    return df


def _verdict(r: Any, min_valid_fraction: float) -> str:
    """Compliance's decision: exceeded when it alerted on a breach that day or judged an hour or the
    day over its limit; else the stored day verdict once the day is closed; before that, insufficient
    data or pending (not judged yet)."""
    if r.exceeded:
        return "exceeded"
    if isinstance(r.day_verdict, str):
        return r.day_verdict
    if pd.isna(r.limit_upper) and pd.isna(r.limit_lower):
        return "no_limit"
    if not rules.is_sufficient(int(r.valid), int(r.expected), min_valid_fraction):
        return "insufficient"
    return "pending"


def summary(df: pd.DataFrame, alerts: Sequence[OpenedAlert]) -> dict[str, Any]:
    def _rate(col: str) -> float | None:
        total = float(df["expected"].sum())
        return float(min(1.0, df[col].sum() / total)) if total else None

    by_kind: dict[str, int] = {}
    for a in alerts:
        by_kind[a.kind] = by_kind.get(a.kind, 0) + 1
    exceeded = df[df["verdict"] == "exceeded"]
    return {
        "parameters": len(df),
        "exceeded": len(exceeded),
        "insufficient": int((df["verdict"] == "insufficient").sum()),
        "exceedances": int(df["exceedances"].sum()),
        "exceedance_minutes": float(df["exceedance_minutes"].sum()),
        "valid_rate": _rate("valid"),
        "transmission_rate": _rate("received"),
        "alerts_opened": len(alerts),
        "alerts_by_kind": by_kind,
        "plants_exceeded": sorted(set(exceeded["plant"])),
    }


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df[COLUMNS].astype(object).where(df[COLUMNS].notna(), None)
    return [{str(k): v for k, v in r.items()} for r in out.to_dict(orient="records")]


def to_csv(df: pd.DataFrame) -> str:
    text: str = df[COLUMNS].to_csv(index=False, float_format="%.6g")
    return "\ufeff" + text


def html(body: dict[str, Any], svgs: Sequence[str]) -> str:
    """A printable page: headline figures, the charts, the table."""
    s = body["summary"]
    title = f"{body['park_name']} {body.get('plant') or ''} 日报 Daily compliance report {body['day']}"
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    cells = []
    for r in body["rows"]:
        cls = ' class="bad"' if r["verdict"] == "exceeded" else ""
        cells.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(r[c])}</td>" for c in COLUMNS) + "</tr>")
    reuse = body.get("reuse") or {}
    reuse_line = (
        f"<p>回用率 Reuse ratio: {_fmt(reuse.get('ratio'))} (目标 target {_fmt(reuse.get('target'))})</p>"
        if reuse
        else ""
    )
    return (
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        # Styles from a file: the API's Content-Security-Policy allows no inline style.
        "<link rel='stylesheet' href='/static/report.css'></head><body>"
        f"<h1>{escape(title)}</h1><p>时区 Time zone {escape(body['timezone'])} · 生成 generated"
        f" {escape(body['generated_at'])}</p>"
        f"<p>超标参数 Parameters exceeded: <b>{s['exceeded']}</b> / {s['parameters']} · 超标次数 Exceedances:"
        f" {s['exceedances']} ({s['exceedance_minutes']:.0f} min) · 有效数据率 Valid-data rate:"
        f" {_fmt(s['valid_rate'])} · 传输率 Transmission rate: {_fmt(s['transmission_rate'])}"
        f" · 告警 Alerts opened: {s['alerts_opened']}</p>{reuse_line}"
        + "".join(f"<div>{svg}</div>" for svg in svgs)
        + f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(cells)}</tbody></table></body></html>"
    )


def _fmt(v: object) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return escape(str(v))


def park_bars(df: pd.DataFrame) -> list[tuple[str, float | None]]:
    """Worst mean/limit ratio per plant."""
    worst = df.dropna(subset=["ratio"]).groupby("plant")["ratio"].max()
    return [(str(k), float(v)) for k, v in worst.sort_values(ascending=False).head(40).items()]
