"""Split packets (PNUM/PNO) on ``outfall/hj212/{MN}``: the MQTT side of reassembly.

Each MQTT message carries one frame, so the parts of a split packet arrive as separate messages. A part
with its own DataTime stands alone (stored at once, as the TCP gateway does); a part without one cannot
be decoded into records alone, so ``SplitPackets`` holds it, unacknowledged, until the whole set has
arrived. The set then goes on as one message whose payload is its parts joined in packet order; its
acknowledgement carries the held parts' acknowledgements, so nothing is acknowledged before the merged
packet is committed. ``decode`` turns such a joined payload into records through the gateway's
``Reassembler``. A set that stays incomplete past ``max_age`` is given up as a dead letter (and its parts
acknowledged), so incomplete sets never pin the worker's Receive Maximum. The parts held are capped per
logger and in total (``PartLimit``, shared with the TCP gateway's rule): a part beyond a cap is not held
but dead-lettered and acknowledged with the next batch (a flood of them is one dead letter with a count).
Pure: no broker, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest.core.decoded import DEFAULT_MAX_SKEW, Rejected
from ingest.core.models import RegistryPoint
from ingest.hj212 import codec, records
from ingest.hj212.session import PartLimit, Reassembler

Ack = tuple[int, int, int]  # (mid, qos, generation), as the worker keeps them
SetKey = tuple[str, str, str | None, str, int]  # topic, MN, QN, CN, PNUM


@dataclass
class _Set:
    started: float
    parts: dict[int, bytes] = field(default_factory=dict)
    held: list[Ack] = field(default_factory=list)


@dataclass(frozen=True)
class Whole:
    """A message to decode with the acknowledgements that wait for its commit: the message itself, or a
    completed set (parts joined in packet order) with the acks of the parts that were held."""

    topic: str
    payload: bytes
    acks: tuple[Ack, ...]


@dataclass(frozen=True)
class GivenUp:
    topic: str
    payload: bytes
    acks: tuple[Ack, ...]
    reason: str


@dataclass(frozen=True)
class Refused:
    """A part not held because a cap of ``PartLimit`` was reached: a dead letter (``reason``),
    acknowledged with the batch it joins."""

    topic: str
    payload: bytes
    ack: Ack
    reason: str


@dataclass
class SplitPackets:
    limit: PartLimit
    max_age: float = 120.0  # seconds a set may take to complete
    _sets: dict[SetKey, _Set] = field(default_factory=dict)  # in the order they started
    _held: int = 0  # a plain count: other threads may read it while the sets change

    def __len__(self) -> int:
        """Parts held unacknowledged."""
        return self._held

    def offer(self, topic: str, payload: bytes, ack: Ack, now: float) -> list[Whole | Refused]:
        """What to decode now: this message alone, nothing (a part held), the completed set, or the part
        refused (over a cap)."""
        if b"PNUM=" not in payload:  # cheap test first: almost no frame is split
            return [Whole(topic, payload, (ack,))]
        try:
            part = codec.decode(payload)
        except codec.HJ212Error:
            return [Whole(topic, payload, (ack,))]  # decoded again on the normal path, which keeps the reason
        if part.pnum is None or part.pno is None:
            return [Whole(topic, payload, (ack,))]
        key = (topic, part.mn, part.qn, part.cn, part.pnum)
        standalone = part.data_time is not None
        held = self._sets.get(key)
        if (held is None or part.pno not in held.parts) and not self.limit.take(part.mn):
            if standalone:
                return [Whole(topic, payload, (ack,))]  # stored alone; just not kept for the merge
            return [Refused(topic, payload, ack, self.limit.refusal(part.mn))]
        held = self._sets.setdefault(key, _Set(now))
        held.parts[part.pno] = payload
        out: list[Whole | Refused] = [Whole(topic, payload, (ack,))] if standalone else []
        if not standalone:
            held.held.append(ack)
            self._held += 1
        if len(held.parts) < part.pnum:
            return out
        self._forget(key)
        if held.held:  # parts without a DataTime of their own: decoded as the merged packet
            out.append(Whole(topic, b"".join(held.parts[n] for n in sorted(held.parts)), tuple(held.held)))
        return out

    def expired(self, now: float) -> list[GivenUp]:
        """Sets that did not complete in time: kept as dead letters, their parts acknowledged. Sets
        start in dict order, so only the oldest are looked at."""
        out = []
        while self._sets:
            key, oldest = next(iter(self._sets.items()))
            if now - oldest.started <= self.max_age:
                break
            held = self._forget(key)
            if not held.held:
                continue  # only parts that stood alone (and are stored) arrived
            pnum = key[4]
            have = ",".join(str(n) for n in sorted(held.parts))
            reason = f"split packet incomplete after {self.max_age:.0f} s: parts {have} of {pnum} arrived"
            joined = b"".join(held.parts[n] for n in sorted(held.parts))
            out.append(GivenUp(key[0], joined, tuple(held.held), reason))
        return out

    def _forget(self, key: SetKey) -> _Set:
        held = self._sets.pop(key)
        self._held -= len(held.held)
        self.limit.give_back(key[1], len(held.parts))
        return held


def decode(
    topic: str,
    payload: bytes,
    points_by_mn: Mapping[str, RegistryPoint],
    received_at: datetime,
    *,
    pw: records.PwRule,
    policy: codec.Policy | codec.Lookup = codec.TOLERANT,
    max_bytes: int = codec.MAX_FRAME + 64,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> records.Accepted | Rejected:
    """One frame (``records.decode``), or the joined parts of a completed split packet; every part's
    PW must be the logger's."""
    frames = [f + b"\r\n" for f in payload.split(b"\r\n") if f]
    if len(frames) < 2:
        return records.decode(
            topic,
            payload,
            points_by_mn,
            received_at,
            pw=pw,
            policy=policy,
            max_bytes=max_bytes,
            max_skew=max_skew,
        )
    mn = records.topic_mn(topic)
    merger = Reassembler(max_age=timedelta(days=1))
    merged: codec.Frame | None = None
    try:
        for raw in frames:
            part = codec.decode(raw, policy)
            if part.pnum is None or part.mn != mn:
                return Rejected(
                    f"payload holds {len(frames)} frames that are not the parts of one split packet"
                )
            refused = pw.refusal(part) if part.mn in points_by_mn else None
            if refused is not None:
                return Rejected(refused)
            merged = merger.add(part, datetime.now(UTC))
    except codec.HJ212Error as exc:
        return Rejected(exc.reason)
    if merged is None or mn is None:
        return Rejected(f"payload holds {len(frames)} frames that are not the parts of one split packet")
    point = points_by_mn.get(merged.mn)
    if point is None:
        return Rejected(
            f"unknown MN {merged.mn}: no point in the park registry has this device", unknown=True
        )
    return records.records(merged, point, received_at, records.SOURCE_MQTT, max_skew)
