"""The live stream's machinery: one LISTEN connection per API process wakes every open stream when the
event log grows; cursors and the SSE wire format. Streams also poll, so a lost notification or a
restarting database delays an event by at most a poll interval and never loses it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import orjson
import psycopg
from psycopg import AsyncConnection

log = logging.getLogger(__name__)
CHANNEL = "outfall_events"
_CURSOR = re.compile(r"^(\d{1,20})-(\d{1,20})$")


class BadCursor(ValueError):
    pass


def parse_cursor(value: str) -> tuple[int, int]:
    """A Last-Event-ID is '<txid>-<id>', as sent in each event's id field."""
    m = _CURSOR.match(value.strip())
    if not m or int(m[1]) >= 2**63 or int(m[2]) >= 2**63:
        raise BadCursor(f"Last-Event-ID {value[:40]!r} is not an id this stream sent (expected <txid>-<id>)")
    return int(m[1]), int(m[2])


def cursor(txid: int, event_id: int) -> str:
    return f"{txid}-{event_id}"


def frame(event: str, data: object, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {orjson.dumps(data).decode()}\n\n"


class Broadcaster:
    """Wakes waiting streams on each NOTIFY on ``CHANNEL``."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="outfall-events-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait(self, timeout: float) -> None:
        """Until the next notification, or ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.5
                    async for _note in conn.notifies():
                        self._changed.set()
                        self._changed = asyncio.Event()  # the next waiters wait for the next one
            except (psycopg.Error, OSError) as exc:
                log.warning("event listener lost its connection (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
