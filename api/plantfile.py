"""One file per plant (一企一档): the response models of ``GET /parks/{park}/plants/{plant}/file`` and
the pure presentation over the rows its route gathers from their owners. Every figure here is what the
owners recorded or decided (limits and their sources: compliance/limits.py; KPIs: compliance/kpis.py
through api/record.py; alerts and marks: compliance); nothing is judged again."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from api.models import Alert, LoggerQuirk, MarkView, Parameter
from api.record import Kpi, KpiItem
from compliance import limits, rules
from compliance.repo.reads import LimitPeriod
from ingest.core import reads as ingest_reads
from ingest.core import secrets
from ingest.hj212 import codec, commands

MONTHS_DEFAULT, MONTHS_MAX = 12, 36


class PlantInfo(BaseModel):
    id: str
    name: str  # as registered (the park file's name)
    name_zh: str | None  # the name split into its Chinese and English parts (`电镀一厂 (Plating One)`)
    name_en: str | None
    kind: str  # enterprise | central_plant
    industry: str  # the park's
    discharge_modes: list[str]  # of its active points: direct | indirect


class ParkInfo(BaseModel):
    id: str
    name: str
    timezone: str
    industry: str


class PermitEntry(BaseModel):
    """A permit override of the park file (`config.permits`) for this plant."""

    ref: str  # the permit's number
    point: str | None  # null: every point measuring the parameter
    parameter: str
    upper: float | None
    lower: float | None
    valid_from: date | None  # park-local days; null: open
    valid_to: date | None


class LimitSource(BaseModel):
    kind: Literal["standard", "permit", "other"]
    label: str  # as compliance stored it with the limit
    standard: str | None = None  # catalogue id, e.g. GB21900-2008-T2
    title: str | None = None
    table: str | None = None
    url: str | None = None
    note: str | None = None  # a value other than the table's own (batik, amendment note)
    permit: str | None = None  # the permit's number


class LimitPeriodView(BaseModel):
    """A limit compliance resolved (the strictest of standard and permits) and the period it is in
    force for (UTC; null: open)."""

    valid_from: datetime | None
    valid_to: datetime | None
    upper: float | None
    lower: float | None
    unit: str
    not_detected: bool  # 不得检出
    in_force: bool  # now
    sources: list[LimitSource]


class ParameterFile(Parameter):
    limits: list[LimitPeriodView]  # periods overlapping the file's months, oldest first


class ClockDrift(BaseModel):
    """Derived, not measured: nothing stores a logger's clock offset. Per message stored in the last
    `window_s` (first sendings only): the time it carries minus when it was stored. The time is the
    HJ 212 QN, which the logger stamps when it builds the frame, where there is one (as the gateway
    judges drift for CN 1012), else the data time. A QN's difference is the clock's lead less the delay
    on the way (network: well under a second), so `ahead_s` is the median over the QNs: how far the
    logger's clock runs ahead of the server's; negative: behind. A data time is when the value was
    measured, at or before the frame was sent: its difference only bounds the lead from below, and an
    hour sent late (a backfill after an outage) would read as a clock hours behind. Without QNs,
    `ahead_s` is therefore the largest difference (the message sent soonest after its data time)."""

    ahead_s: float
    min_s: float
    max_s: float
    messages: int
    basis: Literal["qn", "data_time", "mixed"]
    window_s: int


class Sm4Key(BaseModel):
    """The logger's HJ 212-2025 SM4 key as the secret store holds it: which generation, never the key."""

    generation: int  # the current key's
    issued_at: datetime
    older_live_until: datetime | None  # a rotation's overlap: older generations accepted until then
    pending_generation: int | None  # a rotation's key sent and not yet confirmed


class LoggerFile(BaseModel):
    mn: str | None
    edition: str | None  # HJ 212 edition configured for it (park file `config.hj212`); null: no MN
    edition_seen: str | None  # of its newest HJ 212 frame stored; null: none in the window
    transport: str | None  # how its newest message came: mqtt-json, mqtt-hj212, tcp-hj212
    last_seen: datetime | None  # data time of its newest reading, or its newest CN 9015 heartbeat
    last_message_at: datetime | None  # when its newest message was stored
    last_heartbeat: datetime | None
    quirks: list[LoggerQuirk]
    clock: ClockDrift | None  # null: no first-sent reading stored in the window
    sm4: Sm4Key | None  # 2025 loggers with a key


class PointFile(BaseModel):
    id: str
    name: str
    kind: str
    discharge_mode: str
    standard: str | None
    mn: str | None
    interval_s: int
    active: bool
    parameters: list[ParameterFile]
    logger: LoggerFile


class Closed(BaseModel):
    """An alert's latest change to resolved, from its audit log."""

    at: datetime
    by: str
    action: str  # resolve | withdraw (a data mark)
    note: str | None


class Incident(BaseModel):
    """An alert with its outcome: open, acknowledged, cleared (the condition ended, not yet resolved),
    resolved, or withdrawn (resolved by compliance because a data mark made its data invalid)."""

    outcome: Literal["open", "acknowledged", "cleared", "resolved", "withdrawn"]
    withdrawn_by_marks: list[int]
    closed: Closed | None = None  # resolved or withdrawn: who closed it, when, with which note
    alert: Alert


