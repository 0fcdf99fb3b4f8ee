"""`outfall hj212 decode`: frames in, one JSON object per line out (the DESIGN.md contract); and the
reverse-control commands: `outfall hj212 send MN CN [key=value ...]`, `enrol`, `waiting`.

Every input line gets exactly one output line, ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``,
and the exit status is 0 whatever the input: the command is a filter for people and scripts. The object
names the edition (2005, 2017, 2025), the quirks the frame has (``codec.QUIRKS``) and, for an encrypted
2025 frame opened with ``--sm4-key`` (or the logger's keys from the secret store, ``--from-store``),
``"encrypted": true`` and the decrypted fields.

`outfall logger sm4 set PARK/PLANT/POINT --key HEX | --generate` issues a logger's SM4 key;
`outfall hj212 rotate-key PARK/PLANT/POINT` rotates it through CN 1014 (``rotation.py``).
"""

from __future__ import annotations

import dataclasses
import getpass
import time
from collections.abc import Iterable
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import psycopg

from ingest.core import repo, secrets
from ingest.core.settings import SM4RotationSettings
from ingest.hj212 import codec, commands, keys, rotation, sm4
from ingest.hj212 import repo as queue


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


# --- `outfall hj212 send MN CN [key=value ...]`: a command to a logger, and its answer ----------------
FINISHED = ("done", "refused", "failed", "expired")


def parse_fields(items: list[str]) -> dict[str, str]:
    """``key=value`` arguments as the command's CP fields; raises ``CommandError``."""
    fields: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise commands.CommandError(f"{item!r}: write fields as key=value, e.g. RtdInterval=60")
        fields[key] = value
    return fields


def send(database_url: str, mn: str, cn: str, items: list[str], wait_s: float, out: TextIO) -> int:
    """Queue the command (actor ``cli:<user>``), wait for it to finish, print it as JSON.

    Exit 0 when the logger did it, 1 when it refused, failed or did not answer in time, 2 on bad input."""
    try:
        fields = parse_fields(items)
        with psycopg.connect(database_url) as conn:
            command_id = queue.enqueue(conn, mn, cn, fields, "admin", f"cli:{getpass.getuser()}")
    except commands.CommandError as exc:
        out.write(orjson.dumps({"ok": False, "error": str(exc)}).decode() + "\n")
        return 2
    return _wait_and_show(database_url, command_id, wait_s, out)


def _wait_and_show(database_url: str, command_id: int, wait_s: float, out: TextIO) -> int:
    """Wait up to ``wait_s`` for the command to finish and print it; 0 when done, 1 otherwise."""
    deadline = time.monotonic() + wait_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = queue.command(command_id).first(conn)
            assert row is not None
            if row.state in FINISHED or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    shown = {"ok": row.state == "done", **dataclasses.asdict(row)}
    out.write(orjson.dumps(shown, default=str).decode() + "\n")
    return 0 if row.state == "done" else 1


def rotate_key(database_url: str, target: str, wait_s: float, out: TextIO) -> int:
    """`outfall hj212 rotate-key PARK/PLANT/POINT`: start a key rotation now (actor ``cli:<user>``): a
    new pending key and its CN 1014, which the gateway sends. With ``wait_s`` > 0, wait for the
    logger's answer: exit 0 when it switched, 1 when it kept its key (or did not answer in time), 2 on
    bad input. Without, print the queued command and exit 0."""
    park, _, rest = target.partition("/")
    plant, _, point = rest.partition("/")
    if not (park and plant and point) or "/" in point:
        out.write(
            orjson.dumps({"ok": False, "error": f"{target!r}: expected PARK/PLANT/POINT"}).decode() + "\n"
        )
        return 2
    try:
        with psycopg.connect(database_url) as conn:
            actor = f"cli:{getpass.getuser()}"
            started = rotation.start_for(conn, park, plant, point, actor, SM4RotationSettings())
    except (rotation.RotationError, secrets.SecretStoreError) as exc:
        out.write(orjson.dumps({"ok": False, "error": str(exc)}).decode() + "\n")
        return 2
    done = _wait_and_show(database_url, started.command_id, wait_s, out)
    return done if wait_s > 0 else 0  # not waited for: queued is success


def assign(database_url: str, serial: str, park: str, plant: str, point: str, out: TextIO) -> int:
    """`outfall hj212 enrol SERIAL PARK/PLANT/POINT`: the logger with this serial gets that point's
    MN the next time it asks (CN 1001 answered with 1002)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT id FROM points WHERE park_id = %s AND plant_id = %s AND code = %s AND mn IS NOT NULL",
            (park, plant, point),
        ).fetchone()
        if row is None:
            out.write(f"no point {park}/{plant}/{point} with an MN\n")
            return 2
        if not queue.assign_enrolment(conn, serial, row[0], f"cli:{getpass.getuser()}"):
            out.write(f"no logger with serial {serial!r} has asked to enter the network\n")
            return 2
    out.write(f"serial {serial} assigned to {park}/{plant}/{point}\n")
    return 0


def waiting(database_url: str, out: TextIO) -> int:
    with psycopg.connect(database_url) as conn:
        for row in queue.waiting_enrolments().fetch(conn):
            out.write(orjson.dumps(dataclasses.asdict(row), default=str).decode() + "\n")
    return 0
