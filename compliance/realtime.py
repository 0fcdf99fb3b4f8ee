"""The real-time path.

Inside each ingest batch transaction, ``ingest_hook`` runs one set-based INSERT ... SELECT that copies
the batch's interesting readings (invalid flags, implausible values, values at or above the warning
level of their resolved limit, and every reading of a key with an active alert) from the staging table
into ``compliance_inbox``, and NOTIFYs. It commits with the readings, so with N ingest workers on a
shared subscription each reading is queued exactly once by the worker that stored it.

``Consumer`` (in the compliance process) LISTENs, takes inbox rows with DELETE ... RETURNING and applies
the rules and alert transitions in the same transaction: a crash before commit leaves the rows queued.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable

import psycopg

from compliance import engine, repo
from compliance.repo import spans
from compliance.settings import RuleSettings, RuntimeSettings
from ingest.core.backoff import Backoff
from ingest.core.batches import StagedBatch

log = logging.getLogger(__name__)


def ingest_hook(settings: RuleSettings) -> Callable[[psycopg.Connection, StagedBatch], None]:
    """The ingest worker's hook, run inside each batch transaction before it commits. Only readings
    the batch inserted are staged (re-sent copies were judged when they first arrived); second values
    of stored keys go to the integrity rule."""
    grace = settings.late_grace_s

    def hook(conn: psycopg.Connection, staged: StagedBatch) -> None:
        if staged.inserted > 0 or staged.conflicts > 0:
            repo.capture_batch(conn, grace, staged.conflicts)
        if staged.inserted > 0:
            spans.capture(conn)  # gaps and flat runs are judged in data time (compliance/history.py)

    return hook


def drain(conn: psycopg.Connection, settings: RuleSettings, chunk: int) -> int:
    """Process inbox chunks until it is empty; returns the number of rows processed. A chunk the
    rules cannot judge is taken again and judged one key at a time, so one bad row is set aside with
    its reason and never stops the judging of the others."""
    total = 0
    while True:
        try:
            with conn.transaction():
                rows = repo.take_inbox(conn, chunk)
                engine.process_inbox(conn, rows, settings)
        except psycopg.OperationalError:
            raise
        except Exception:
            log.exception("real-time: a chunk failed; judging it key by key")
            rows = _judge_key_by_key(conn, settings, chunk)
        total += len(rows)
        if len(rows) < chunk:
            return total


def _judge_key_by_key(conn: psycopg.Connection, settings: RuleSettings, chunk: int) -> list[repo.InboxRow]:
    with conn.transaction():
        rows = repo.take_inbox(conn, chunk)
        by_key: dict[tuple[int, int], list[repo.InboxRow]] = defaultdict(list)
        for r in rows:
            by_key[(r.point_id, r.parameter_id)].append(r)
        for key_rows in by_key.values():
            try:
                with conn.transaction():  # a savepoint per key
                    engine.process_inbox(conn, key_rows, settings)
            except psycopg.OperationalError:
                raise
            except Exception as exc:
                reason = (
                    f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                )
                log.error(
                    "real-time: %d rows of point %d set aside: %s",
                    len(key_rows),
                    key_rows[0].point_id,
                    reason,
                )
                repo.set_aside(conn, key_rows, reason)
    return rows


class Consumer:
    def __init__(self, conninfo: str, rules: RuleSettings, runtime: RuntimeSettings) -> None:
        self.conninfo, self.rules, self.runtime = conninfo, rules, runtime

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            try:
                self._serve(stop)
            except psycopg.OperationalError as exc:
                delay = backoff.next_delay()
                log.warning("real-time consumer lost the database (%s); retrying in %.1f s", exc, delay)
                stop.wait(delay)

    def _serve(self, stop: threading.Event) -> None:
        with (
            psycopg.connect(self.conninfo, autocommit=True) as listen,
            psycopg.connect(self.conninfo, autocommit=True) as work,
        ):
            listen.execute(f"LISTEN {repo.INBOX_CHANNEL}")
            log.info("real-time consumer listening")
            while not stop.is_set():
                done = drain(work, self.rules, self.runtime.inbox_chunk)
                if done:
                    log.debug("real-time: %d inbox rows judged", done)
                for _ in listen.notifies(timeout=self.runtime.poll_s, stop_after=1):
                    pass
