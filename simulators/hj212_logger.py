"""The pure side of a simulated HJ 212 data logger (数采仪): what it sends besides real-time data.

A real logger uploads real-time values (CN 2011) at the instrument interval and, from the values it has
sent, its own minute (2051) and hourly (2061) records: per factor Min/Avg/Max and Cou, DataTime = the
start of the interval in park-local time (HJ 212-2017 Table 4; Annex D.1). ``LoggerStream`` turns the
simulator's real-time frames into that upload sequence and stamps each frame as a TCP logger sends it:
Flag asks for a reply (5 for 2017, 1 for 2005) and every frame gets its own QN, so a 9014 names exactly
one upload. ``answer_history`` is its answer to the platform's back-fill request (补传).

Aggregation (Annex D.1, wastewater): a minute record holds the arithmetic mean of the real-time values,
their min and max; volume per value is Q (L/s) x interval (s) / 1000 m3 and mass is volume x C / 1000
(kg for mg/L, g for µg/L: ingest scales it back by the same unit factor). An hour aggregates its minute
records (mean of the minute means, sum of the totals). Any abnormal flag in an interval flags its record
(the notes to Annex C Tables C.16-C.18). No sockets, no clock: times come from the frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ingest.core import parameters, units
from ingest.core.models import ParkSpec, PointSpec
from ingest.hj212 import codec as hj212
from simulators.credentials import DEFAULT_PW
from simulators.records import Message

MINUTE, HOUR = "2051", "2061"
STAT_FIELDS = ("Cou", "Min", "Avg", "Max")


@dataclass
class Summary:
    """One factor over one interval: the statistic fields and the interval's flag."""

    low: float
    high: float
    total: float  # sum of values (minutes) or of minute means (hours)
    n: int
    cou: float | None
    flag: str

    def fields(self) -> dict[str, float | str]:
        out: dict[str, float | str] = {}
        if self.cou is not None:
            out["Cou"] = _round(self.cou)
        out |= {"Min": _round(self.low), "Avg": _round(self.total / self.n), "Max": _round(self.high)}
        out["Flag"] = self.flag
        return out


def _round(value: float) -> float:
    # Six significant digits keep frames short and are finer than any instrument; fixed decimals
    # would flatten the small interval masses (kg) of trace metals to zero.
    return float(f"{value:.6g}")


def _worse(flag: str, other: str) -> str:
    return flag if flag != "N" else other


@dataclass
class Window:
    start: datetime  # park-local, naive: the record's DataTime
    factors: dict[str, Summary] = field(default_factory=dict)


@dataclass
class Logger:
    """One MN's open minute and hour windows."""

    point: PointSpec
    minute: Window | None = None
    hour: Window | None = None
    qn: int = 0
    edition: int = hj212.VERSION_2017


