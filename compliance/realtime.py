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
from collections.abc import Callable

import psycopg

from compliance import engine, repo
from compliance.repo import spans
from compliance.settings import RuleSettings, RuntimeSettings
from ingest.backoff import Backoff

log = logging.getLogger(__name__)


def ingest_hook(settings: RuleSettings) -> Callable[[psycopg.Connection, int], None]:
    """The ingest worker's ``after_commit`` hook (runs inside the batch transaction, before commit)."""
    grace = settings.late_grace_s

    def hook(conn: psycopg.Connection, inserted: int) -> None:
        if inserted > 0:  # a batch of pure duplicates was judged when it first arrived
            repo.capture_batch(conn, grace)
            spans.capture(conn)  # gaps and flat runs are judged in data time (compliance/history.py)

    return hook


def drain(conn: psycopg.Connection, settings: RuleSettings, chunk: int) -> int:
    """Process inbox chunks until it is empty; returns the number of rows processed."""
    total = 0
    while True:
        with conn.transaction():
            rows = repo.take_inbox(conn, chunk)
            engine.process_inbox(conn, rows, settings)
        total += len(rows)
        if len(rows) < chunk:
            return total


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
