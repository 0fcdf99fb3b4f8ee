"""`outfall hj212 decode`: frames in, one JSON object per line out (the DESIGN.md contract).

Every input line gets exactly one output line, ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``,
and the exit status is 0 whatever the input: the command is a filter for people and scripts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from ingest.hj212 import codec


def decode_line(line: bytes, zone: ZoneInfo) -> dict[str, object]:
    raw = line.rstrip(b"\r\n")
    if not raw.strip():
        return {"ok": False, "error": "empty line"}
    try:
        return codec.describe(codec.decode(raw), zone)
    except codec.HJ212Error as exc:
        return {"ok": False, "error": exc.reason}


def decode_lines(lines: Iterable[bytes], out: TextIO, timezone: str) -> int:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        out.write(orjson.dumps({"ok": False, "error": f"unknown time zone {timezone!r}"}).decode() + "\n")
        return 2
    for line in lines:
        out.write(orjson.dumps(decode_line(line, zone)).decode() + "\n")
        out.flush()
    return 0
