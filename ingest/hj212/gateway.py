"""The HJ 212 TCP gateway: data loggers connect (default port 8212) and upload frames.

Per connection: a reader cuts the byte stream into frames, decodes them, maps MN to a point and hands
the records to the store; a replier sends each answer (9014 data reply, back-fill requests) only once
the store has committed that frame, in the order the frames arrived. A logger that gets no answer
re-sends, and the readings' key makes the copy a no-op, so a dropped link loses and doubles nothing.

Who may talk: a connection is counted against a total and a per-address cap, and must deliver a frame
whose PW matches the logger's secret (``records.PwRule``, the rule raw frames over MQTT follow too)
within ``first_frame_s``. A frame with a wrong or missing PW, or an MN sent from outside its point's
``allow_from`` networks, is a dead letter, gets no answer, and ends the connection. Every refusal is
logged and counted (the heartbeat's ``refused``, shown by /metrics). The store's queue is bounded, so a
slow database stops the reading of sockets instead of growing memory; split-packet parts held are capped
(``PartLimit``) per logger and in total. Composition root: ``main()`` (`outfall hj212 serve`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from ingest.core import logs, repo
from ingest.core.batches import BeforeCommit
from ingest.core.decoded import DeadRow, Rejected, raw_row
from ingest.core.models import RegistryPoint
from ingest.core.settings import DatabaseSettings, HJ212Settings
from ingest.hj212 import codec, records
from ingest.hj212.control import Control
from ingest.hj212.session import (
    FrameSplitter,
    GapTracker,
    Junk,
    PartLimit,
    Reassembler,
    heartbeat_reply,
    history_request,
    reply_to,
)
from ingest.hj212.store import Store

log = logging.getLogger(__name__)

SOURCE = records.SOURCE_TCP
PENDING_REPLIES = 256  # frames read ahead of their commit, per connection (back-pressure on the socket)
HISTORY_CN = {"minute": "2051", "hour": "2061"}
KEY_RELOAD_S = 2.0
REFRESH_ON_REFUSAL_S = 2.0
REFUSAL_LOG_S = 5.0

Pending = tuple[asyncio.Future[None], list[bytes]]


class Gateway:
    def __init__(self, settings: HJ212Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.gaps = GapTracker(max_span=timedelta(hours=settings.backfill_max_hours))
        self.connections = 0
        self.per_ip: Counter[str] = Counter()
        self.writers: set[asyncio.StreamWriter] = set()
        self.refused: Counter[str] = Counter()  # by reason: the heartbeat reports it, /metrics shows it
        self.backfill_requests = 0
        self._keys_reloaded = float("-inf")
        self._reload_lock = asyncio.Lock()
        self.limit = PartLimit(settings.split_parts_per_logger, settings.split_parts_total)
        self._logged: dict[str, float] = {}  # reason -> when a refusal of it was last logged
        self.control = Control(settings, store)  # commands to the connected loggers

    async def reload_keys(self, since: float) -> None:
        """Reload the registry and SM4 keys unless that was done after ``since`` (monotonic), at most
        once every ``KEY_RELOAD_S``: a frame that waits for the next reload is retried under keys newer
        than its arrival, and a stream of undecryptable frames cannot hammer the database."""
        async with self._reload_lock:
            if self._keys_reloaded >= since:
                return
            await asyncio.sleep(max(0.0, self._keys_reloaded + KEY_RELOAD_S - time.monotonic()))
            self._keys_reloaded = time.monotonic()
            await self.store.refresh()  # the registry with the keys: the logger's point may be new too

    async def start(self) -> asyncio.Server:
        return await asyncio.start_server(self._accept, self.settings.host, self.settings.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        ip = str(peer[0]) if peer else "?"
        why = self._over_limit(ip)
        if why is not None:
            self.refuse(why[0], "refusing %s: %s", peer, why[1])
            writer.close()
            return
        self.connections += 1
        self.per_ip[ip] += 1
        self.writers.add(writer)
        try:
            name = f"tcp:{peer[0]}:{peer[1]}" if peer else "tcp:?"
            await Connection(self, reader, writer, name, ip).run()
        finally:
            self.connections -= 1
            self.per_ip[ip] -= 1
            if self.per_ip[ip] <= 0:
                del self.per_ip[ip]
            self.writers.discard(writer)

    def _over_limit(self, ip: str) -> tuple[str, str] | None:
        """(counter, message) when a new connection from ``ip`` would pass a cap."""
        settings = self.settings
        if self.connections >= settings.max_connections:
            return "connections", f"{settings.max_connections} connections is the limit"
        if self.per_ip[ip] >= settings.max_connections_per_ip:
            cap = settings.max_connections_per_ip
            return "connections_per_ip", f"{cap} connections from {ip} is the limit"
        return None

    def refuse(self, reason: str, message: str, *args: object) -> None:
        """Count a refusal under ``reason`` and log it (the trace every refused attempt leaves); a flood
        of one kind is logged every ``REFUSAL_LOG_S`` with its count, not line by line."""
        self.refused[reason] += 1
        now = time.monotonic()
        if now - self._logged.get(reason, -REFUSAL_LOG_S) >= REFUSAL_LOG_S:
            self._logged[reason] = now
            log.warning(f"{message} ({reason}: %d refused since start)", *args, self.refused[reason])

    async def backfill(self, frame: codec.Frame, point: RegistryPoint, period: str) -> bytes | None:
        """A history request when this record leaves a hole after the logger's previous one."""
        if not self.settings.backfill or period not in HISTORY_CN or frame.data_time is None:
            return None
        zone = ZoneInfo(point.timezone)
        key = (point.id, period)
        if not self.gaps.knows(key):
            self.gaps.seed(key, await self.store.last_statistics(point.id, period))
        gap = self.gaps.observe(key, codec.to_utc(frame.data_time, zone))
        if gap is None:
            return None
        begin, end = (t.astimezone(zone).replace(tzinfo=None) for t in gap)
        self.backfill_requests += 1
        log.info("asking %s for %s records %s..%s (gap)", frame.mn, period, begin, end)
        now = datetime.now(zone).replace(tzinfo=None)
        sm4_key, form = self.control.sealing(frame.mn)
        return history_request(frame, HISTORY_CN[period], begin, end, now, sm4_key, form)


