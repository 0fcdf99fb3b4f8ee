"""HJ 212 frames into Outfall records: readings (2011 real-time), logger statistics (2051/2061/2031),
equipment status (2021), and from HJ 212-2025 the heartbeat (9015) and standard-sample checks (2062).

Pure: a decoded frame and the registry point of its MN in, COPY text or a reason out. Real-time values
are readings; the logger's own minute, hourly and daily aggregates go to ``logger_statistics``, never
into the raw series. Values are converted from the instrument's unit to the catalogue unit, DataTime
(park-local, no zone) to UTC. A frame is not thrown away for one bad factor: the good values are kept
and ``Accepted.note`` says which were not, so the caller can keep the frame as a dead letter too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ingest.core import decoded, parameters
from ingest.core.decoded import DEFAULT_MAX_SKEW, RawKey, Rejected, StatusRow, copy_line, time_problem
from ingest.core.models import FLAGS, RegistryPoint
from ingest.core.secrets import Verifier
from ingest.hj212 import codec

TOPIC_PREFIX = "outfall/hj212/"
SOURCE_MQTT = "mqtt-hj212"
SOURCE_TCP = "tcp-hj212"
# RF=1 (HJ 212-2025): re-sent data keeps its origin in the readings' source, e.g. "tcp-hj212:backfill";
# the readings' key drops it when the first sending was stored.
BACKFILL = ":backfill"
HEARTBEAT = "9015"
SAMPLE_CHECK = "2062"
REALTIME = "2011"
STATUS = "2021"
PERIODS = {"2051": "minute", "2061": "hour", "2031": "day"}
# Protocol chatter and status: decoded, nothing to store.
CHATTER = frozenset({"8013", "9011", "9012", "9013", "9014", "1011", "1013", "2081"})


@dataclass(frozen=True)
class Accepted(decoded.Accepted):
    """Readings as COPY text (as JSON v1), plus logger statistics and a note on anything not stored."""

    stats_text: bytes = b""
    stats_count: int = 0
    note: str | None = None
    status: tuple[StatusRow, ...] = ()
    heartbeat: bool = False  # a CN 9015 heartbeat: the logger is alive
    checks: tuple[SampleCheck, ...] = ()
    # set over MQTT, where the worker records them outside the batch: the logger's point, MN and quirks
    point_id: int | None = None
    mn: str = ""
    quirks: tuple[str, ...] = ()


@dataclass(frozen=True)
class SampleCheck:
    """One factor's result of a CN 2062 standard-sample check (HJ 212-2025), fields as sent."""

    point_id: int
    factor: str  # HJ 212-2017 code
    time: datetime  # DataTime, UTC
    fields: dict[str, float | str]
    source: str


PW_MISMATCH = "HJ 212 PW does not match"


@dataclass(frozen=True)
class PwRule:
    """The logger's PW against the secret store: one rule wherever a frame arrives (the TCP gateway,
    raw frames over MQTT). ``passwords`` holds the live ``hj212-pw`` hashes by MN (every generation
    of a rotation's overlap); ``require``: an MN with none registered is refused too."""

    passwords: Verifier
    require: bool = True

    def refusal(self, frame: codec.Frame) -> str | None:
        """Why the frame's PW is not accepted, or None when it is."""
        if not self.passwords.known(frame.mn):
            return f"no HJ 212 PW registered for MN {frame.mn}" if self.require else None
        if frame.pw is None or not self.passwords.check(frame.mn, frame.pw):
            return PW_MISMATCH
        return None


def topic_mn(topic: str) -> str | None:
    if not topic.startswith(TOPIC_PREFIX):
        return None
    mn = topic[len(TOPIC_PREFIX) :]
    return mn if mn and "/" not in mn else None


