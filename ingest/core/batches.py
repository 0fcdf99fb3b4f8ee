"""Batches of the ingest worker: what one transaction writes, and how it is written.

A batch holds the COPY text of the readings of many messages, their logger statistics and equipment
status (HJ 212), their dead letters, and the MQTT acks to send once it is committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
import psycopg

from ingest.core import repo
from ingest.hj212 import records as hj212_records
from ingest.mqtt import jsonv1

SOURCE = "mqtt-json"


@dataclass(frozen=True)
class StagedBatch:
    """What one ingest transaction stored, handed to the compliance hook before commit. The readings
    it inserted are in the temporary table ``staging_readings`` (and only those: re-sent copies of
    stored readings are removed from it), the second values of stored keys in ``staging_conflicts``."""

    inserted: int  # new readings, all in staging_readings
    duplicates: int  # re-sent readings whose key was already stored
    conflicts: int  # of those, readings whose value or flag differs from the stored one


# Called inside each batch transaction, before commit, with the staged batch (the compliance
# real-time hook; wired by the composition root, ingest never imports compliance).
AfterCommit = Callable[[psycopg.Connection, StagedBatch], None]


@dataclass
class Batch:
    started: float = 0.0
    readings: int = 0
    copy_parts: list[bytes] = field(default_factory=list)
    stats_parts: list[bytes] = field(default_factory=list)  # HJ 212 logger statistics
    status_rows: list[hj212_records.StatusRow] = field(default_factory=list)  # HJ 212 CN 2021
    dead: list[tuple[str, str | None, bytes, str]] = field(default_factory=list)
    # messages rejected only because the registry did not know them yet: retried after a refresh
    unknown: list[tuple[str, bytes]] = field(default_factory=list)
    acks: list[tuple[int, int, int]] = field(default_factory=list)  # (mid, qos, generation)
    # every message as received, parallel to acks: a batch the database refuses is redone one by one
    raw: list[tuple[str, bytes]] = field(default_factory=list)
    # acks of held HJ 212 split-packet parts whose merged packet (in acks/raw) is in this batch
    held_acks: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return len(self.acks) + len(self.held_acks)


@dataclass
class Counters:
    messages: int = 0
    readings: int = 0
    duplicates: int = 0
    rejects: int = 0


def add(batch: Batch, topic: str, payload: bytes, acks: tuple[tuple[int, int, int], ...]) -> None:
    if not batch.acks:
        batch.started = time.monotonic()
    batch.acks.append(acks[-1])
    batch.raw.append((topic, payload))
    batch.held_acks.extend(acks[:-1])


def collect(
    batch: Batch,
    topic: str,
    payload: bytes,
    result: jsonv1.Accepted | jsonv1.Rejected,
    retry_unknown: bool,
) -> None:
    source = hj212_records.SOURCE_MQTT if topic.startswith(hj212_records.TOPIC_PREFIX) else SOURCE
    if isinstance(result, jsonv1.Accepted):
        batch.copy_parts.append(result.copy_text)
        batch.readings += result.count
        if isinstance(result, hj212_records.Accepted):
            if result.stats_text:
                batch.stats_parts.append(result.stats_text)
            batch.status_rows.extend(result.status)
            if result.note:
                batch.dead.append((source, topic, payload, result.note))
    elif result.unknown and retry_unknown:
        batch.unknown.append((topic, payload))
    else:
        batch.dead.append((source, topic, payload, result.reason))


@dataclass(frozen=True)
class Written:
    inserted: int  # new readings
    duplicates: int  # readings whose key was already stored
    statistics: int  # new logger statistics (HJ 212 minute/hourly/daily records)
    status: int  # new equipment status rows (HJ 212 CN 2021)


def write(conn: psycopg.Connection, batch: Batch, worker: str, after_commit: AfterCommit | None) -> Written:
    """Write a batch inside the caller's transaction."""
    return write_parts(
        conn,
        copy_text=b"".join(batch.copy_parts),
        stats_text=b"".join(batch.stats_parts),
        status=batch.status_rows,
        dead=batch.dead,
        readings=batch.readings,
        messages=batch.messages,
        worker=worker,
        after_commit=after_commit,
    )


def write_parts(
    conn: psycopg.Connection,
    *,
    copy_text: bytes,
    stats_text: bytes,
    status: Sequence[hj212_records.StatusRow],
    dead: Sequence[tuple[str, str | None, bytes, str]],
    readings: int,
    messages: int,
    worker: str,
    after_commit: AfterCommit | None,
) -> Written:
    """What one ingest transaction writes, for the MQTT worker and the HJ 212 gateway alike: readings
    (duplicates dropped by key), statistics, status, dead letters, the counters, then the compliance
    hook. The caller commits."""
    inserted = repo.copy_readings(conn, copy_text) if copy_text else 0
    conflicts = repo.set_aside_duplicates(conn) if inserted < readings else []
    statistics = repo.copy_statistics(conn, stats_text) if stats_text else 0
    status_new = repo.insert_status(conn, status) if status else 0
    dead = [*dead, *(conflict_letter(c) for c in conflicts)]
    if dead:
        repo.insert_dead_letters(conn, dead)
    repo.add_counters(conn, worker, messages, inserted, readings - inserted, len(dead))
    if after_commit is not None:
        after_commit(conn, StagedBatch(inserted, readings - inserted, len(conflicts)))
    return Written(inserted, readings - inserted, statistics, status_new)


def conflict_letter(c: repo.Conflict) -> tuple[str, str | None, bytes, str]:
    """A dead letter keeping both values of a key: the stored reading is never overwritten."""
    payload = orjson.dumps(
        {
            "point_id": c.point_id,
            "parameter_id": c.parameter_id,
            "time": c.time,
            "received": {"value": c.value, "flag": c.flag, "source": c.source},
            "stored": {
                "value": c.stored_value,
                "flag": c.stored_flag,
                "source": c.stored_source,
                "received_at": c.stored_at,
            },
        }
    )
    reason = (
        f"second value for a stored reading (point {c.point_id}, parameter {c.parameter_id},"
        f" {c.time.isoformat()}): stored {c.stored_value:g} {c.stored_flag}, received {c.value:g} {c.flag}"
    )
    return (c.source, None, payload, reason)


def first_line(exc: BaseException) -> str:
    """The first line of a database error, for a log line or a dead letter's reason."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
