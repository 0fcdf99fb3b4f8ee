"""MQTT JSON v1: the wire format of ``outfall/v1/{park}/{plant}/{point}`` messages.

    {"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": 42.1, "ph": 7.31}, "flags": {"cod": "N"},
     "seq": 1234}

``decode`` is pure and total: any bytes in, either readings (as COPY text) or a reason a person
understands out; it never raises. Parameter codes are canonical codes or HJ 212-2017 aliases.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import orjson

from ingest.core import parameters
from ingest.core.decoded import DEFAULT_MAX_SKEW, Accepted, RawKey, Rejected, copy_line, time_problem
from ingest.core.models import FLAGS, RegistryPoint
from ingest.core.park import is_valid_id

TOPIC_PREFIX = "outfall/v1/"

PointKey = tuple[str, str, str]


@functools.lru_cache(maxsize=65_536)  # pure; loggers repeat the same few topics
def topic_key(topic: str) -> PointKey | None:
    if not topic.startswith(TOPIC_PREFIX):
        return None
    parts = topic[len(TOPIC_PREFIX) :].split("/")
    if len(parts) != 3 or not all(is_valid_id(p) for p in parts):
        return None
    return parts[0], parts[1], parts[2]


def decode(
    topic: str,
    payload: bytes,
    points: Mapping[PointKey, RegistryPoint],
    received_at: datetime,
    *,
    max_bytes: int = 65_536,
    source: str = "mqtt-json",
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> Accepted | Rejected:
    if len(payload) > max_bytes:
        return Rejected(f"payload is {len(payload)} bytes, over the {max_bytes}-byte limit")
    key = topic_key(topic)
    if key is None:
        return Rejected(f"topic {topic!r} is not outfall/v1/{{park}}/{{plant}}/{{point}} with ids [a-z0-9-]")
    point = points.get(key)
    if point is None:
        return Rejected(
            f"unknown point {'/'.join(key)}: no such park, plant or point in the registry", unknown=True
        )
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return Rejected(f"payload is not valid UTF-8 JSON: {exc}")
    if not isinstance(body, dict):
        return Rejected("payload must be a JSON object with ts and values")
    stamp = _timestamp(body.get("ts"), received_at, max_skew)
    if isinstance(stamp, Rejected):
        return stamp
    when, ts = stamp
    values, flags = body.get("values"), body.get("flags", {})
    if not isinstance(values, dict) or not values:
        return Rejected("field values must be a non-empty object of parameter code -> number")
    if not isinstance(flags, dict):
        return Rejected("field flags must be an object of parameter code -> flag letter")
    lines = []
    for code, value in values.items():
        line = _reading_line(point, code, value, flags.get(code, "N"), ts, source)
        if isinstance(line, Rejected):
            return line
        lines.append(line)
    stray = [code for code in flags if code not in values]
    if stray:
        return Rejected(f"flags given for parameters without a value: {', '.join(map(str, stray))}")
    return Accepted("".join(lines).encode(), len(lines), RawKey(point.id, when, source))


def _timestamp(raw: object, received_at: datetime, max_skew: timedelta) -> tuple[datetime, str] | Rejected:
    """The time and its UTC text for the COPY lines."""
    if not isinstance(raw, str):
        return Rejected(
            "field ts is missing or not a string; send ISO 8601 with an offset,"
            " e.g. 2026-11-29T08:15:00+08:00"
        )
    parsed = _parse_ts(raw)
    if isinstance(parsed, Rejected):
        return parsed
    problem = time_problem(parsed[0], received_at, max_skew)
    return parsed if problem is None else Rejected(f"ts {raw[:40]} {problem}")


@functools.lru_cache(maxsize=65_536)  # pure; every point of a park reports the same minute stamps
def _parse_ts(raw: str) -> tuple[datetime, str] | Rejected:
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        return Rejected(f"ts {raw[:40]!r} is not an ISO 8601 timestamp")
    if ts.tzinfo is None or ts.utcoffset() is None:
        return Rejected(f"ts {raw[:40]!r} has no UTC offset; send e.g. 2026-11-29T08:15:00+08:00")
    try:
        utc = ts.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+02:00 falls before year 1 in UTC
        return Rejected(f"ts {raw[:40]!r} is implausible: out of range")
    return utc, utc.isoformat()


def _reading_line(
    point: RegistryPoint, code: object, value: object, flag: object, ts_utc: str, source: str
) -> str | Rejected:
    param = parameters.BY_ALIAS.get(code) if isinstance(code, str) else None
    if param is None:
        return Rejected(f"unknown parameter {str(code)[:40]!r}", unknown=True)
    factor = point.factors.get(param.id)
    if factor is None:
        return Rejected(
            f"parameter {param.code} is not measured at point {point.park}/{point.plant}/{point.code}",
            unknown=True,
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Rejected(f"value of {param.code} is {str(value)[:40]!r}, not a number")
    number = float(value) * factor
    if not math.isfinite(number):
        return Rejected(f"value of {param.code} is not a finite number")
    if not isinstance(flag, str) or flag not in FLAGS:
        return Rejected(f"flag of {param.code} is {str(flag)[:10]!r}; HJ 212 flags are N F M S D C T B")
    return copy_line(point.id, param.id, ts_utc, number, flag, source)