class Incidents(BaseModel):
    open: list[Incident]  # active now, whenever opened
    recent: list[Incident]  # opened or still active in the file's months, newest first
    truncated: bool  # more recent alerts than the file lists (see GET /alerts)


class MonthFile(BaseModel):
    month: str  # YYYY-MM, park-local
    start: datetime
    end: datetime
    days_closed: int  # of its days compliance has closed (the KPIs cover those)
    kpi: Kpi
    points: list[KpiItem]
    report: str  # the monthly report
    last_daily_report: str | None  # the daily report of its last closed day


class ReportLinks(BaseModel):
    daily: str  # a template: {day} is a park-local YYYY-MM-DD
    monthly: str  # {month} is YYYY-MM


class PlantFile(BaseModel):
    park: ParkInfo
    plant: PlantInfo
    as_of: datetime
    since: datetime = Field(description="the start of the first month covered")
    months: int
    permits: list[PermitEntry]
    points: list[PointFile]
    marks: list[MarkView]  # overlapping the months covered, newest first
    marks_truncated: bool
    incidents: Incidents
    kpis: list[MonthFile]  # oldest first
    reports: ReportLinks


# --- pure presentation ------------------------------------------------------------------------------
_BILINGUAL = re.compile(r"^(?P<zh>.*?)\s*[(（](?P<en>[\x20-\x7e]+)[)）]$")
_CJK = re.compile(r"[\u3400-\u9fff]")


def names(name: str) -> tuple[str | None, str | None]:
    """A registered name as its Chinese and English parts: `电镀一厂 (Plating One)` gives both, a name
    in Chinese characters is the Chinese one, any other the English one."""
    m = _BILINGUAL.match(name.strip())
    if m and _CJK.search(m["zh"]):
        return m["zh"], m["en"].strip()
    return (name, None) if _CJK.search(name) else (None, name)


def month_starts(now: datetime, tz: ZoneInfo, months: int) -> list[date]:
    """The first days of the park-local months ending with the current one, oldest first."""
    today = rules.local_day_of(now, tz)
    index = today.year * 12 + today.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - months + 1, index + 1)]


def permit_entries(config: dict[str, object], plant: str) -> list[PermitEntry]:
    return [
        PermitEntry(
            ref=p.ref,
            point=p.point,
            parameter=p.parameter,
            upper=p.upper,
            lower=p.lower,
            valid_from=p.start,
            valid_to=p.end,
        )
        for p in limits.permits(config, plant)
    ]


def limit_view(row: LimitPeriod, unit: str, now: datetime) -> LimitPeriodView:
    in_force = (row.valid_from is None or row.valid_from <= now) and (
        row.valid_to is None or now < row.valid_to
    )
    return LimitPeriodView(
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        upper=row.upper,
        lower=row.lower,
        unit=unit,
        not_detected=row.not_detected,
        in_force=in_force,
        sources=[LimitSource(**asdict(s)) for s in limits.sources(row.source)],
    )


def _offset(m: ingest_reads.MessageStamp, tz: ZoneInfo) -> tuple[float, str]:
    """How far the logger's clock was ahead when it sent ``m`` (s), and by which of its times."""
    if m.qn:
        try:
            received = m.received_at.astimezone(tz).replace(tzinfo=None)
            return commands.drift(m.qn, received).total_seconds(), "qn"
        except codec.HJ212Error:
            pass  # a QN that is not a time: the data time, then
    return (m.time - m.received_at).total_seconds(), "data_time"


def clock(stamps: Sequence[ingest_reads.MessageStamp], tz: ZoneInfo, window_s: int) -> ClockDrift | None:
    if not stamps:
        return None
    found = [_offset(m, tz) for m in stamps]
    values = [v for v, _ in found]
    bases = {b for _, b in found}
    basis: Literal["qn", "data_time", "mixed"] = (
        "mixed" if len(bases) > 1 else "qn" if "qn" in bases else "data_time"
    )
    by_qn = [v for v, b in found if b == "qn"]
    ahead = statistics.median(by_qn) if by_qn else max(values)
    return ClockDrift(
        ahead_s=round(ahead, 3),
        min_s=round(min(values), 3),
        max_s=round(max(values), 3),
        messages=len(values),
        basis=basis,
        window_s=window_s,
    )


def sm4_key(current: Sequence[secrets.Generation], pending: Sequence[secrets.Generation]) -> Sm4Key | None:
    """``current``: the live generations of the logger's ``sm4`` secret, newest first; ``pending``: of
    its ``sm4-next``."""
    if not current:
        return None
    older = [g.not_after for g in current[1:] if g.not_after is not None]
    return Sm4Key(
        generation=current[0].generation,
        issued_at=current[0].created_at,
        older_live_until=max(older) if older else None,
        pending_generation=pending[0].generation if pending else None,
    )


def edition_seen(message: ingest_reads.LastMessage | None) -> str | None:
    if message is None or "hj212" not in message.source:
        return None
    return codec.edition_of_flag(message.flag)


def transport(message: ingest_reads.LastMessage | None) -> str | None:
    return None if message is None else message.source.split(":", 1)[0]


def outcome(
    alert: Alert, withdrawn: bool
) -> Literal["open", "acknowledged", "cleared", "resolved", "withdrawn"]:
    if alert.state == "resolved" and withdrawn:
        return "withdrawn"
    return alert.state


def latest(*times: datetime | None) -> datetime | None:
    found = [t for t in times if t is not None]
    return max(found) if found else None
