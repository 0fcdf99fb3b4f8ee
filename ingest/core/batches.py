"""What one ingest transaction writes, and the contract it hands to compliance.

``StagedBatch`` is THE ingest → compliance contract: the composition root (``outfall/wiring.py``) gives
the writers a ``BeforeCommit`` hook, which ``write_parts`` calls inside every batch transaction after
the readings are staged and stored, before the writer commits. Readings and their compliance capture
therefore commit together (or not at all); ingest never imports compliance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
import psycopg

from ingest.core import deadletters, repo
from ingest.core.decoded import CheckRow, DeadRow, StatusRow
from ingest.core.settings import IntakeSettings


@dataclass(frozen=True)
class StagedBatch:
    """What one ingest transaction stored, handed to the ``BeforeCommit`` hook before commit. The
    readings it inserted are in the temporary table ``staging_readings`` (and only those: re-sent copies
    of stored readings are removed from it), the second values of stored keys in ``staging_conflicts``.
    Both tables empty themselves at commit, so the hook reads them inside the transaction or never."""

    inserted: int  # new readings, all in staging_readings
    duplicates: int  # re-sent readings whose key was already stored
    conflicts: int  # of those, readings whose value or flag differs from the stored one


# Called inside each batch transaction, before commit, with the staged batch (the compliance
# real-time hook; wired by the composition root). An exception rolls the whole batch back.
BeforeCommit = Callable[[psycopg.Connection, StagedBatch], None]


@dataclass(frozen=True)
class Parts:
    """The rows of one batch (or of one message or frame of it), ready for ``write_parts``."""

    copy_text: bytes = b""  # readings, COPY text (``decoded.copy_line``)
    stats_text: bytes = b""  # HJ 212 logger statistics, COPY text
    status: Sequence[StatusRow] = ()  # HJ 212 CN 2021 equipment status
    checks: Sequence[CheckRow] = ()  # HJ 212-2025 CN 2062 standard-sample checks (raw frames over MQTT)
    dead: Sequence[DeadRow] = field(default_factory=list)
    readings: int = 0  # lines in copy_text
    messages: int = 0  # MQTT messages or HJ 212 frames, for the counters
    raw_rows: bytes = b""  # the accepted messages' bytes, binary COPY rows (``decoded.raw_row``)


@dataclass(frozen=True)
class Written:
    inserted: int  # new readings
    duplicates: int  # readings whose key was already stored
    statistics: int  # new logger statistics (HJ 212 minute/hourly/daily records)
    status: int  # new equipment status rows (HJ 212 CN 2021)
    dead: int  # dead letters, including the second values of stored readings
    raw: int = 0  # messages whose bytes were kept (a re-sent copy is kept once)


def write_parts(
    conn: psycopg.Connection,
    parts: Parts,
    worker: str,
    before_commit: BeforeCommit | None,
    intake: IntakeSettings,
) -> Written:
    """What one ingest transaction writes, for the MQTT worker and the HJ 212 gateway alike: readings
    (duplicates dropped by key), the accepted messages' bytes (the evidence of their readings, in the
    same transaction: one COPY per batch), statistics, status, dead letters (as runs, capped:
    ``deadletters``), the counters, then the compliance hook. The caller commits."""
    readings = parts.readings
    inserted = repo.copy_readings(conn, parts.copy_text) if parts.copy_text else 0
    # Without a duplicate reading, no message of the batch is a re-sent copy (its readings would be):
    # its bytes go straight in. Otherwise, or if that guess fails, through staging, each copy once.
    raw = repo.copy_raw_messages(conn, parts.raw_rows, inserted == readings) if parts.raw_rows else 0
    conflicts = repo.set_aside_duplicates(conn) if inserted < readings else []
    statistics = repo.copy_statistics(conn, parts.stats_text) if parts.stats_text else 0
    status_new = repo.insert_status(conn, parts.status) if parts.status else 0
    if parts.checks:
        repo.save_sample_checks(conn, parts.checks)
    dead = [*parts.dead, *(conflict_letter(c) for c in conflicts)]
    if dead:
        runs = deadletters.runs(dead, intake.dead_letter_max_bytes)
        repo.record_dead_letters(conn, runs, intake.dead_letter_run_gap_s, intake.dead_letter_run_max_s)
    repo.add_counters(conn, worker, parts.messages, inserted, readings - inserted, len(dead))
    if before_commit is not None:
        before_commit(conn, StagedBatch(inserted, readings - inserted, len(conflicts)))
    return Written(inserted, readings - inserted, statistics, status_new, len(dead), raw)


def conflict_letter(c: repo.Conflict) -> DeadRow:
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
