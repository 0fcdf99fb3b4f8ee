"""The MQTT worker's open batch: the decoded messages of one transaction and the acks to send once it
is committed. ``Messages`` hands a closed batch to the batch writer (``ingest.core.writer``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingest.core.batches import Parts
from ingest.core.decoded import Accepted, CheckRow, DeadRow, RawKey, Rejected, StatusRow, raw_row
from ingest.core.writer import Fresh, Registry, Single
from ingest.hj212 import records as hj212_records

SOURCE = "mqtt-json"

Ack = tuple[int, int, int]  # (mid, qos, generation)
# Decode one message against a registry (JSON v1 or a raw HJ 212 frame, by topic).
Decode = Callable[[str, bytes, datetime, Registry], Accepted | Rejected]


@dataclass
class Batch:
    started: float = 0.0
    readings: int = 0
    payload_bytes: int = 0  # payload bytes of its messages (the worker's memory bound)
    copy_parts: list[bytes] = field(default_factory=list)
    stats_parts: list[bytes] = field(default_factory=list)  # HJ 212 logger statistics
    status_rows: list[StatusRow] = field(default_factory=list)  # HJ 212 CN 2021
    check_rows: list[CheckRow] = field(default_factory=list)  # HJ 212-2025 CN 2062
    dead: list[DeadRow] = field(default_factory=list)
    # messages rejected only because the registry did not know them yet: retried after a refresh
    unknown: list[tuple[str, bytes]] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    # every message as received, parallel to acks: a batch the database refuses is redone one by one
    raw: list[tuple[str, bytes]] = field(default_factory=list)
    # acks of held HJ 212 split-packet parts whose merged packet (in acks/raw) is in this batch
    held_acks: list[Ack] = field(default_factory=list)
    # accepted messages whose bytes are kept (raw_messages); their COPY rows are made by ``parts``, in
    # the writer thread, so the network thread only appends
    kept: list[tuple[RawKey, bytes]] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return len(self.acks) + len(self.held_acks)

    def parts(self) -> Parts:
        return Parts(
            copy_text=b"".join(self.copy_parts),
            stats_text=b"".join(self.stats_parts),
            status=self.status_rows,
            checks=self.check_rows,
            dead=self.dead,
            readings=self.readings,
            messages=self.messages,
            raw_rows=b"".join([raw_row(key, None, payload) for key, payload in self.kept]),
        )


def add(batch: Batch, topic: str, payload: bytes, acks: tuple[Ack, ...]) -> None:
    if not batch.acks:
        batch.started = time.monotonic()
    batch.acks.append(acks[-1])
    batch.raw.append((topic, payload))
    batch.payload_bytes += len(payload)
    batch.held_acks.extend(acks[:-1])


def collect(
    batch: Batch, topic: str, payload: bytes, result: Accepted | Rejected, retry_unknown: bool
) -> None:
    source = hj212_records.SOURCE_MQTT if topic.startswith(hj212_records.TOPIC_PREFIX) else SOURCE
    if isinstance(result, Accepted):
        batch.copy_parts.append(result.copy_text)
        batch.readings += result.count
        if result.raw_key is not None:
            batch.kept.append((result.raw_key, payload))
        if isinstance(result, hj212_records.Accepted):
            if result.stats_text:
                batch.stats_parts.append(result.stats_text)
            batch.status_rows.extend(result.status)
            if result.note:
                batch.dead.append((source, topic, payload, result.note))
            # CN 2062 results commit with the batch, so the message is acknowledged only once they are
            batch.check_rows.extend(
                (c.point_id, c.factor, c.time, dict(c.fields), c.source) for c in result.checks
            )
    elif result.unknown and retry_unknown:
        batch.unknown.append((topic, payload))
    else:
        batch.dead.append((source, topic, payload, result.reason))


@dataclass
class Messages:
    """A closed batch as the batch writer sees it (``ingest.core.writer.Staged``)."""

    batch: Batch
    decode: Decode

    @property
    def size(self) -> int:
        return self.batch.messages

    def parts(self, fresh: Fresh) -> Parts:
        batch = self.batch
        if batch.unknown:
            # A point loaded after the message was decoded is not unknown: decode it again.
            registry = fresh(batch.started)
            now = datetime.now(UTC)
            for topic, payload in batch.unknown:
                collect(
                    batch, topic, payload, self.decode(topic, payload, now, registry), retry_unknown=False
                )
            batch.unknown = []
        return batch.parts()

    def singles(self, registry: Registry) -> Iterator[Single]:
        batch, now = self.batch, datetime.now(UTC)
        for ack, (topic, payload) in zip(batch.acks, batch.raw, strict=True):
            single = Batch(started=batch.started, acks=[ack], raw=[(topic, payload)])
            collect(single, topic, payload, self.decode(topic, payload, now, registry), retry_unknown=False)
            source = single.dead[0][0] if single.dead else SOURCE
            yield Single(single.parts(), (source, topic, payload))
