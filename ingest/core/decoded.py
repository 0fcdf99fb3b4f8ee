"""What a wire format's decoder hands the writers: readings as COPY text, or a reason.

JSON v1 (``ingest.mqtt.jsonv1``) and HJ 212 (``ingest.hj212.records``) both produce these, and the batch
writer (``ingest.core.writer``) stores them, so neither format depends on the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# An equipment_status row: point, device (SB1, w01018, ''), item (RS, i12001), time, value, number, source
StatusRow = tuple[int, str, str, datetime, str, float | None, str]
# A dead letter: (source, topic or peer, raw payload, reason)
DeadRow = tuple[str, str | None, bytes, str]


@dataclass(frozen=True)
class Accepted:
    copy_text: bytes  # tab-separated COPY lines for repo.copy_readings
    count: int


@dataclass(frozen=True)
class Rejected:
    reason: str
    # True when the point or parameter is unknown: a registry refresh may make the message acceptable.
    unknown: bool = False


def copy_line(point_id: int, parameter_id: int, ts_utc: str, value: float, flag: str, source: str) -> str:
    """One reading as a line of ``COPY staging_readings (point_id, parameter_id, time, value, flag,
    source)`` text."""
    return f"{point_id}\t{parameter_id}\t{ts_utc}\t{value!r}\t{flag}\t{source}\n"
