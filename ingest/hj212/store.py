"""The HJ 212 gateway's database side: group commit from many connections, and registry look-ups.

Connections hand in what one frame produced (readings, statistics, dead letters) and get a future that
resolves only after the transaction holding it has committed: that is when the gateway may send the
logger its 9014 reply. The queue is bounded (``store_queue_frames``): when the database falls behind,
handing in waits, the connections stop reading, and TCP flow control slows the loggers down. The
writes go through the batch writer the MQTT worker uses too (``ingest.core.writer``), called in a
thread; look-ups run in a thread on a read connection of our own, so the event loop never blocks on
the database.

``before_commit`` is the same hook the MQTT worker takes (the compliance real-time path, passed in by
the composition root; ingest never imports compliance): it runs inside each group transaction, after
the readings are copied and before the commit, so a frame's readings and their compliance capture
commit together and a 9014 reply means both are durable.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import psycopg

from ingest.core import repo
from ingest.core.batches import BeforeCommit, Parts
from ingest.core.decoded import DeadRow, StatusRow
from ingest.core.models import RegistryPoint
from ingest.core.settings import HJ212Settings
from ingest.core.writer import BatchWriter, Fresh, Registry, Single, Totals
from ingest.hj212 import keys

log = logging.getLogger(__name__)

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
    raw_rows: bytes = b""  # the frame's bytes to keep (``decoded.raw_row``), when it stored something


@dataclass
class Frames:
    """Queued frames as the batch writer sees them (``ingest.core.writer.Staged``)."""

    items: list[Item]

    @property
    def size(self) -> int:
        return len(self.items)

    def parts(self, fresh: Fresh | None = None) -> Parts:
        items = self.items
        return Parts(
            copy_text=b"".join(i.copy_text for i in items),
            stats_text=b"".join(i.stats_text for i in items),
            status=[row for i in items for row in i.status],
            dead=[row for i in items for row in i.dead],
            readings=sum(i.readings for i in items),
            messages=len(items),
            raw_rows=b"".join(i.raw_rows for i in items),
        )

    def singles(self, registry: Registry) -> Iterator[Single]:
        for item in self.items:
            source, peer, raw, _ = item.origin or (item.dead or [("tcp-hj212", None, b"", "")])[0]
            yield Single(Frames([item]).parts(), (source, peer, raw))


class Store:
    def __init__(
        self, settings: HJ212Settings, database_url: str, before_commit: BeforeCommit | None = None
    ) -> None:
        self.settings = settings
        self.database_url = database_url
        self.writer = BatchWriter(
            database_url, settings.counters_name, before_commit, settings.intake, item="frame"
        )
        # bounded: a full queue makes submit() wait, and the connections stop reading (back-pressure)
        self._queue: asyncio.Queue[Item] = asyncio.Queue(settings.store_queue_frames)
        # a cancelled run() leaves its write finishing in its thread: drain() waits for it
        self._write_lock = threading.Lock()
        self._read: psycopg.Connection | None = None
        self._read_lock = asyncio.Lock()
        # per MN: SM4 keys and strict mode, reloaded with the registry (a rotated key is picked up too)
        self.policies = keys.Policies()

    @property
    def totals(self) -> Totals:
        return self.writer.totals

    @property
    def registry(self) -> Registry:
        return self.writer.registry

    def queued(self) -> int:
        return self._queue.qsize()

    async def submit(
        self,
        copy_text: bytes,
        stats_text: bytes,
        readings: int,
        dead: list[DeadRow],
        origin: DeadRow | None = None,
        status: tuple[StatusRow, ...] = (),
        raw_rows: bytes = b"",
    ) -> asyncio.Future[None]:
        """Queue what one frame produced; waits while the queue is full. The future resolves on commit."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(Item(copy_text, stats_text, readings, dead, done, origin, status, raw_rows))
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
            await self._write(items)
            for item in items:
                if not item.done.done():
                    item.done.set_result(None)

    async def drain(self) -> None:
        """Commit whatever is still queued (at shutdown)."""
        items = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        if items:
            await self._write(items)
            for item in items:
                if not item.done.done():
                    item.done.set_result(None)

    async def _write(self, items: list[Item]) -> None:
        """Through the batch writer, in a thread: it retries while the database is down (the loggers
        get no answer meanwhile) and redoes a refused group frame by frame."""
        await asyncio.to_thread(self._write_sync, Frames(items))

    def _write_sync(self, frames: Frames) -> None:
        with self._write_lock:
            self.writer.write(frames)

    # --- look-ups ---------------------------------------------------------------------------------
    async def point(self, mn: str) -> RegistryPoint | None:
        """The point of an MN; an unknown MN refreshes the registry first (a park may just have loaded)."""
        registry = self.writer.registry
        age = registry.age()
        if age > self.settings.registry_refresh_s or (mn not in registry.by_mn and age > 2.0):
            registry = await self.refresh()
        return registry.by_mn.get(mn)

    async def refresh(self) -> Registry:
        registry = await self._read_call(self.writer.refresh)
        self.policies = await self._read_call(lambda conn: keys.load(conn, registry.by_mn.values()))
        return registry

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
        self.writer.close()
        _close(self._read)
        self._read = None


def _close(conn: psycopg.Connection | None) -> None:
    if conn is not None:
        conn.close()
