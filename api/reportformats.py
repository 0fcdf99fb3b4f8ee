"""A report (api/reports.py) as JSON, CSV (UTF-8 with BOM, for Excel), xlsx (one sheet per table, Chinese
and English headers: a file that travels; park-local times as plain local datetimes with the zone stated
on the summary sheet) or a print-ready HTML page in the reader's language (api/reporthtml.py)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import orjson
import pandas as pd
from openpyxl import Workbook

from api import reporthtml, reports
from api.reports import Report

FORMATS = ("json", "csv", "xlsx", "html")
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}
HEADERS = {
    "date": "日期 Date",
    "part": "期间 Period",
    "plant": "企业 Plant",
    "point": "监测点 Point",
    "point_kind": "点位类型 Point kind",
    "parameter": "参数 Parameter",
    "name": "名称 Name",
    "unit": "单位 Unit",
    "mean": "有效数据均值 Mean of valid values",
    "max": "最大值 Max",
    "limit_upper": "限值 Limit",
    "ratio": "均值/限值 Mean/limit",
    "verdict": "判定 Verdict",
    "valid": "有效数 Valid",
    "received": "接收数 Received",
    "expected": "应收数 Expected",
    "exceeded_hours": "超标小时 Hours exceeded",
    "sufficient": "有效均值 Valid mean by rule",
    "max_daily_mean": "最大日均值 Highest daily mean",
    "days_closed": "已结日数 Days closed",
    "valid_days": "有效日数 Valid days",
    "exceeded_days": "超标日数 Days exceeded",
    "breach_alerts": "超标告警 Breach alerts",
    "id": "编号 Id",
    "kind": "类型 Kind",
    "severity": "级别 Severity",
    "state": "状态 State",
    "outcome": "结果 Outcome",
    "opened_at": "开启 Opened",
    "first_time": "首次 First",
    "last_time": "末次 Last",
    "acknowledged_at": "确认 Acknowledged",
    "acknowledged_by": "确认人 By",
    "resolved_at": "解除 Resolved",
    "resolved_by": "解除人 By",
    "peak": "峰值 Peak",
    "limit": "限值 Limit",
    "count": "次数 Count",
    "note": "备注 Note",
    "counted": "计入 Counted",
    "code": "标记 Code",
    "group": "类别 Group",
    "invalidates": "数据无效 Invalidates",
    "start": "开始 Start",
    "end": "结束 End",
    "status": "状态 Status",
    "reason": "原因 Reason",
    "created_by": "提交人 Created by",
    "decided_by": "审核人 Decided by",
    "decided_at": "审核 Decided",
    "decision_note": "审核意见 Decision note",
    "level": "层级 Level",
    "transmission_rate": "传输率 Transmission rate",
    "validity_rate": "有效率 Validity rate",
    "effective_rate": "传输有效率 Effective rate",
    "target": "目标 Target",
    "warning": "预警 Warning",
    "mass_kg": "排放量 Mass (kg)",
    "points": "监测点 Points",
    "method": "方法 Method",
    "reuse_ratio": "回用率 Reuse ratio",
    "reuse_target": "目标 Target",
    "below_target": "未达标 Below target",
    "mass_balance_gap": "水量平衡差 Mass-balance gap",
}
# (sheet name, attribute, columns): the xlsx sheets and HTML sections, in order
TABLES: list[tuple[str, str, list[str]]] = [
    ("汇总 Series", "series", reports.SERIES),
    ("日均值 Daily means", "daily", reports.DAILY),
    ("事件 Incidents", "incidents", reports.INCIDENTS),
    ("数据标记 Marks", "marks", reports.MARKS),
    ("指标 KPIs", "kpis", reports.KPIS),
    ("排放量 Mass", "mass", reports.MASS),
    ("回用 Reuse", "reuse", reports.REUSE),
]
SUMMARY_ZH = {
    "park": "园区 Park",
    "plant": "企业 Plant",
    "period": "报告类型 Report",
    "label": "期间 Period",
    "timezone": "时区 Time zone",
    "days_closed": "已结日数 Days closed",
    "exceeded_days": "超标日数 Days exceeded",
    "exceeded_hours": "超标小时 Hours exceeded",
    "breach_alerts": "超标告警 Breach alerts",
    "effective_rate": "传输有效率 Effective rate",
}


def render(
    report: Report, fmt: str, svgs: Sequence[str] = (), names: reporthtml.Names | None = None
) -> bytes:
    if fmt == "csv":
        return to_csv(report).encode()
    if fmt == "xlsx":
        return to_xlsx(report)
    if fmt == "html":
        return to_html(report, svgs, names).encode()
    return orjson.dumps(to_json(report))


def filename(report: Report, fmt: str) -> str:
    s = report.summary
    return f"{s['park']}{'_' + s['plant'] if s['plant'] else ''}_{s['label']}.{fmt}"


def records(df: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows for JSON: NaN as null, times ISO 8601 with the park's offset, dates as YYYY-MM-DD."""
    out = df[list(columns)].astype(object).where(df[list(columns)].notna(), None)
    return [{str(k): _plain(v) for k, v in r.items()} for r in out.to_dict(orient="records")]


