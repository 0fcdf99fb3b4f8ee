"""`outfall hj212 decode`: frames in, one JSON object per line out (the DESIGN.md contract).

Every input line gets exactly one output line, ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``,
and the exit status is 0 whatever the input: the command is a filter for people and scripts. The object
names the edition (2005, 2017, 2025), the quirks the frame has (``codec.QUIRKS``) and, for an encrypted
2025 frame opened with ``--sm4-key`` (or the logger's keys from the secret store, ``--from-store``),
``"encrypted": true`` and the decrypted fields.

`outfall logger sm4 set PARK/PLANT/POINT --key HEX | --generate` issues a logger's SM4 key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import psycopg

from ingest.core import repo
from ingest.hj212 import codec, keys, sm4


def decode_line(
    line: bytes, zone: ZoneInfo, policy: codec.Policy | codec.Lookup = codec.TOLERANT
) -> dict[str, object]:
    raw = line.rstrip(b"\r\n")
    if not raw.strip():
        return {"ok": False, "error": "empty line"}
    try:
        return codec.describe(codec.decode(raw, policy), zone)
    except codec.HJ212Error as exc:
        return {"ok": False, "error": exc.reason}


def decode_lines(
    lines: Iterable[bytes],
    out: TextIO,
    timezone: str,
    policy: codec.Policy | codec.Lookup = codec.TOLERANT,
) -> int:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        out.write(orjson.dumps({"ok": False, "error": f"unknown time zone {timezone!r}"}).decode() + "\n")
        return 2
    for line in lines:
        out.write(orjson.dumps(decode_line(line, zone, policy)).decode() + "\n")
        out.flush()
    return 0


def policy_from(keys_hex: list[str], strict: bool, database_url: str | None) -> codec.Policy | codec.Lookup:
    """The keys given on the command line (tried first), else the registry's per-logger policies."""
    given = tuple(sm4.parse_key(k) for k in keys_hex)
    if database_url is None:
        return codec.Policy(keys=given, strict=strict)
    with psycopg.connect(database_url) as conn:
        stored = keys.load(conn, repo.registry(conn))

    def lookup(mn: str) -> codec.Policy:
        found = stored(mn)
        return codec.Policy(keys=given + found.keys, strict=strict or found.strict)

    return lookup


def sm4_set(database_url: str, target: str, key_hex: str | None, overlap_hours: float, out: TextIO) -> int:
    """Issue a logger's SM4 key: the given one, or a new random one printed once."""
    park, _, rest = target.partition("/")
    plant, _, point = rest.partition("/")
    if not (park and plant and point) or "/" in point:
        out.write(f"logger {target!r}: expected PARK/PLANT/POINT\n")
        return 2
    generated = key_hex is None
    key = sm4.new_key() if key_hex is None else key_hex
    try:
        sm4.parse_key(key)
    except sm4.SM4KeyError as exc:
        out.write(f"{exc}\n")
        return 2
    with psycopg.connect(database_url) as conn:
        if not repo.point_exists(conn, park, plant, point):
            out.write(f"no point {park}/{plant}/{point} in the registry\n")
            return 2
        generation = keys.set_key(conn, park, plant, point, key, "cli", overlap_hours * 3600)
    shown = f" key {key.upper()} (shown once)" if generated else ""
    out.write(f"SM4 key of {park}/{plant}/{point}: generation {generation}{shown}\n")
    return 0
