"""The HJ 212 gateway's database side: group commit from many connections, and registry look-ups.

Connections hand in what one frame produced (readings, statistics, dead letters) and get a future that
resolves only after the transaction holding it has committed: that is when the gateway may send the
logger its 9014 reply. All SQL runs in a worker thread through ``repo`` on two connections of our own,
one for writes and one for look-ups, so the event loop never blocks on the database.

``after_commit`` is the same hook the MQTT worker takes (the compliance real-time path, passed in by the
composition root; ingest never imports compliance): it runs inside each group transaction, after the
readings are copied and before the commit, so a frame's readings and their compliance capture commit
together and a 9014 reply means both are durable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import psycopg

from ingest.core import batches, repo
from ingest.core.backoff import Backoff
from ingest.core.batches import AfterCommit
from ingest.core.models import RegistryPoint
from ingest.core.settings import HJ212Settings
from ingest.hj212.records import StatusRow

log = logging.getLogger(__name__)

DeadRow = tuple[str, str | None, bytes, str]  # (source, topic, payload, reason)
T = TypeVar("T")


@dataclass
class Item:
    copy_text: bytes
    stats_text: bytes
    readings: int
    dead: list[DeadRow]
    done: asyncio.Future[None]
    origin: DeadRow | None = None  # (source, peer, raw frame, "") kept if the database refuses the item
    status: tuple[StatusRow, ...] = ()


@dataclass
class Totals:
    frames: int = 0
    readings: int = 0
    statistics: int = 0
    duplicates: int = 0
    dead: int = 0
    commits: int = 0
    status: int = 0


class Store:
    def __init__(
        self, settings: HJ212Settings, database_url: str, after_commit: AfterCommit | None = None
    ) -> None:
        self.settings = settings
        self.database_url = database_url
        self.after_commit = after_commit
        self.totals = Totals()
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._write: psycopg.Connection | None = None
        self._read: psycopg.Connection | None = None
        self._read_lock = asyncio.Lock()
        self._points: dict[str, RegistryPoint] = {}
        self._loaded = 0.0

    def submit(
        self,
        copy_text: bytes,
        stats_text: bytes,
        readings: int,
        dead: list[DeadRow],
        origin: DeadRow | None = None,
        status: tuple[StatusRow, ...] = (),
    ) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(Item(copy_text, stats_text, readings, dead, done, origin, status))
        return done

    # --- writes -----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Commit queued items until cancelled; an item's future resolves after its commit."""
        while True:
            items = [await self._queue.get()]
            deadline = time.monotonic() + self.settings.batch_seconds
            while len(items) < self.settings.batch_frames:
                try:
                    items.append(await asyncio.wait_for(self._queue.get(), deadline - time.monotonic()))
                except TimeoutError:
                    break
            await self._commit_with_retry(items)
            for item in items:
                if not item.done.done():
                    item.done.set_result(None)

    async def drain(self) -> None:
        """Commit whatever is still queued (at shutdown)."""
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        if items:
            await self._commit_with_retry(items)
            for item in items:
                if not item.done.done():
                    item.done.set_result(None)

    async def _commit_with_retry(self, items: list[Item]) -> None:
        backoff = Backoff()
        while True:
            try:
                await asyncio.to_thread(self._commit, items)
                return
            except psycopg.OperationalError as exc:
                delay = backoff.next_delay()
                log.warning("database unavailable (%s); retrying %d frames in %.1f s", exc, len(items), delay)
                self._drop_write()
                await asyncio.sleep(delay)
            except psycopg.Error as exc:
                # Rows are validated before they get here (and the hook may refuse too): find the frame
                # the database refuses, keep it as a dead letter, store the rest. Without this the
                # writer task would die and every connection would wait for its reply forever.
                log.error("database refused %d frames (%s); committing them one by one", len(items), exc)
                self._drop_write()
                await asyncio.to_thread(self._commit_one_by_one, items)
                return

    def _commit_one_by_one(self, items: list[Item]) -> None:
        for item in items:
            try:
                self._commit([item])
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                self._drop_write()
                reason = f"database refused the frame: {batches.first_line(exc)}"
                source, peer, raw, _ = item.origin or (item.dead or [("tcp-hj212", None, b"", "")])[0]
                self._commit([Item(b"", b"", 0, [(source, peer, raw, reason)], item.done)])

    def _drop_write(self) -> None:
        _close(self._write)
        self._write = None

    def _commit(self, items: list[Item]) -> None:
        conn = self._write
        if conn is None or conn.closed:
            conn = self._write = psycopg.connect(self.database_url, autocommit=False)
            repo.prepare_staging(conn)
            conn.commit()
        written = batches.write_parts(
            conn,
            copy_text=b"".join(i.copy_text for i in items),
            stats_text=b"".join(i.stats_text for i in items),
            status=[row for i in items for row in i.status],
            dead=[row for i in items for row in i.dead],
            readings=sum(i.readings for i in items),
            messages=len(items),
            worker=self.settings.counters_name,
            after_commit=self.after_commit,
        )
        conn.commit()
        t = self.totals
        t.frames += len(items)
        t.readings += written.inserted
        t.statistics += written.statistics
        t.status += written.status
        t.duplicates += written.duplicates
        t.dead += sum(len(i.dead) for i in items)
        t.commits += 1

    # --- look-ups ---------------------------------------------------------------------------------
    async def point(self, mn: str) -> RegistryPoint | None:
        """The point of an MN; an unknown MN refreshes the registry first (a park may just have loaded)."""
        age = time.monotonic() - self._loaded
        if age > self.settings.registry_refresh_s or (mn not in self._points and age > 2.0):
            await self.refresh()
        return self._points.get(mn)

    async def refresh(self) -> None:
        points = await self._read_call(repo.registry)
        self._points = {p.mn: p for p in points if p.mn}
        self._loaded = time.monotonic()

    async def last_statistics(self, point_id: int, period: str) -> datetime | None:
        return await self._read_call(lambda conn: repo.last_statistics(conn, point_id, period))

    async def call(self, call: Callable[[psycopg.Connection], T]) -> T:
        """Run ``call`` on the read connection (autocommit) off the event loop."""
        return await self._read_call(call)

    async def _read_call(self, call: Callable[[psycopg.Connection], T]) -> T:
        async with self._read_lock:
            return await asyncio.to_thread(self._read_sync, call)

    def _read_sync(self, call: Callable[[psycopg.Connection], T]) -> T:
        if self._read is None or self._read.closed:
            self._read = psycopg.connect(self.database_url, autocommit=True)
        try:
            return call(self._read)
        except psycopg.OperationalError:
            _close(self._read)
            self._read = None
            raise

    def close(self) -> None:
        _close(self._write)
        _close(self._read)
        self._write = self._read = None


def _close(conn: psycopg.Connection | None) -> None:
    if conn is not None:
        conn.close()
