"""The Chinese text chat robots post: per alert change its kind, severity and event, the plant, point and
parameter by name, the value against its limit with the unit (and the exceedance multiple, 超标倍数 =
(value - limit) / limit), and the park-local time. Pure: a delivery's payload in, a robots.Message out.

A message carries one plant's alert changes, or, as a digest (汇总), the changes of several deliveries
that a robot's rate limit made wait (compliance/digest.py); either way every change is one block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from compliance import robots
from ingest.core import parameters

KIND_ZH = {
    "exceedance": "超标",
    "hourly_mean": "小时均值超标",
    "daily_mean": "日均值超标",
    "offline": "数据中断（离线）",
    "instrument_fault": "仪器故障",
    "over_range": "超量程",
    "implausible": "数据异常（不合理值）",
    "flatline": "数据恒值",
    "rate_of_change": "数据突变",
    "reuse_ratio": "回用率不达标",
    "mass_balance": "水量不平衡",
    "integrity": "数据被改写",
}
SEVERITY_ZH = {"warning": "预警", "violation": "报警", "critical": "严重"}
EVENT_ZH = {
    "opened": "新发生",
    "escalated": "升级",
    "resolved": "已解除",
    "repeat": "仍未处理（重复提醒）",
    "unmuted": "抑制结束，现通知",
}
# A concentration judged against an upper limit: the multiple over it is what officers quote.
MULTIPLE_KINDS = frozenset({"exceedance", "hourly_mean", "daily_mean", "over_range"})
NAME_MAX = 40  # characters of a name shown: a long name cannot push a block over a robot's size limit

Alert = Mapping[str, Any]


def message(
    channel: str, payload: Mapping[str, Any], alerts: Sequence[Alert], mention: Sequence[str] = ()
) -> robots.Message:
    """The message for ``alerts`` (a delivery's, or a digest's), in ``channel``'s flavour: markdown, but
    plain text for Feishu's text message and for WeCom's text message (the one that can mention)."""
    markdown = channel == robots.DINGTALK or (channel == robots.WECOM and not mention)
    park = _short(payload.get("park_name") or payload.get("park"))
    plants = sorted({str(a.get("plant")) for a in alerts})
    if len(plants) == 1:
        head = alerts[0]
        what = KIND_ZH.get(str(head.get("kind")), str(head.get("kind"))) if len(alerts) == 1 else "报警"
        title = f"【{what}】{park} {_name(head, 'plant')}"
        if len(alerts) > 1:
            title += f"：{len(alerts)} 条报警变化"
    else:
        title = f"【报警汇总】{park}：{len(plants)} 家企业 {len(alerts)} 条报警变化"
    zone = str(payload.get("timezone") or "Asia/Shanghai")
    ordered = sorted(alerts, key=lambda a: (str(a.get("plant")), _int(a.get("change"))))
    # DingTalk's markdown breaks a line only after two spaces (or a blank line)
    br = "  \n" if channel == robots.DINGTALK else "\n"
    blocks = [_block(a, zone, markdown, br) for a in ordered]
    head_line = f"### {title}" if markdown else title
    return robots.Message(title, "\n\n".join([head_line, *blocks]), tuple(mention))


def _block(a: Alert, zone: str, markdown: bool, br: str) -> str:
    kind = str(a.get("kind"))
    sev = SEVERITY_ZH.get(str(a.get("severity")), str(a.get("severity")))
    event = EVENT_ZH.get(str(a.get("event")), str(a.get("event")))
    first = f"{sev}｜{KIND_ZH.get(kind, kind)}｜{event}（报警编号 {a.get('id')}）"
    where = " · ".join(p for p in (_name(a, "plant"), _name(a, "point"), _parameter(a)) if p)
    lines = [first, where, _figures(a), _when(a, zone)]
    lines = [line for line in lines if line]
    if markdown:
        return br.join([f"**{first}**", *(f"> {line}" for line in lines[1:])])
    return br.join([f"▶ {first}", *(f"  {line}" for line in lines[1:])])


def _figures(a: Alert) -> str:
    value, limit, lower = _num(a.get("value")), _num(a.get("limit")), _num(a.get("limit_lower"))
    unit = str(a.get("unit") or "")
    unit = "" if unit in ("", "pH") else f" {unit}"  # pH is dimensionless
    parts = []
    if value is not None:
        parts.append(f"监测值 {_fmt(value)}{unit}")
    if lower is not None and limit is not None:
        parts.append(f"限值 {_fmt(lower)}–{_fmt(limit)}{unit}")
    elif limit is not None:
        parts.append(f"限值 {_fmt(limit)}{unit}")
    elif lower is not None:
        parts.append(f"下限 {_fmt(lower)}{unit}")
    peak = _num(a.get("peak"))
    if peak is not None and value is not None and peak != value:
        parts.append(f"峰值 {_fmt(peak)}{unit}")
    if str(a.get("kind")) in MULTIPLE_KINDS and value is not None and limit and value > limit > 0:
        multiple = (value - limit) / limit
        parts.append(f"超标 {multiple:.2f} 倍" if multiple < 1e9 else f"超标 {_fmt(multiple)} 倍")
    return "，".join(parts)


def _when(a: Alert, zone: str) -> str:
    tz = ZoneInfo(zone)
    label = "北京时间" if zone in ("Asia/Shanghai", "Asia/Chongqing", "PRC") else zone

    def local(key: str) -> str | None:
        raw = a.get(key)
        if not raw:
            return None
        t = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        return t.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")

    opened, last = local("opened_at"), local("last_time")
    text = f"发生时间 {opened}" if opened else ""
    if last and last != opened:
        text += f"，最近数据 {last}"
    if a.get("event") == "resolved" and local("resolved_at"):
        text += f"，解除时间 {local('resolved_at')}"
    return f"{text}（{label}）"


def _name(a: Alert, what: str) -> str:
    names = a.get("names")
    code = str(a.get(what) or "")
    name = names.get(what) if isinstance(names, Mapping) else None
    if not code:
        return ""
    return f"{_short(name)}（{code}）" if name and name != code else _short(code)


def _parameter(a: Alert) -> str:
    code = str(a.get("parameter") or "")
    p = parameters.BY_CODE.get(code)
    return f"{p.name_zh}（{code}）" if p else code


def _short(value: object) -> str:
    text = str(value or "")
    return text if len(text) <= NAME_MAX else text[: NAME_MAX - 1] + "…"


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _fmt(v: float, decimals: int = 2) -> str:
    """A figure as officers write it: 2 decimals from 1 up, 4 significant digits below, and no
    trailing zeros; a broken instrument's absurd figure in exponent form, so it stays short."""
    if v != 0 and not 1e-4 <= abs(v) < 1e9:
        return f"{v:.4g}"
    text = f"{v:.{decimals}f}" if abs(v) >= 1 else f"{v:.4g}"
    return text.rstrip("0").rstrip(".") if "." in text else text