def _plain(v: object) -> object:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def to_json(report: Report) -> dict[str, Any]:
    return {"summary": report.summary} | {
        attr: records(getattr(report, attr), cols) for _sheet, attr, cols in TABLES
    }


def to_csv(report: Report) -> str:
    """The daily table (one row per series and day), with a BOM so Excel reads it as UTF-8."""
    text: str = report.daily[reports.DAILY].to_csv(index=False, float_format="%.6g")
    return "\ufeff" + text


def to_xlsx(report: Report) -> bytes:
    """A summary sheet (with the time zone the times are in), then one sheet per table. Written with
    openpyxl's streaming (write-only) workbook: a park's month is some 400,000 cells, which pandas'
    cell-by-cell ExcelWriter takes several times longer to write."""
    book = Workbook(write_only=True)
    summary = pd.DataFrame(
        [(SUMMARY_ZH.get(k, k), _cell(v)) for k, v in report.summary.items()], columns=["item", "value"]
    )
    sheets = [("概要 Summary", summary, {"item": "项目 Item", "value": "值 Value"})]
    sheets += [(sheet, _naive(getattr(report, attr)[cols]), HEADERS) for sheet, attr, cols in TABLES]
    for name, df, headers in sheets:
        ws = book.create_sheet(name)
        ws.freeze_panes = "A2"
        ws.append([headers.get(str(c), str(c)) for c in df.columns])
        for row in df.astype(object).where(df.notna(), None).itertuples(index=False, name=None):
            ws.append(list(row))
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _cell(v: object) -> object:
    if isinstance(v, dict | list):
        return orjson.dumps(v).decode()
    return v


def _naive(df: pd.DataFrame) -> pd.DataFrame:
    """Excel has no time zones: park-local wall-clock times (the zone is on the summary sheet)."""
    df = df.copy()
    for c in df.columns:
        if isinstance(df[c].dtype, pd.DatetimeTZDtype):
            df[c] = df[c].dt.tz_localize(None)
    return df


def to_html(report: Report, svgs: Sequence[str] = (), names: reporthtml.Names | None = None) -> str:
    """The print-ready page in one language (api/reporthtml.py; Chinese without ``names``)."""
    tables = [(attr, cols) for _sheet, attr, cols in TABLES]
    return reporthtml.page(report, tables, svgs, names or reporthtml.Names("zh"))


def park_bars(daily: pd.DataFrame) -> list[tuple[str, float | None]]:
    """Worst daily mean / limit ratio per plant over the period."""
    worst = daily.dropna(subset=["ratio"]).groupby("plant")["ratio"].max()
    return [(str(k), float(v)) for k, v in worst.sort_values(ascending=False).head(40).items()]