def decode(
    topic: str,
    payload: bytes,
    points_by_mn: Mapping[str, RegistryPoint],
    received_at: datetime,
    *,
    pw: PwRule,
    policy: codec.Policy | codec.Lookup = codec.TOLERANT,
    max_bytes: int = codec.MAX_FRAME + 64,
    source: str = SOURCE_MQTT,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> Accepted | Rejected:
    """An MQTT message on ``outfall/hj212/{MN}``: one raw frame whose MN must match the topic and
    whose PW must be the logger's."""
    mn = topic_mn(topic)
    if mn is None:
        return Rejected(f"topic {topic!r} is not outfall/hj212/{{MN}}")
    if len(payload) > max_bytes:
        return Rejected(
            f"payload is {len(payload)} bytes, over the {max_bytes}-byte limit of one HJ 212 frame"
        )
    try:
        frame = codec.decode(payload, policy)
    except codec.HJ212Error as exc:
        return Rejected(exc.reason)
    if frame.mn != mn:
        return Rejected(f"frame MN {frame.mn} does not match the topic's MN {mn}")
    point = points_by_mn.get(frame.mn)
    if point is None:
        return Rejected(f"unknown MN {frame.mn}: no point in the park registry has this device", unknown=True)
    refused = pw.refusal(frame)
    if refused is not None:
        # No PW on record yet may be a PW issued after the registry was loaded (commissioning registers
        # the point, then its PW): the worker decodes it again on a fresh registry, as an unknown MN.
        return Rejected(refused, unknown=not pw.passwords.known(frame.mn))
    result = records(frame, point, received_at, source, max_skew)
    if isinstance(result, Accepted) and (frame.quirks or result.heartbeat):
        return replace(result, point_id=point.id, mn=frame.mn, quirks=frame.quirks)
    return result


def records(
    frame: codec.Frame,
    point: RegistryPoint,
    received_at: datetime,
    source: str,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> Accepted | Rejected:
    nothing = _nothing_to_store(frame)
    if nothing is not None:
        return nothing
    source += BACKFILL if frame.backfill else ""
    if frame.data_time is None:
        return Rejected(f"missing field DataTime in the CP of a CN {frame.cn} frame")
    when = codec.to_utc(frame.data_time, ZoneInfo(point.timezone))
    problem = time_problem(when, received_at, max_skew)
    if problem is not None:
        local = codec.local_time(frame.data_time, "DataTime")
        return Rejected(f"DataTime {local:%Y-%m-%d %H:%M:%S} ({point.timezone}) {problem}")
    if frame.cn in (STATUS, SAMPLE_CHECK):
        return (_status if frame.cn == STATUS else _checks)(frame, point, when, source)
    skipped = [f"factor {code} repeated in the frame (its first item was stored)" for code in frame.repeated]
    lines: list[str] = []
    for code, fields in frame.factors.items():
        param, problem = _parameter(point, code)
        if param is None:
            skipped.append(problem)
            continue
        if frame.cn == REALTIME:
            line = _reading(point, param, fields, when, source)
        else:
            line = _statistic(point, param, fields, PERIODS[frame.cn], when, source)
        if line.startswith("!"):
            skipped.append(f"{code}: {line[1:]}")
        else:
            lines.append(line)
    note = f"not stored: {'; '.join(skipped)}"[:2000] if skipped else None
    text = "".join(lines).encode()
    kept = RawKey(point.id, when, source) if lines else None  # the frame's bytes, kept too
    if frame.cn == REALTIME:
        return Accepted(text, len(lines), kept, note=note)
    return Accepted(b"", 0, kept, stats_text=text, stats_count=len(lines), note=note)


def _nothing_to_store(frame: codec.Frame) -> Accepted | None:
    """Chatter, heartbeats and commands we decode but do not store: no DataTime needed."""
    if frame.cn in CHATTER:
        return Accepted(b"", 0)
    if frame.cn == HEARTBEAT:
        return Accepted(b"", 0, heartbeat=True)
    if frame.cn not in (REALTIME, STATUS, SAMPLE_CHECK) and frame.cn not in PERIODS:
        return Accepted(b"", 0, note=f"CN {frame.cn} frames are decoded but not stored")
    return None


def _parameter(point: RegistryPoint, code: str) -> tuple[parameters.Parameter | None, str]:
    param = parameters.BY_2005.get(code) or parameters.BY_ALIAS.get(code)
    if param is None:
        return None, f"unknown factor code {code}"
    if param.id not in point.factors:
        return None, f"{code} ({param.code}) is not measured at point {point.park}/{point.plant}/{point.code}"
    return param, ""


def _flag(fields: Mapping[str, float | str]) -> str | None:
    flag = fields.get("Flag", "N")
    return flag if isinstance(flag, str) and flag in FLAGS else None


def _reading(
    point: RegistryPoint,
    param: parameters.Parameter,
    fields: Mapping[str, float | str],
    when: datetime,
    source: str,
) -> str:
    """A COPY line, or ``!reason`` (a sentinel keeps the per-factor loop flat)."""
    rtd, flag = fields.get("Rtd"), _flag(fields)
    if not isinstance(rtd, float):
        return "!no Rtd value in a real-time frame"
    if flag is None:
        return f"!flag {fields.get('Flag')!r} is not an HJ 212 flag (N F M S D C T B)"
    value = rtd * point.factors[param.id]
    if not math.isfinite(value):
        return "!value is not a finite number after unit conversion"
    return copy_line(point.id, param.id, when.isoformat(), value, flag, source)


def _statistic(
    point: RegistryPoint,
    param: parameters.Parameter,
    fields: Mapping[str, float | str],
    period: str,
    when: datetime,
    source: str,
) -> str:
    factor, flag = point.factors[param.id], _flag(fields)
    if flag is None:
        return f"!flag {fields.get('Flag')!r} is not an HJ 212 flag (N F M S D C T B)"
    # Cou is a volume (m3) for flow and a mass for pollutants; a mass scales with the concentration
    # unit (µg/L instruments report g, mg/L ones kg), so the same factor brings it to kg.
    cou_factor = 1.0 if param.code == "flow" else factor
    values = [_scaled(fields.get(name), f) for name, f in (("Avg", factor), ("Min", factor), ("Max", factor))]
    values.append(_scaled(fields.get("Cou"), cou_factor))
    if all(v is None for v in values):
        return "!no Avg, Min, Max or Cou value"
    if any(v is not None and not math.isfinite(v) for v in values):
        return "!value is not a finite number after unit conversion"
    cells = "\t".join("\\N" if v is None else repr(v) for v in values)
    return f"{point.id}\t{param.id}\t{period}\t{when.isoformat()}\t{cells}\t{flag}\t{source}\n"


def _scaled(value: float | str | None, factor: float) -> float | None:
    return value * factor if isinstance(value, float) else None


def _status(frame: codec.Frame, point: RegistryPoint, when: datetime, source: str) -> Accepted:
    """Every status item of a CN 2021 frame (``SB1-RS=1``, ``w01018-i12001=0``, a bare ``i12001=0``)."""
    rows: list[StatusRow] = []
    for code, fields in frame.factors.items():
        device = codec.code_2017(code)
        rows += [(point.id, device, item, when, *_value(v), source) for item, v in fields.items()]
    for item, value in frame.other.items():
        if item != "DataTime":
            rows.append((point.id, "", item, when, *_value(value), source))
    if not rows:
        return Accepted(b"", 0, note="CN 2021 frame without any status item")
    return Accepted(b"", 0, RawKey(point.id, when, source), status=tuple(rows))


def _value(value: float | str) -> tuple[str, float | None]:
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f"), value
    try:
        number = float(value)
    except ValueError:
        return value, None
    return value, number if math.isfinite(number) else None


def _checks(frame: codec.Frame, point: RegistryPoint, when: datetime, source: str) -> Accepted:
    """Every factor of a CN 2062 frame, kept as sent (the check's fields are not readings)."""
    checks = tuple(
        SampleCheck(point.id, codec.code_2017(code), when, dict(fields), source)
        for code, fields in frame.factors.items()
    )
    if not checks:
        return Accepted(b"", 0, note="CN 2062 frame without any factor")
    return Accepted(b"", 0, checks=checks)
