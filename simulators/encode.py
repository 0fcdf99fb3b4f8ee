"""Render protocol-neutral Records as MQTT messages: JSON v1, or HJ 212 real-time frames.

A record carrying ``raw`` (a real HJ 212 frame being replayed) is published unchanged on
``outfall/hj212/{MN}`` whatever the protocol; a record carrying a ``defect`` is rendered broken in the
way that defect names, so ingest's dead-letter path sees realistic garbage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson

from ingest.core import parameters
from ingest.hj212 import codec as hj212
from ingest.mqtt import jsonv1
from simulators.credentials import DEFAULT_PW
from simulators.records import Message, Record

Renderer = Callable[[str, Record], Message]


def raw_frame(record: Record) -> Message:
    return Message(f"outfall/hj212/{record.mn}", record.raw or b"", record.sent_at)


def json_v1(park_id: str, record: Record) -> Message:
    if record.raw is not None:
        return raw_frame(record)
    body: dict[str, Any] = {"ts": record.ts.isoformat(), "values": dict(record.values), "seq": record.seq}
    if record.flags:
        body["flags"] = dict(record.flags)
    topic = f"{jsonv1.TOPIC_PREFIX}{park_id}/{record.plant}/{record.point}"
    payload = orjson.dumps(body) if record.defect is None else _broken(body, record.defect, record.ts)
    return Message(topic, payload, record.sent_at)


def _broken(body: dict[str, Any], defect: str, ts: datetime) -> bytes:
    if defect == "truncated":  # the connection dropped mid-message
        text = orjson.dumps(body)
        return text[: len(text) // 2]
    if defect == "not_a_number":  # a logger that prints the unit into the value
        first = next(iter(body["values"]))
        body["values"][first] = f"{body['values'][first]}mg/L"
    elif defect == "no_offset":  # a logger clock without a zone
        body["ts"] = ts.replace(tzinfo=None).isoformat()
    elif defect == "bad_flag":  # a vendor status letter outside HJ 212 Table 8
        body["flags"] = {**body.get("flags", {}), next(iter(body["values"])): "X"}
    elif defect == "not_utf8":  # an old logger that writes its site name in GBK, not UTF-8
        return orjson.dumps(body)[:-1] + b',"site":"' + "厂区".encode("gbk") + b'"}'
    return orjson.dumps(body)


EDITION_FLAG = {"2025": 8, "2017": 4, "2005": None}


def hj212_rtd(
    park_id: str, record: Record, edition: str = "2017", passwords: Mapping[str, str] | None = None
) -> Message:
    """A record as an HJ 212 real-time data frame (CN 2011, ``{code}-Rtd`` and ``-Flag``) on
    ``outfall/hj212/{MN}``: the adapter that lets scenarios and replays speak HJ 212. ``passwords``:
    the PW of each MN (``simulators.credentials``)."""
    if record.raw is not None:
        return raw_frame(record)
    if record.mn is None:
        raise ValueError(f"point {park_id}/{record.plant}/{record.point} has no MN for HJ 212 output")
    factors: hj212.Factors = {}
    for code, value in record.values.items():
        param = parameters.BY_CODE[code]
        wire = (param.hj212_2005 if edition == "2005" else param.hj212_2017) or code
        factors[wire] = {"Rtd": value, "Flag": record.flags.get(code, "N")}
    local = record.ts.replace(tzinfo=None) if record.defect != "no_offset" else None
    frame = hj212.Frame(
        st="32",
        cn="2011",
        mn=record.mn,
        qn=hj212.format_time(record.sent_at.replace(tzinfo=None)) + f"{record.seq % 1000:03d}",
        pw=(passwords or {}).get(record.mn, DEFAULT_PW),
        flag=EDITION_FLAG[edition],  # version bits of Flag: 000001 for 2017, 000010 for 2025; 2005 sent none
        factors=factors,
        other={"DataTime": hj212.format_time(local)} if local else {},
    )
    payload = hj212.encode(frame) if record.defect is None else _broken_frame(frame, record.defect)
    return Message(f"outfall/hj212/{record.mn}", payload, record.sent_at)


def _broken_frame(frame: hj212.Frame, defect: str) -> bytes:
    if defect == "no_offset":  # HJ 212 has no zone at all: the defect is a frame without DataTime
        return hj212.encode(frame)
    good = hj212.encode(frame)
    if defect == "truncated":
        return good[: len(good) // 2]
    if defect == "not_utf8":
        return good[:-8] + "厂".encode("gbk") + good[-6:]
    # not_a_number and bad_flag both break the CRC here: a bit flipped on a noisy serial line.
    return good[:8] + bytes([good[8] ^ 0x01]) + good[9:]