class Connection:
    def __init__(
        self,
        gateway: Gateway,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        ip: str,
    ) -> None:
        self.gw, self.reader, self.writer, self.peer, self.ip = gateway, reader, writer, peer, ip
        self.splitter = FrameSplitter()
        self.reassembler = Reassembler(limit=gateway.limit)
        self.pending: asyncio.Queue[Pending | None] = asyncio.Queue(PENDING_REPLIES)
        self.junk_run = 0
        self.held: dict[tuple[str, str | None, str, int | None], list[bytes]] = {}
        self.held_raw: dict[tuple[str, str | None, str, int | None], dict[int, bytes]] = {}  # by PNO
        self.trusted = False  # a frame with the logger's PW has arrived
        self.closing = False  # a refusal ends the connection
        self.deadline = time.monotonic() + gateway.settings.first_frame_s

    async def run(self) -> None:
        replier = asyncio.create_task(self._reply_loop())
        try:
            await self._read_loop()
        except (ConnectionError, OSError) as exc:
            log.info("%s: connection lost (%s)", self.peer, exc)
        finally:
            self.gw.control.detach(self.writer)
            self.reassembler.drop()
            tail = self.splitter.close()
            if tail is not None:
                await self._dead(tail.data, f"{tail.reason} ({tail.size} bytes)")
            await self.pending.put(None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(replier, timeout=30)
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()

    async def _read_loop(self) -> None:
        settings = self.gw.settings
        while not self.closing:
            wait = settings.idle_timeout_s if self.trusted else self.deadline - time.monotonic()
            try:
                data = await asyncio.wait_for(self.reader.read(65_536), max(wait, 0.0))
            except TimeoutError:
                if not self.trusted:
                    self.gw.refuse(
                        "first_frame_deadline",
                        "%s: no frame with a valid PW within %.0f s, closing",
                        self.peer,
                        settings.first_frame_s,
                    )
                    return
                log.info("%s: idle for %.0f s, closing", self.peer, settings.idle_timeout_s)
                return
            if not data:
                return
            for item in self.splitter.feed(data):
                if not self.closing:
                    await self._handle(item)
            if self.junk_run > settings.max_junk_bytes:
                log.warning("%s: %d bytes of garbage without a frame, closing", self.peer, self.junk_run)
                return

    async def _handle(self, item: bytes | Junk) -> None:
        if isinstance(item, Junk):
            self.junk_run += item.size
            await self._dead(item.data, f"{item.reason} ({item.size} bytes)")
            return
        try:
            frame = await self._decode(item)
        except codec.HJ212Error as exc:
            self.junk_run += len(item)
            # no answer: the standard drops a bad frame, the logger re-sends
            await self._dead(item, exc.reason)
            return
        self.junk_run = 0
        if self.gw.control.entering(frame):
            await self._entering(item, frame)
            return
        point = await self.gw.store.point(frame.mn)
        if point is None:
            # Kept as a dead letter (committed before the answer), so the logger may stop re-sending.
            reason = f"unknown MN {frame.mn}: no point in the park registry has this device"
            await self._answer(await self._dead(item, reason), _replies(frame))
            return
        if not await self._admitted(item, frame, point):
            return
        if frame.quirks and self.gw.store.policies(frame.mn).strict:
            # the park's strictness as loaded with its point (decoding may have run on an older registry)
            await self._dead(item, codec.strict_refusal(frame))
            return
        if frame.quirks:  # counted once the PW proved the sender is the logger
            await self._count_quirks(frame, point)
        if self.gw.store.policies.is_pending(frame.mn, frame.key):  # the logger took its new key
            await self.gw.control.key_proven(frame, point)
        if await self._control(item, frame, point):
            return
        held = not frame.is_split or self.reassembler.reserve(frame)
        if not held and frame.data_time is None:
            # over the cap of held parts: a dead letter (a flood of them joins one, with a count),
            # unanswered, so the logger re-sends it later
            self.gw.refused["split_over_cap"] += 1
            await self._dead(item, self.gw.limit.refusal(frame.mn))
            return
        target, replies, kept = self._whole(item, frame, held)
        if target is not None:
            await self._store(kept, target, point, replies)

    async def _decode(self, item: bytes) -> codec.Frame:
        """Decode under the logger's policy (SM4 keys, strict mode). A 2025 data frame that fails its
        CRC or that no live key opens is tried once more under keys reloaded after it arrived, so a key
        issued or rotated a moment ago is used at once."""
        arrived = time.monotonic()
        try:
            return codec.decode(item, self.gw.store.policies)
        except codec.HJ212Error as exc:
            if not exc.reason.startswith(("SM4", "bad CRC")) or not codec.may_be_sealed(item):
                raise
        await self.gw.reload_keys(arrived)
        return codec.decode(item, self.gw.store.policies)

    async def _count_quirks(self, frame: codec.Frame, point: RegistryPoint) -> None:
        point_id = point.id
        log.info("%s: MN %s sent a frame with quirks %s", self.peer, frame.mn, ",".join(frame.quirks))
        await self.gw.store.call(lambda conn: repo.count_quirks(conn, frame.mn, point_id, frame.quirks))

    async def _side_records(self, result: records.Accepted, point: RegistryPoint) -> asyncio.Future[None]:
        """A heartbeat (the logger is alive) and standard-sample checks, committed before the answer."""
        now = datetime.now(UTC)
        rows: list[tuple[int, str, datetime, dict[str, object], str]] = [
            (c.point_id, c.factor, c.time, dict(c.fields), c.source) for c in result.checks
        ]

        def write(conn: psycopg.Connection) -> None:
            if result.heartbeat:
                repo.logger_beat(conn, point.id, now)
            if rows:
                repo.save_sample_checks(conn, rows)

        await self.gw.store.call(write)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def _admitted(self, raw: bytes, frame: codec.Frame, point: RegistryPoint) -> bool:
        """The logger's address and PW; a refused frame is a dead letter, unanswered, and ends the
        connection (a logger with a wrong PW reconnects and is refused again, never stored)."""
        refusal = _address_refusal(point, self.ip)
        counter = "address_not_allowed"
        if refusal is None:
            refusal = await self._pw_refusal(frame)
            counter = "pw_mismatch" if refusal == records.PW_MISMATCH else "no_pw"
        if refusal is None:
            self.trusted = True
            return True
        self.gw.refuse(counter, "%s: MN %s refused: %s", self.peer, frame.mn, refusal)
        await self._dead(raw, refusal)
        self.closing = True
        return False

    async def _entering(self, raw: bytes, frame: codec.Frame) -> None:
        """Network entry (1001) and the answers to its 1002, from a logger whose MN is not yet
        registered (so no PW is known for it: what it may do is ask, and answer our 1002)."""
        if frame.cn == "1001":
            await self.gw.control.enter(frame, self.peer, self.writer)
        else:
            await self.gw.control.record(frame, raw)

    async def _control(self, raw: bytes, frame: codec.Frame, point: RegistryPoint) -> bool:
        """Reverse control: this connection reaches the logger now; its answers to our commands
        (9011, 9012, data with a request's QN) and its time requests (1013) are handled here."""
        control = self.gw.control
        await control.attach(frame, point, self.writer)
        if control.is_answer(frame):
            await control.record(frame, raw)
            return True
        if frame.cn == "1013":
            await control.time_request(frame, point)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            await self._answer(done, _replies(frame))  # 9013, then the 1012 from the queue
            return True
        return False

    async def _pw_refusal(self, frame: codec.Frame) -> str | None:
        """The PW rule; a refused PW is checked once more against freshly loaded secrets (at most every
        2 s), so a PW issued or rotated a moment ago is accepted at once."""
        store, require = self.gw.store, self.gw.settings.require_pw
        refusal = records.PwRule(store.registry.hj212_pw, require).refusal(frame)
        if refusal is not None and store.registry.age() > REFRESH_ON_REFUSAL_S:
            refusal = records.PwRule((await store.refresh()).hj212_pw, require).refusal(frame)
        return refusal

    def _whole(
        self, raw: bytes, frame: codec.Frame, held: bool
    ) -> tuple[codec.Frame | None, list[bytes], bytes]:
        """Split packets: a part with its own DataTime stands alone; one without waits for the rest,
        and its answer waits for the commit of the merged packet. A part the cap left unheld (with a
        DataTime) is only stored alone. With the frame to store, its bytes as received: a merged
        packet's are its parts' joined in packet order (as over MQTT)."""
        if not frame.is_split or not held:
            return frame, _replies(frame), raw
        if len(self.held) > 64 or len(self.held_raw) > 64:
            self.held.clear()  # sets that never completed; their loggers re-send
            self.held_raw.clear()
        merged = self.reassembler.add(frame, datetime.now(UTC))
        key = (frame.mn, frame.qn, frame.cn, frame.pnum)
        parts = self.held_raw.setdefault(key, {})
        parts[frame.pno or 0] = raw
        if merged is not None:
            del self.held_raw[key]
        if frame.data_time is None:
            self.held.setdefault(key, []).extend(_replies(frame))
            if merged is None:
                return None, [], b""
        if merged is not None and key in self.held:
            joined = b"".join(parts[n] for n in sorted(parts))
            return merged, self.held.pop(key) + (_replies(frame) if frame.data_time else []), joined
        return frame, _replies(frame), raw

    async def _store(
        self, raw: bytes, frame: codec.Frame, point: RegistryPoint, replies: list[bytes]
    ) -> None:
        max_skew = self.gw.settings.intake.max_skew
        if frame.cn == "2011":
            await self.gw.control.check_clock(frame, point)  # before a skewed frame is refused
        result = records.records(frame, point, datetime.now(UTC), SOURCE, max_skew)
        if isinstance(result, Rejected):
            await self._answer(await self._dead(raw, result.reason), replies)
            return
        if result.heartbeat or result.checks:
            beat = heartbeat_reply(frame, self.gw.settings.heartbeat_reply_cn)
            await self._answer(await self._side_records(result, point), [*replies, *([beat] if beat else [])])
            return
        dead: list[DeadRow] = [(SOURCE, self.peer, raw, result.note)] if result.note else []
        origin = (SOURCE, self.peer, raw, "")
        kept = b"" if result.raw_key is None else raw_row(result.raw_key, self.peer, raw)
        done = await self.gw.store.submit(
            result.copy_text, result.stats_text, result.count, dead, origin, result.status, kept
        )
        period = records.PERIODS.get(frame.cn)
        if period is not None and result.stats_count:
            request = await self.gw.backfill(frame, point, period)
            replies = [*replies, request] if request else replies
        await self._answer(done, replies)

    async def _answer(self, done: asyncio.Future[None], frames: list[bytes]) -> None:
        await self.pending.put((done, frames))

    async def _dead(self, payload: bytes, reason: str) -> asyncio.Future[None]:
        return await self.gw.store.submit(b"", b"", 0, [(SOURCE, self.peer, payload, reason)])

    async def _reply_loop(self) -> None:
        while (entry := await self.pending.get()) is not None:
            done, frames = entry
            await done  # the answer waits for the commit: that is the whole point of 9014
            if not frames or self.writer.is_closing():
                continue
            try:
                self.writer.write(b"".join(frames))
                await self.writer.drain()
            except (ConnectionError, OSError):
                log.info("%s: answer not delivered (connection gone); the logger will re-send", self.peer)


def _address_refusal(point: RegistryPoint, ip: str) -> str | None:
    """Why ``ip`` may not send this point's MN (its park file's ``allow_from``), or None."""
    if not point.allow_from:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        address = None
    if address is not None and any(address in ipaddress.ip_network(net) for net in point.allow_from):
        return None
    return f"MN {point.mn} may not connect from {ip or '?'}: not in allow_from of its point"


def _replies(frame: codec.Frame) -> list[bytes]:
    reply = reply_to(frame)
    return [reply] if reply else []


async def serve(
    settings: HJ212Settings,
    database_url: str,
    stop: asyncio.Event,
    ready: Callable[[Gateway, asyncio.Server], None] | None = None,
    before_commit: BeforeCommit | None = None,
) -> None:
    store = Store(settings, database_url, before_commit)
    await store.refresh()
    name = settings.counters_name
    await store.call(lambda conn: repo.restarted(conn, name, "hj212"))
    gateway = Gateway(settings, store)
    writer = asyncio.create_task(store.run())
    # A writer that died would leave loggers unanswered: stop, so the process is restarted.
    writer.add_done_callback(lambda t: _writer_ended(t, stop))
    beats = asyncio.create_task(_beat(store, name, gateway))
    control = asyncio.create_task(gateway.control.run())
    server = await gateway.start()
    log.info("HJ 212 gateway listening on %s:%d", settings.host, server.sockets[0].getsockname()[1])
    if ready is not None:
        ready(gateway, server)
    try:
        await stop.wait()
    finally:
        beats.cancel()
        control.cancel()
        await _shut_down(gateway, server, writer)


async def _shut_down(gateway: Gateway, server: asyncio.Server, writer: asyncio.Task[None]) -> None:
    """Stop accepting, drop the connections, commit what is queued, then leave the heartbeat table."""
    store, name = gateway.store, gateway.settings.counters_name
    server.close()
    for conn in list(gateway.writers):
        conn.close()  # unanswered frames are re-sent by their loggers after reconnecting
    await server.wait_closed()
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    await store.drain()
    with contextlib.suppress(psycopg.Error):
        await store.call(lambda conn: repo.forget(conn, name))
    store.close()
    t = store.totals
    log.info(
        "gateway stopped: %d frames, %d readings, %d statistics, %d dead letters",
        t.frames,
        t.readings,
        t.statistics,
        t.dead,
    )


BEAT_S = 5.0


async def _beat(store: Store, name: str, gateway: Gateway) -> None:
    """Beat into component_heartbeats while the gateway runs (the /healthz view of this process)."""
    while True:
        detail: dict[str, object] = {
            "connections": len(gateway.writers),
            "frames": store.totals.frames,
            "queued": store.queued(),
            "split_parts_held": gateway.limit.held_total,
            "refused": dict(gateway.refused),
            "commands_sent": gateway.control.sent,
        }
        try:
            await store.call(lambda conn, d=detail: repo.beat(conn, name, "hj212", d))  # type: ignore[misc]
        except psycopg.Error as exc:
            log.warning("heartbeat not written: %s", exc)
        await asyncio.sleep(BEAT_S)


def _writer_ended(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the HJ 212 writer died (%r): stopping the gateway", task.exception())
        stop.set()


def main(before_commit: BeforeCommit) -> int:
    # before_commit: the compliance real-time hook, wired by `outfall hj212 serve` (outfall/wiring.py);
    # required, so no gateway runs without real-time judging
    logs.configure("hj212")
    db, settings = DatabaseSettings(), HJ212Settings()
    if db.database_url is None:
        print("outfall hj212 serve: set OUTFALL_DATABASE_URL", file=sys.stderr)
        return 2

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        assert db.database_url is not None
        await serve(settings, db.database_url, stop, before_commit=before_commit)

    asyncio.run(_run())
    return 0
