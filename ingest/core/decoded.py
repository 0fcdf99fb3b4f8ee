"""What a wire format's decoder hands the writers: readings as COPY text, or a reason.

JSON v1 (``ingest.mqtt.jsonv1``) and HJ 212 (``ingest.hj212.records``) both produce these, and the batch
writer (``ingest.core.writer``) stores them, so neither format depends on the other.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

# An equipment_status row: point, device (SB1, w01018, ''), item (RS, i12001), time, value, number, source
StatusRow = tuple[int, str, str, datetime, str, float | None, str]
# An HJ 212-2025 CN 2062 standard-sample check result: (point id, factor, DataTime, fields as sent, source)
CheckRow = tuple[int, str, datetime, dict[str, object], str]
# A dead letter: (source, topic or peer, raw payload, reason)
DeadRow = tuple[str, str | None, bytes, str]

# How far ahead of the server clock a measurement time may be (OUTFALL_INGEST_MAX_CLOCK_SKEW_S).
DEFAULT_MAX_SKEW = timedelta(seconds=300)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class RawKey(NamedTuple):
    """Where an accepted message's bytes are kept (``raw_messages``): its point, the data time it
    carries and the source its readings are stored with."""

    point_id: int
    time: datetime  # aware
    source: str


@dataclass(frozen=True)
class Accepted:
    copy_text: bytes  # tab-separated COPY lines for repo.copy_readings
    count: int
    # Set when the message stored something (readings, statistics, status): its bytes are kept too.
    raw_key: RawKey | None = None


@dataclass(frozen=True)
class Rejected:
    reason: str
    # True when the point or parameter, or the logger's HJ 212 PW, is unknown: a registry refresh may
    # make the message acceptable (a point commissioned after the registry was loaded).
    unknown: bool = False


def copy_line(point_id: int, parameter_id: int, ts_utc: str, value: float, flag: str, source: str) -> str:
    """One reading as a line of ``COPY staging_readings (point_id, parameter_id, time, value, flag,
    source)`` text."""
    return f"{point_id}\t{parameter_id}\t{ts_utc}\t{value!r}\t{flag}\t{source}\n"


# Raw messages go to the server in COPY's binary format: the payload travels as it is (text COPY would
# double it in hex and make the server decode it), the digest is the SHA-256's first 8 bytes as they
# are (a big-endian bigint), the time microseconds since 2000-01-01 UTC.
RAW_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
RAW_COPY_TRAILER = b"\xff\xff"
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ROW_HEAD = struct.Struct(">hiqi8sii")  # 6 fields; time; digest; point_id (each after its length)
_LENGTH = struct.Struct(">i")
_NULL = _LENGTH.pack(-1)


def raw_row(key: RawKey, peer: str | None, payload: bytes) -> bytes:
    """One message as a row of binary ``COPY ... (time, digest, point_id, source, peer, payload)``; the
    digest, with the point and data time, is the dedup key of a re-sent copy."""
    micros = (key.time - _PG_EPOCH) // _MICROSECOND
    head = _ROW_HEAD.pack(6, 8, micros, 8, hashlib.sha256(payload).digest()[:8], 4, key.point_id)
    source = key.source.encode()
    where = _NULL if peer is None else _LENGTH.pack(len(peer.encode())) + peer.encode()
    return b"".join((head, _LENGTH.pack(len(source)), source, where, _LENGTH.pack(len(payload)), payload))


def time_problem(when: datetime, received_at: datetime, max_skew: timedelta) -> str | None:
    """Why a measurement time cannot be stored (the end of a sentence whose subject, the time as the
    sender wrote it, the caller puts in front), or None. Every wire format asks this one rule.

    A reading from the future would take its key (point, parameter, time) before the real reading of
    that time arrives, and the key keeps the first: so only a small clock skew is accepted."""
    if when < EARLIEST:
        return "is before 2000"
    ahead = when - received_at
    if ahead <= max_skew:
        return None
    seconds = ahead.total_seconds()
    span = f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.1f} min"
    return (
        f"is {span} ahead of the server clock; allowed skew {max_skew.total_seconds():.0f} s"
        " (is the logger's clock or time zone wrong?)"
    )
