"""Run the real HJ 212 gateway in a thread for a test, and talk to it like data loggers do."""

from __future__ import annotations

import asyncio
import threading

from ingest.core.batches import BeforeCommit
from ingest.core.settings import HJ212Settings
from ingest.hj212 import codec as hj212
from ingest.hj212.gateway import Gateway, serve


class RunningGateway:
    def __init__(
        self, database_url: str, before_commit: BeforeCommit | None = None, **overrides: object
    ) -> None:
        # these tests replay frames stamped at fixed times: no clock calibration (1012) unless asked
        overrides = {"clock_drift_s": 10**9, **overrides}
        self.settings = HJ212Settings(host="127.0.0.1", port=0, batch_seconds=0.01, **overrides)
        self.before_commit = before_commit
        self.gateway: Gateway | None = None
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(database_url),), daemon=True)
        self.thread.start()
        assert self._ready.wait(30), "gateway did not start"

    async def _main(self, database_url: str) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()

        def ready(gateway: Gateway, server: asyncio.Server) -> None:
            self.gateway, self.port = gateway, server.sockets[0].getsockname()[1]
            self._ready.set()

        await serve(self.settings, database_url, self._stop, ready, self.before_commit)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self.thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self.thread.join(timeout=30)


async def read_frames(reader: asyncio.StreamReader, count: int, timeout: float = 20) -> list[hj212.Frame]:
    frames = []
    async with asyncio.timeout(timeout):
        while len(frames) < count:
            frames.append(hj212.decode(await reader.readuntil(b"\r\n")))
    return frames


async def nothing_more(reader: asyncio.StreamReader, wait: float = 0.5) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(1), wait)
    except TimeoutError:
        return True
    return data == b""