class LoggerStream:
    """Real-time frames in (Messages on ``outfall/hj212/{MN}``), the logger's uploads out."""

    def __init__(
        self,
        park: ParkSpec,
        min_interval: timedelta,
        aggregate: bool = True,
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        if (
            not timedelta(minutes=1) <= min_interval <= timedelta(hours=1)
            or timedelta(hours=1) % min_interval
        ):
            raise ValueError(
                "the minute-data interval must divide the hour (1, 2, 3, 4, 5, 6, 10 ... 60 min)"
            )
        self.zone = ZoneInfo(park.timezone)
        self.step = min_interval
        self.aggregate = aggregate
        self.passwords = dict(passwords or {})  # MN -> PW (simulators.credentials)
        self.loggers = {pt.mn: Logger(pt) for plant in park.plants for pt in plant.points if pt.mn}

    def run(self, messages: Iterable[Message], until: datetime | None = None) -> Iterator[Message]:
        """Every real-time frame re-stamped for TCP, the records of each interval once it has closed;
        at the end the intervals that closed by ``until`` (all of them without ``until``)."""
        for msg in messages:
            try:
                frame = hj212.decode(msg.payload)
            except hj212.HJ212Error:
                yield msg  # a frame the line garbled goes out as it is; nobody will answer it
                continue
            logger = self.loggers.get(frame.mn)
            if logger is None or frame.cn != "2011" or frame.data_time is None:
                yield msg
                continue
            when = hj212.local_time(frame.data_time)
            if self.aggregate:
                yield from self._close(logger, frame.mn, when)
                self._add(logger, frame, when)
            yield self._stamped(logger, frame, msg.sim_time)
        horizon = None if until is None else until.astimezone(self.zone).replace(tzinfo=None)
        for mn, logger in self.loggers.items():
            yield from self._close(logger, mn, horizon)

    # --- windows ------------------------------------------------------------------------------------
    def _add(self, logger: Logger, frame: hj212.Frame, when: datetime) -> None:
        start = when - (when - when.replace(minute=0, second=0, microsecond=0)) % self.step
        start = start.replace(microsecond=0)
        if logger.minute is None:
            logger.minute = Window(start)
        if start < logger.minute.start:
            return  # late value of a closed interval: the logger has already uploaded that record
        volume = self._volume(logger.point, frame)
        for code, fields in frame.factors.items():
            value, flag = fields.get("Rtd"), fields.get("Flag", "N")
            if not isinstance(value, float) or not isinstance(flag, str):
                continue
            cou = self._cou(logger.point, code, value, volume)
            old = logger.minute.factors.get(code)
            if old is None:
                logger.minute.factors[code] = Summary(value, value, value, 1, cou, flag)
                continue
            old.low, old.high, old.total, old.n = (
                min(old.low, value),
                max(old.high, value),
                old.total + value,
                old.n + 1,
            )
            old.cou = None if old.cou is None or cou is None else old.cou + cou
            old.flag = _worse(old.flag, flag)

    def _volume(self, point: PointSpec, frame: hj212.Frame) -> float | None:
        """m3 that passed in one real-time interval, from the frame's flow value (None: no flow here)."""
        for code, fields in frame.factors.items():
            param = parameters.BY_ALIAS.get(code) or parameters.BY_2005.get(code)
            rtd = fields.get("Rtd")
            if param is not None and param.code == "flow" and isinstance(rtd, float):
                litres_per_s = rtd * units.factor(point.parameters["flow"], "L/s")
                return litres_per_s * point.interval_s / 1000
        return None

    @staticmethod
    def _cou(point: PointSpec, code: str, value: float, volume: float | None) -> float | None:
        param = parameters.BY_ALIAS.get(code) or parameters.BY_2005.get(code)
        if param is None or volume is None:
            return None
        if param.code == "flow":
            return volume
        try:
            units.factor(point.parameters.get(param.code, ""), "mg/L")
        except units.UnitError:
            return None  # pH, temperature, conductivity: no mass
        return volume * value / 1000

    def _close(self, logger: Logger, mn: str, now: datetime | None) -> Iterator[Message]:
        """Upload the minute record, then the hour's, of every interval that ended by ``now`` (None:
        all). A value at ``now`` means every interval ending at or before it is complete."""
        minute = logger.minute
        if minute is not None and (now is None or minute.start + self.step <= now):
            logger.minute = None
            if minute.factors:
                yield self._record(logger, mn, MINUTE, minute, minute.start + self.step)
                self._into_hour(logger, minute)
        hour = logger.hour
        if hour is not None and (now is None or hour.start + timedelta(hours=1) <= now):
            logger.hour = None
            yield self._record(logger, mn, HOUR, hour, hour.start + timedelta(hours=1))

    def _into_hour(self, logger: Logger, minute: Window) -> None:
        start = minute.start.replace(minute=0, second=0)
        if logger.hour is None or logger.hour.start != start:
            logger.hour = Window(start)
        for code, m in minute.factors.items():
            mean = m.total / m.n
            h = logger.hour.factors.get(code)
            if h is None:
                logger.hour.factors[code] = Summary(m.low, m.high, mean, 1, m.cou, m.flag)
                continue
            h.low, h.high, h.total, h.n = min(h.low, m.low), max(h.high, m.high), h.total + mean, h.n + 1
            h.cou = None if h.cou is None or m.cou is None else h.cou + m.cou
            h.flag = _worse(h.flag, m.flag)

    def _record(self, logger: Logger, mn: str, cn: str, window: Window, end: datetime) -> Message:
        factors: hj212.Factors = {code: s.fields() for code, s in window.factors.items()}
        frame = hj212.Frame(
            st="32", cn=cn, mn=mn, pw=self.passwords.get(mn, DEFAULT_PW), flag=None, factors=factors,
            other={"DataTime": hj212.format_time(window.start)},
        )  # fmt: skip
        return self._stamped(logger, frame, end.replace(tzinfo=self.zone))

    def _stamped(self, logger: Logger, frame: hj212.Frame, sim_time: datetime) -> Message:
        """The frame as this logger uploads it over TCP: a reply asked for, a QN of its own. Records
        follow the edition of the logger's real-time frames (2005 ones carry no Flag: version 0)."""
        if frame.cn == "2011":
            logger.edition = frame.version
        logger.qn += 1
        local = sim_time.astimezone(self.zone).replace(tzinfo=None)
        qn = hj212.format_time(local) + f"{logger.qn % 1000:03d}"
        stamped = replace(frame, qn=qn, flag=logger.edition << 2 | hj212.FLAG_REPLY)
        return Message(f"outfall/hj212/{frame.mn}", b"".join(packets(stamped)), sim_time)


def packets(frame: hj212.Frame) -> list[bytes]:
    """One frame, or split packets (PNUM/PNO, each with the DataTime) when it is over 1024 characters."""
    try:
        return [hj212.encode(frame)]
    except hj212.HJ212Error:
        if len(frame.factors) < 2:
            raise
    codes = list(frame.factors)
    for parts in range(2, len(codes) + 1):
        size = math.ceil(len(codes) / parts)
        chunks = [codes[i : i + size] for i in range(0, len(codes), size)]
        flag = (frame.flag or 0) | hj212.FLAG_SPLIT
        try:
            return [
                hj212.encode(
                    replace(
                        frame,
                        flag=flag,
                        pnum=len(chunks),
                        pno=n,
                        factors={c: frame.factors[c] for c in chunk},
                    )
                )
                for n, chunk in enumerate(chunks, 1)
            ]
        except hj212.HJ212Error:
            continue
    raise hj212.HJ212Error("a single factor does not fit in one frame")


def answer_history(request: hj212.Frame, history: dict[tuple[str, datetime], bytes]) -> list[bytes]:
    """The logger's answer to a history request (CN 2051/2061/2031 with BeginTime/EndTime): 9011
    (QnRtn=1), every stored record whose interval starts within the range, 9012 (ExeRtn=1, or 100 when
    it has none). The records are the bytes it uploaded, re-stamped with a fresh QN when they carry one."""
    begin = hj212.local_time(request.other["BeginTime"], "BeginTime")
    end = hj212.local_time(request.other["EndTime"], "EndTime")
    found = sorted(
        (start, raw) for (cn, start), raw in history.items() if cn == request.cn and begin <= start <= end
    )
    flag = request.version << 2
    qn_base = request.qn or request.other["BeginTime"]

    def notice(cn: str, other: dict[str, str]) -> bytes:
        return hj212.encode(
            hj212.Frame(st="91", cn=cn, mn=request.mn, qn=request.qn, pw=request.pw, flag=flag, other=other)
        )

    out = [notice("9011", {"QnRtn": "1"})]
    for n, (_start, raw) in enumerate(found, 1):
        out += [
            _requeued(packet + b"\r\n", f"{qn_base[:14]}{n % 1000:03d}")
            for packet in raw.split(b"\r\n")
            if packet
        ]
    out.append(notice("9012", {"ExeRtn": "1" if found else "100"}))
    return out


def _requeued(packet: bytes, qn: str) -> bytes:
    """A stored upload sent again: a fresh QN (if it had one) so its 9014 is told from the first one's;
    an HJ 212-2025 one marked ``RF=1`` (re-sent data, 补传)."""
    frame = hj212.decode(packet)
    if frame.version == hj212.VERSION_2025:
        frame = replace(frame, extra_header={**frame.extra_header, "RF": "1"})
    elif frame.qn is None:
        return packet
    return hj212.encode(replace(frame, qn=qn if frame.qn else None))
