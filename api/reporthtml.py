"""A report (api/reports.py) as a print-ready HTML page in the reader's language (zh or en): headers,
summary and the words for verdicts, kinds, severities, states and point kinds in that language only;
plants, points and parameters by name (the registry's and the parameter catalogue's), each with its code
small beside it. The figures are the report's as built from the stored record, unchanged. Styles from
/static/report.css (the API's Content-Security-Policy allows no inline style)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from operator import attrgetter
from typing import Any, Literal

import pandas as pd

from api.plantfile import names as split_name
from api.reports import Report
from ingest.core import parameters
from ingest.core.reads import PlantRow, PointRow

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
# columns the page leaves out: the parameter's bilingual catalogue name is in its cell already
HIDDEN = {"name"}
NAMED = {"plant", "point", "parameter", "code", "id", "points"}  # cells shown by name, code beside
WORDED = {"verdict": "verdict", "kind": "kind", "severity": "sev", "state": "state", "point_kind": "pkind",
          "group": "mgroup", "level": "level", "status": "mstatus"}  # fmt: skip
BOOLEAN = {"counted", "invalidates", "sufficient", "warning", "below_target"}
RATES = {"transmission_rate", "validity_rate", "effective_rate", "target", "reuse_ratio", "reuse_target"}

ZH: dict[str, str] = {
    "date": "日期", "part": "期间", "plant": "企业", "point": "监测点", "point_kind": "点位类型",
    "parameter": "参数", "unit": "单位", "mean": "有效数据均值", "max": "最大值", "limit_upper": "限值",
    "ratio": "均值/限值", "verdict": "判定", "valid": "有效数", "received": "接收数", "expected": "应收数",
    "exceeded_hours": "超标小时", "sufficient": "有效均值", "max_daily_mean": "最大日均值",
    "days_closed": "已结日数", "valid_days": "有效日数", "exceeded_days": "超标日数",
    "breach_alerts": "超标告警", "id": "编号", "kind": "类型", "severity": "级别", "state": "状态",
    "outcome": "结果", "opened_at": "开启", "first_time": "首次", "last_time": "末次",
    "acknowledged_at": "确认时间", "acknowledged_by": "确认人", "resolved_at": "关闭时间",
    "resolved_by": "关闭人", "peak": "峰值", "limit": "限值", "count": "次数", "note": "备注",
    "counted": "计入", "code": "标记", "group": "类别", "invalidates": "数据无效", "start": "开始",
    "end": "结束", "status": "状态", "reason": "原因", "created_by": "提交人", "decided_by": "审核人",
    "decided_at": "审核时间", "decision_note": "审核意见", "level": "层级", "transmission_rate": "传输率",
    "validity_rate": "有效率", "effective_rate": "传输有效率", "target": "目标", "warning": "预警",
    "mass_kg": "排放量（kg）", "points": "监测点", "method": "方法", "reuse_ratio": "回用率",
    "reuse_target": "目标", "below_target": "未达标", "mass_balance_gap": "水量平衡差",
    "t.series": "汇总", "t.daily": "日均值", "t.incidents": "事件", "t.marks": "数据标记", "t.kpis": "指标",
    "t.mass": "排放量", "t.reuse": "回用",
    "r.day": "合规日报", "r.month": "合规月报", "r.quarter": "合规季报", "timezone": "时区",
    "series": "项", "incidents": "事件", "reuse_below": "回用未达标日", "sep": "：",
    "chart.bars": "日均值/限值（各企业最高）", "chart.hourly": "小时均值",
    "yes": "是", "no": "否", "whole_plant": "整个企业",
    "o.withdrawn": "因数据标记撤回（不计入）", "o.resolved": "已关闭", "o.resolved_by": "由 {by} 关闭",
    "o.cleared": "已恢复，待关闭", "o.acknowledged": "已确认，仍在处理", "o.open": "未确认",
    "verdict.ok": "达标", "verdict.exceeded": "超标", "verdict.insufficient": "有效数据不足",
    "verdict.no_limit": "无均值限值", "verdict.not_closed": "未结算",
    "level.all": "合计", "level.plant": "企业", "level.point": "监测点",
}  # fmt: skip
EN: dict[str, str] = {
    "date": "Date", "part": "Period", "plant": "Plant", "point": "Point", "point_kind": "Point kind",
    "parameter": "Parameter", "unit": "Unit", "mean": "Mean of valid values", "max": "Max",
    "limit_upper": "Limit", "ratio": "Mean/limit", "verdict": "Verdict", "valid": "Valid",
    "received": "Received", "expected": "Expected", "exceeded_hours": "Hours exceeded",
    "sufficient": "Valid mean by rule", "max_daily_mean": "Highest daily mean", "days_closed": "Days closed",
    "valid_days": "Valid days", "exceeded_days": "Days exceeded", "breach_alerts": "Breach alerts",
    "id": "Id", "kind": "Kind", "severity": "Severity", "state": "State", "outcome": "Outcome",
    "opened_at": "Opened", "first_time": "First", "last_time": "Last", "acknowledged_at": "Acknowledged",
    "acknowledged_by": "Acknowledged by", "resolved_at": "Closed", "resolved_by": "Closed by",
    "peak": "Peak", "limit": "Limit", "count": "Count", "note": "Note", "counted": "Counted",
    "code": "Mark", "group": "Group", "invalidates": "Invalidates data", "start": "Start", "end": "End",
    "status": "Status", "reason": "Reason", "created_by": "Declared by", "decided_by": "Decided by",
    "decided_at": "Decided", "decision_note": "Decision note", "level": "Level",
    "transmission_rate": "Transmission rate", "validity_rate": "Validity rate",
    "effective_rate": "Effective rate", "target": "Target", "warning": "Warning", "mass_kg": "Mass (kg)",
    "points": "Points", "method": "Method", "reuse_ratio": "Reuse ratio", "reuse_target": "Target",
    "below_target": "Below target", "mass_balance_gap": "Mass-balance gap",
    "t.series": "Series", "t.daily": "Daily means", "t.incidents": "Incidents", "t.marks": "Data marks",
    "t.kpis": "KPIs", "t.mass": "Discharged mass", "t.reuse": "Reuse",
    "r.day": "Daily compliance report", "r.month": "Monthly compliance report",
    "r.quarter": "Quarterly compliance report",
    "timezone": "Time zone", "series": "series", "incidents": "Incidents",
    "reuse_below": "Reuse days below target", "sep": ": ",
    "chart.bars": "Daily mean / limit (worst per plant)", "chart.hourly": "hourly means",
    "yes": "yes", "no": "no", "whole_plant": "whole plant",
    "o.withdrawn": "withdrawn by a data mark (not counted)", "o.resolved": "closed",
    "o.resolved_by": "closed by {by}", "o.cleared": "cleared, not yet closed",
    "o.acknowledged": "acknowledged, still active", "o.open": "open",
    "verdict.ok": "within limit", "verdict.exceeded": "exceeded",
    "verdict.insufficient": "too few valid values",
    "verdict.no_limit": "no limit for the mean", "verdict.not_closed": "not closed yet",
    "level.all": "all", "level.plant": "plant", "level.point": "point",
}  # fmt: skip
# The domain words (alert kinds, severities and states, point kinds, marks' statuses and groups) are the
# console's (api/dashboard/words.json): one wording on the screen and in the report.
DOMAIN: dict[str, dict[str, str]] = json.loads(
    (resources.files("api") / "dashboard" / "words.json").read_text(encoding="utf-8")
)
WORDS: dict[Lang, dict[str, str]] = {"zh": ZH | DOMAIN["zh"], "en": EN | DOMAIN["en"]}


@dataclass(frozen=True)
class Names:
    """What a report's codes are called in one language: plants and points as registered (the Chinese
    or English part of `电镀一厂 (Plating One)`; a point registered without a name by its kind),
    parameters and data-mark codes by their catalogue names."""

    lang: Lang
    park: str = ""
    plants: Mapping[str, str] = field(default_factory=dict)
    points: Mapping[tuple[str, str], str] = field(default_factory=dict)
    marks: Mapping[str, str] = field(default_factory=dict)

    def word(self, key: str) -> str:
        return WORDS[self.lang].get(key, key)

    def parameter(self, code: str) -> str:
        c = parameters.BY_CODE.get(code)
        return code if c is None else c.name_zh if self.lang == "zh" else c.name_en


def _in(lang: Lang, name: str) -> str:
    zh, en = split_name(name)
    return (zh or en if lang == "zh" else en or zh) or name


def names(
    lang: Lang,
    park_name: str,
    plants: Iterable[PlantRow],
    points: Iterable[PointRow],
    marks: Iterable[tuple[str, str, str]] = (),
) -> Names:
    """``marks``: (code, Chinese name, English name) of the data-mark catalogue."""
    words = WORDS[lang]
    return Names(
        lang,
        _in(lang, park_name),
        {p.id: _in(lang, p.name) for p in plants},
        {
            (p.plant, p.code): _in(lang, p.name) if p.name != p.code else words[f"pkind.{p.kind}"]
            for p in points
        },
        {code: zh if lang == "zh" else en for code, zh, en in marks},
    )


def page(report: Report, tables: Sequence[tuple[str, Sequence[str]]], svgs: Sequence[str], n: Names) -> str:
    """``tables``: (attribute of the report, its columns), in the order shown."""
    s = report.summary
    plant = n.plants.get(s["plant"], s["plant"]) if s["plant"] else ""
    what = f"{n.word('r.' + s['period'])} {s['label']}"
    title = " · ".join(x for x in (n.park or s["park_name"], plant, what) if x)
    body = "".join(f"<div class='chart'>{svg}</div>" for svg in svgs)
    for attr, cols in tables:
        if attr == "series" and s["period"] == "day":
            continue  # a day's series are its daily rows, which say more (verdict, extremes, counts)
        df = getattr(report, attr)
        shown = [c for c in cols if c not in HIDDEN]
        if attr == "daily" and s["period"] != "day":
            body += f"<h2>{escape(n.word('t.daily'))}</h2>" + _pivot(df, n, by_plant=not s["plant"])
        elif attr == "daily" and not s["plant"] and len(df):
            body += f"<h2>{escape(n.word('t.daily'))}</h2>" + _by_plant(df, shown, n)
        elif len(df):
            body += f"<h2>{escape(n.word('t.' + attr))}</h2>" + _section(_table(df, shown, n, s["plant"]))
    html_lang = "zh-CN" if n.lang == "zh" else "en"
    return (
        f"<!doctype html><html lang='{html_lang}'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        "<link rel='stylesheet' href='/static/report.css'></head><body>"
        f"<h1>{escape(title)}</h1>{_head(s, n)}{body}</body></html>"
    )


def _head(s: Mapping[str, Any], n: Names) -> str:
    w, sep = n.word, n.word("sep")
    return (
        f"<p>{w('timezone')} {escape(s['timezone'])} · {escape(s['start'])} – {escape(s['end'])} ·"
        f" {w('days_closed')}{sep}{s['days_closed']} / {s['days']}</p><p>{w('exceeded_days')}{sep}"
        f"<b>{s['exceeded_days']}</b> ({s['series_exceeded']} {w('series')}) · {w('exceeded_hours')}{sep}"
        f"{s['exceeded_hours']} · {w('breach_alerts')}{sep}{s['breach_alerts']} · {w('incidents')}{sep}"
        f"{s['incidents']} · {w('effective_rate')}{sep}{_pct(s['effective_rate'])} · {w('reuse_below')}{sep}"
        f"{s['reuse_days_below_target']} / {s['reuse_days_judged']}</p>"
    )


def _named(name: str, code: str) -> str:
    """A name with its code small beside it (the code alone when it has no other name)."""
    if not code or name == code:
        return escape(code or "–")
    return f"{escape(name)} <small class='code'>{escape(code)}</small>"


def cell(col: str, r: Mapping[str, Any], n: Names, scope_plant: str | None = None) -> str:
    """One table cell's content in the page's language."""
    v = r.get(col)
    if _missing(v):
        return "–"
    plant = str(r.get("plant") or scope_plant or "")
    if col == "plant":
        return _named(n.plants.get(str(v), str(v)), str(v))
    if col == "point":
        return _named(n.points.get((plant, str(v)), str(v)), str(v))
    if col == "points":
        return ", ".join(_named(n.points.get((plant, p), p), p) for p in str(v).split(", ") if p)
    if col == "parameter":
        return _named(n.parameter(str(v)), str(v)) if v else "–"
    if col == "code":
        return _named(n.marks.get(str(v), str(v)), str(v))
    if col == "id" and r.get("level") == "plant":
        return _named(n.plants.get(str(v), str(v)), str(v))
    if col == "id" and r.get("level") == "point":
        return _named(n.points.get((plant, str(v)), str(v)), str(v))
    if col in WORDED:
        return escape(n.word(f"{WORDED[col]}.{v}"))
    if col == "outcome":
        return escape(outcome(r, n))
    if col in BOOLEAN and isinstance(v, bool):
        return n.word("yes" if v else "no")
    if col in RATES:
        return _pct(v)
    return _fmt(v)


def outcome(r: Mapping[str, Any], n: Names) -> str:
    """The incident's outcome as api/reports.py put it, in the page's language."""
    if str(r.get("outcome", "")).startswith("withdrawn"):
        return n.word("o.withdrawn")
    state = str(r.get("state"))
    if state == "resolved":
        by = r.get("resolved_by")
        return n.word("o.resolved_by").format(by=by) if by else n.word("o.resolved")
    return n.word(f"o.{state}") if f"o.{state}" in WORDS[n.lang] else state


def _section(content: str, heading: str = "", level: int = 3) -> str:
    """A part of the page the browser lays out only when it comes near the screen (content-visibility
    in report.css): a park's day is some 1,400 rows, its month some 40,000 cells."""
    head = f"<h{level}>{heading}</h{level}>" if heading else ""
    return f"<section class='part'>{head}{content}</section>"


