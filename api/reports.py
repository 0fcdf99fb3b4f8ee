"""The daily compliance report of a park or a plant, with pandas: per point and parameter the valid
daily mean against its limit, exceedances (count and duration), valid-data and transmission rates;
alerts opened; the central plant's reuse ratio. Pure: rows in, frames and markup out."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import pandas as pd

from api import repo
from ingest import parameters

MIN_VALID_FRACTION = 0.75  # the same default as the compliance engine's daily means
COLUMNS = [
    "plant", "point", "point_kind", "parameter", "unit", "limit_upper", "limit_lower", "mean", "max",
    "ratio", "exceedances", "exceedance_minutes", "received", "valid", "expected", "valid_rate",
    "transmission_rate", "verdict",
]  # fmt: skip


def frame(points: Sequence[repo.PointRow], stats: Sequence[tuple[Any, ...]], seconds: float) -> pd.DataFrame:
    """One row per point and parameter measured, whether or not anything arrived."""
    by_key = {(r[0], r[1]): r for r in stats}
    rows = []
    for p in points:
        expected = max(1, int(seconds // p.interval_s))
        for pid in sorted(p.parameters):
            c = parameters.BY_ID.get(pid)
            if c is None:
                continue
            s = by_key.get((p.id, pid))
            received, valid, mean, peak, above, below = s[2:8] if s else (0, 0, None, None, 0, 0)
            rows.append(
                {"plant": p.plant, "point": p.code, "point_kind": p.kind, "parameter": c.code,
                 "unit": c.unit, "mean": mean, "max": peak, "exceedances": above + below,
                 "received": received, "valid": valid, "expected": expected, "interval_s": p.interval_s,
                 "point_id": p.id, "parameter_id": pid}
            )  # fmt: skip
    df = pd.DataFrame(rows, columns=[*COLUMNS, "interval_s", "point_id", "parameter_id"])
    df["exceedance_minutes"] = df["exceedances"] * df["interval_s"] / 60.0
    df["valid_rate"] = (df["valid"] / df["expected"]).clip(upper=1.0)
    df["transmission_rate"] = (df["received"] / df["expected"]).clip(upper=1.0)
    return df


def with_limits(df: pd.DataFrame, limits: Sequence[repo.LimitRow]) -> pd.DataFrame:
    lim = {(x.point_id, x.parameter_id): x for x in limits}
    df = df.copy()
    df["limit_upper"] = [
        getattr(lim.get(k), "upper", None) for k in zip(df.point_id, df.parameter_id, strict=True)
    ]
    df["limit_lower"] = [
        getattr(lim.get(k), "lower", None) for k in zip(df.point_id, df.parameter_id, strict=True)
    ]
    upper = pd.to_numeric(df["limit_upper"], errors="coerce")
    mean = pd.to_numeric(df["mean"], errors="coerce")
    df["ratio"] = (mean / upper).where(upper > 0)
    df["verdict"] = [_verdict(r) for r in df.itertuples()]
    return df


def _verdict(r: Any) -> str:
    if r.valid < MIN_VALID_FRACTION * r.expected:
        return "insufficient"
    if pd.isna(r.limit_upper) or not pd.isna(r.limit_lower):
        return "no_limit" if pd.isna(r.limit_upper) or pd.isna(r.mean) else _range(r)
    return "exceeded" if r.mean > r.limit_upper else "ok"


def _range(r: Any) -> str:  # a two-sided limit (pH): judged per value, so by exceedances
    return "exceeded" if r.exceedances else "ok"


def summary(df: pd.DataFrame, alerts: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    def _rate(col: str) -> float | None:
        total = float(df["expected"].sum())
        return float(min(1.0, df[col].sum() / total)) if total else None

    by_kind: dict[str, int] = {}
    for a in alerts:
        by_kind[a[3]] = by_kind.get(a[3], 0) + 1
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
        "<style>body{font:13px sans-serif;margin:16px}table{border-collapse:collapse;font-size:11px}"
        "td,th{border:1px solid #ccc;padding:2px 4px}tr.bad td{background:#fee2e2}.chart{max-width:100%}"
        "@media print{.chart{page-break-inside:avoid}}</style></head><body>"
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
