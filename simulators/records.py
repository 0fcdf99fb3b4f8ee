"""The protocol-neutral stream the simulator produces, before any wire format.

A ``Sample`` is what an instrument measured (catalogue units); a ``Record`` is what its data logger
sends: values in the instrument's unit, flags, the timestamp the logger wrote (which a skewed clock gets
wrong), when it is delivered, and delivery quirks (a malformed payload). Both the JSON v1 encoder and an
HJ 212 encoder render Records; the real-HJ 212 replay carries ``raw`` frames that pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

# Ways a payload can be broken on the wire; each encoder renders them in its own format.
DEFECTS = ("truncated", "not_a_number", "no_offset", "bad_flag", "not_utf8")


@dataclass
class Sample:
    """One instrument reading cycle at a point (mutable while events act on it)."""

    plant: str
    point: str
    ts: datetime  # true measurement time, park-local, aware
    values: dict[str, float]  # canonical code -> catalogue unit
    flags: dict[str, str] = field(default_factory=dict)  # only non-N flags


@dataclass(frozen=True)
class Record:
    plant: str
    point: str
    ts: datetime  # the timestamp the logger writes (true time + any clock skew)
    values: Mapping[str, float]  # canonical code -> instrument unit, as sent
    flags: Mapping[str, str]
    seq: int
    sent_at: datetime  # simulated delivery time: pacing and ordering
    mn: str | None = None
    defect: str | None = None  # one of DEFECTS: the payload is deliberately broken
    raw: bytes | None = None  # an already-encoded frame to publish unchanged


@dataclass(frozen=True)
class Message:
    """One MQTT publish: what the feed sends, paced by ``sim_time``."""

    topic: str
    payload: bytes
    sim_time: datetime