def _by_plant(df: pd.DataFrame, cols: Sequence[str], n: Names) -> str:
    """A park's rows a section per plant, the plant's name its heading (in the report's order)."""
    shown = [c for c in cols if c != "plant"]
    return "".join(
        _section(_table(rows, shown, n, str(plant)), _named(n.plants.get(str(plant), str(plant)), str(plant)))
        for plant, rows in df.groupby("plant", sort=False)
    )


def _table(df: pd.DataFrame, cols: Sequence[str], n: Names, scope_plant: str | None) -> str:
    head = "".join(f"<th>{escape(n.word(c))}</th>" for c in cols)
    rows = []
    for rec in df.to_dict(orient="records"):
        r = {str(k): v for k, v in rec.items()}
        bad = r.get("verdict") == "exceeded" or bool(r.get("exceeded_days")) or bool(r.get("breach_alerts"))
        bad = bad or r.get("below_target") is True
        cls = ' class="bad"' if bad else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{cell(c, r, n, scope_plant)}</td>" for c in cols) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _pivot(daily: pd.DataFrame, n: Names, by_plant: bool) -> str:
    """The month's daily means on one line per series, one column per day; exceeded days marked; a
    park's series a section per plant. One pass over the rows in order (pandas' groupby with
    itertuples per series took 13 s for a park's month)."""
    keys = ["part", "plant", "point", "parameter"]
    cols = [*keys, "unit", "date", "mean", "verdict", "limit_upper"]
    rows: Iterator[Any] = daily[cols].sort_values([*keys, "date"]).itertuples(index=False)
    out, series_key, w = [], attrgetter("plant", "point", "parameter"), n.word
    for part, in_part in itertools.groupby(rows, key=attrgetter("part")):
        series = [list(s) for _k, s in itertools.groupby(in_part, key=series_key)]
        days = sorted({r.date for s in series for r in s})
        head = f"<th>{w('point')}</th><th>{w('parameter')}</th><th>{w('limit')}</th>"
        head += "".join(f"<th>{d.day}</th>" for d in days)
        out.append(f"<h3>{escape(str(part))}</h3>")
        # a section per plant, named in its heading; else one section with a plant column ("")
        groups = itertools.groupby(series, key=lambda s: s[0].plant) if by_plant else [("", iter(series))]
        for plant, of_plant in groups:
            body = "".join(_pivot_row(s, days, n, with_plant=not plant) for s in of_plant)
            th = head if plant else f"<th>{w('plant')}</th>{head}"
            table = f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
            out.append(_section(table, _named(n.plants.get(plant, plant), plant) if plant else "", level=4))
    return "".join(out)


def _pivot_row(series: list[Any], days: list[Any], n: Names, with_plant: bool) -> str:
    first, cells = series[0]._asdict(), {r.date: r for r in series}
    limits = [r.limit_upper for r in series if not pd.isna(r.limit_upper)]
    return (
        "<tr>"
        + (f"<td>{cell('plant', first, n)}</td>" if with_plant else "")
        + f"<td>{cell('point', first, n)}</td>"
        f"<td>{cell('parameter', first, n)} ({escape(str(first['unit']))})</td>"
        f"<td>{_fmt(float(limits[-1]) if limits else None)}</td>"
        + "".join(_day_cell(cells.get(d)) for d in days)
        + "</tr>"
    )


def _day_cell(r: Any) -> str:
    if r is None:
        return "<td></td>"
    cls = ' class="bad"' if r.verdict == "exceeded" else ' class="na"' if r.verdict != "ok" else ""
    return f"<td{cls}>{_fmt(r.mean)}</td>"


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and bool(pd.isna(v)))


def _pct(v: object) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, int | float) and not _missing(v) else _fmt(v)


def _fmt(v: object) -> str:
    if _missing(v):
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M")
    return escape(str(v))
