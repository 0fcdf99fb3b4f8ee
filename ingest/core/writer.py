"""The batch writer of both ingest front ends: the MQTT worker (from its writer thread) and the HJ 212
gateway (from a thread, ``asyncio.to_thread``) hand it batches, and it stores each in one transaction.

It owns what the two share:
- the write connection, with its staging tables (``repo.prepare_staging``), reopened after a failure;
- retry with backoff while the database is unreachable (the caller's messages or frames stay
  unacknowledged meanwhile, so nothing is lost);
- isolation of a batch the database refuses: it is redone item by item (message or frame), so one bad
  item becomes a dead letter and the rest land;
- the registry cache (points by park/plant/code and by MN) and its refresh.

Not thread-safe on purpose: each front end calls ``write`` from one thread at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import psycopg

from ingest.core import repo, secrets
from ingest.core.backoff import Backoff
from ingest.core.batches import BeforeCommit, Parts, Written, first_line, write_parts
from ingest.core.models import RegistryPoint
from ingest.core.settings import IntakeSettings

log = logging.getLogger(__name__)

PointKey = tuple[str, str, str]  # (park, plant, point code), as in a JSON v1 topic


HJ212_PW = "hj212-pw"  # the secret's last name part: logger/{park}/{plant}/{point}/hj212-pw


@dataclass(frozen=True)
class Registry:
    """The active points as last loaded, and when (``time.monotonic()``), with the HJ 212 PWs
    accepted now per MN (loaded together, so a refresh picks up a rotated or revoked PW too)."""

    by_key: dict[PointKey, RegistryPoint]
    by_mn: dict[str, RegistryPoint]
    loaded: float
    hj212_pw: secrets.Verifier = field(default_factory=lambda: secrets.Verifier({}))

    @classmethod
    def load(cls, conn: psycopg.Connection) -> Registry:
        points = repo.registry(conn)
        by_key = {(p.park, p.plant, p.code): p for p in points}
        return cls(
            by_key=by_key,
            by_mn={p.mn: p for p in points if p.mn},
            loaded=time.monotonic(),
            hj212_pw=secrets.Verifier(_pw_hashes(conn, by_key)),
        )

    def age(self) -> float:
        return time.monotonic() - self.loaded


def _pw_hashes(conn: psycopg.Connection, by_key: dict[PointKey, RegistryPoint]) -> dict[str, list[str]]:
    """Live ``hj212-pw`` hashes by the MN of their point (every live generation, newest first)."""
    out: dict[str, list[str]] = {}
    for secret in secrets.live("logger/").fetch(conn):
        _, park, plant, point, what = (secret.name.split("/") + [""] * 5)[:5]
        found = by_key.get((park, plant, point))
        if what == HJ212_PW and secret.form == "hash" and found is not None and found.mn:
            out.setdefault(found.mn, []).append(secret.value)
    return out


EMPTY = Registry({}, {}, loaded=float("-inf"))

# The registry as loaded at or after a monotonic time: refreshed on the write connection if older.
Fresh = Callable[[float], Registry]


@dataclass(frozen=True)
class Single:
    """One item of a refused batch: what it writes alone, and where it came from (its dead letter's
    source, topic or peer, and raw bytes if the database refuses it alone too)."""

    parts: Parts
    origin: tuple[str, str | None, bytes]


class Staged(Protocol):
    """A batch as the writer sees it: the MQTT worker's messages, the gateway's frames."""

    @property
    def size(self) -> int:
        """Messages or frames in the batch, for the log."""
        ...

    def parts(self, fresh: Fresh) -> Parts:
        """The batch's rows, built inside the transaction (``fresh`` may resolve unknown points)."""
        ...

    def singles(self, registry: Registry) -> Iterable[Single]:
        """The batch one item at a time, when the database refuses it whole."""
        ...


@dataclass
class Totals:
    messages: int = 0  # MQTT messages or HJ 212 frames committed
    readings: int = 0
    duplicates: int = 0
    statistics: int = 0
    status: int = 0
    dead: int = 0
    raw: int = 0  # messages or frames whose bytes were kept (raw_messages)
    commits: int = 0

    @property
    def frames(self) -> int:
        """The gateway's name for its items."""
        return self.messages

    def add(self, parts: Parts, written: Written) -> None:
        self.messages += parts.messages
        self.readings += written.inserted
        self.duplicates += written.duplicates
        self.statistics += written.statistics
        self.status += written.status
        self.dead += written.dead
        self.raw += written.raw
        self.commits += 1


class BatchWriter:
    def __init__(
        self,
        database_url: str,
        worker: str,
        before_commit: BeforeCommit | None,
        intake: IntakeSettings,
        item: str = "message",
    ) -> None:
        self.database_url = database_url
        self.intake = intake  # how dead letters are kept (runs, payload cap)
        self.worker = worker  # the ingest_counters row this writer adds to
        self.before_commit = before_commit
        self.item = item  # "message" or "frame", for logs and dead letters
        self.registry = EMPTY
        self.totals = Totals()
        self._conn: psycopg.Connection | None = None

    # --- registry -------------------------------------------------------------------------------
    def refresh(self, conn: psycopg.Connection) -> Registry:
        """Reload the registry on ``conn`` (any connection; the new one replaces the old atomically,
        so readers on other threads see either)."""
        self.registry = Registry.load(conn)
        return self.registry

    def _fresh(self, since: float) -> Registry:
        """A point loaded after our last refresh is not unknown: refresh when older than ``since``."""
        if self.registry.loaded > since:
            return self.registry
        conn = self._connection()
        registry = self.refresh(conn)
        conn.commit()
        return registry

    # --- writes ---------------------------------------------------------------------------------
    def write(self, batch: Staged, stopping: Callable[[], bool] = lambda: False) -> bool:
        """Store ``batch``: retry while the database is unreachable, redo it item by item if refused.
        False only when ``stopping()`` says to give up on an unreachable database (nothing stored)."""
        backoff = Backoff()
        while True:
            try:
                self.commit(batch.parts(self._fresh))
                return True
            except psycopg.OperationalError as exc:
                self.drop()
                if stopping():
                    log.warning("database unavailable; %d %ss not stored", batch.size, self.item)
                    return False
                delay = backoff.next_delay()
                log.warning(
                    "database unavailable (%s); retrying %d %ss in %.1f s",
                    first_line(exc),
                    batch.size,
                    self.item,
                    delay,
                )
                time.sleep(delay)
            except psycopg.Error as exc:
                # Rows are validated before they get here (and the hook may refuse too), so this is a
                # surprise: find the item the database refuses, keep it as a dead letter, store the rest.
                log.error(
                    "database refused a batch (%s); committing its %d %ss one by one",
                    first_line(exc),
                    batch.size,
                    self.item,
                )
                self.drop()
                self._one_by_one(batch)
                return True

    def _one_by_one(self, batch: Staged) -> None:
        for single in batch.singles(self.registry):
            try:
                self.commit(single.parts)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                self.drop()
                reason = f"database refused the {self.item}: {first_line(exc)}"
                self.commit(Parts(dead=[(*single.origin, reason)], messages=1))

    def commit(self, parts: Parts) -> Written:
        """One transaction: ``write_parts``, then commit."""
        conn = self._connection()
        written = write_parts(conn, parts, self.worker, self.before_commit, self.intake)
        conn.commit()
        self.totals.add(parts, written)
        return written

    # --- connection -----------------------------------------------------------------------------
    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url, autocommit=False)
            repo.prepare_staging(self._conn)
            self._conn.commit()
        return self._conn

    def drop(self) -> None:
        """Close the write connection (after an error); the next write opens a new one."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    close = drop
