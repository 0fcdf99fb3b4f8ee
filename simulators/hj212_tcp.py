"""Simulated data loggers over TCP: one connection per MN to the HJ 212 gateway, as in the field.

Each ``Link`` uploads its MN's frames in order, stop-and-wait: a frame whose Flag asks for a reply is
sent again when no 9014 names its QN within ``over_time`` seconds, at most ``re_count`` times
(HJ 212-2017 Table 1, CN 1000 ``OverTime``/``ReCount``), then given up (the record stays in the logger's
history for a back-fill request). A dropped link is reconnected and the unanswered frame re-sent. The
gateway's history requests (2051/2061/2031 with BeginTime/EndTime) are answered from what the link has
uploaded. At the end a link half-closes and waits for the gateway to close, so everything it sent has
been read and committed. The timing and records come from ``hj212_logger`` and ``feed.Pacer``.
The platform's commands (time, intervals, sample retention, device information) are answered 9011,
data, 9012 by the link's ``hj212_device.Device``, which refuses or ignores a share of them as the
scenario says (``--command-refuse``, ``--command-silent``).

HJ 212-2025 (``--edition 2025``): a logger with an SM4 key (``sm4_key`` in the credentials file) sends
the data area of its data frames encrypted, in the park's text form (``config.hj212.sm4_text``); the
gateway's frames are read encrypted or plain. With nothing to send for ``OUTFALL_SIMULATOR_HEARTBEAT_S``
it sends a CN 9015 heartbeat, and the records it sends again for a back-fill request carry ``RF=1``.
A CN 1014 from the platform gives it a new key: once its 9012 is out it encrypts under the new key.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from zoneinfo import ZoneInfo

from ingest.core.models import ParkSpec
from ingest.core.settings import SM4RotationSettings
from ingest.hj212 import codec as hj212
from ingest.hj212 import keys, sm4
from simulators import hj212_device, hj212_logger, report
from simulators.credentials import SimulatorSettings
from simulators.feed import Pacer
from simulators.plan import Plan
from simulators.records import Message

log = logging.getLogger(__name__)

QUEUE = 256  # frames dispatched ahead of a link's uploads (back-pressure on the simulated stream)
HEARTBEAT = "9015"  # the marker _next returns when the link has been idle for the heartbeat interval
QUIET = 0.3  # seconds without a frame from the gateway before a finished link hangs up
CLOSE_WAIT = 30.0

Finish = Callable[[Plan, report.Tally, Path | None, bool], None]  # __main__.finish: truth and summary


@dataclass(frozen=True)
class LinkSettings:
    host: str
    port: int
    over_time: float = 10.0  # HJ 212-2017 Table 1: 10 s and 3 retries on GPRS/4G
    re_count: int = 3
    command_refuse: float = 0.0  # share of the platform's commands refused (9011 QnRtn=2)
    command_silent: float = 0.0  # share left unanswered (the platform times out)
    timezone: str = "Asia/Shanghai"  # the park's: HJ 212 times are park-local
    heartbeat: float = 60.0  # HJ 212-2025: seconds idle before a CN 9015 heartbeat
    keys: Mapping[str, bytes] = field(default_factory=dict)  # MN -> SM4 key (HJ 212-2025)
    forms: Mapping[str, str] = field(default_factory=dict)  # MN -> SM4 text form (default hex)
    key_field: str = "NewKey"  # the CP field of CN 1014's new key (OUTFALL_HJ212_SM4_KEY_FIELD)


@dataclass
class Totals:
    sent: int = 0  # uploads (first copies)
    answered: int = 0
    resent: int = 0
    given_up: int = 0
    backfill_requests: int = 0
    reconnects: int = 0
    commands: int = 0
    heartbeats: int = 0
    key_changes: int = 0  # HJ 212-2025: new SM4 keys taken with CN 1014


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--transport", choices=("mqtt", "tcp"), default="mqtt",
        help="mqtt (default) or tcp: one connection per MN to the HJ 212 gateway, as data loggers do",
    )  # fmt: skip
    p.add_argument(
        "--gateway",
        default=None,
        help="HJ 212 gateway HOST:PORT for --transport tcp ($OUTFALL_SIMULATOR_GATEWAY or 127.0.0.1:8212)",
    )
    p.add_argument("--min-interval", type=int, default=10, help="minutes per 2051 minute record (default 10)")
    p.add_argument("--over-time", type=float, default=10.0, help="seconds to wait for a 9014 (default 10)")
    p.add_argument("--re-count", type=int, default=3, help="re-sends before giving a frame up (default 3)")
    p.add_argument("--command-refuse", type=float, default=0.0, help="share of commands refused (0-1)")
    p.add_argument("--command-silent", type=float, default=0.0, help="share of commands left unanswered")


def gateway_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--gateway {text!r}: use HOST:PORT, e.g. 127.0.0.1:8212")
    return host, int(port)


class Link:
    """One data logger's TCP connection to the gateway."""

    def __init__(self, mn: str, settings: LinkSettings, totals: Totals) -> None:
        self.mn, self.settings, self.totals = mn, settings, totals
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue(QUEUE)
        self.requests: deque[hj212.Frame] = deque()
        self.wake = asyncio.Event()
        self.history: dict[tuple[str, datetime], bytes] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.listener: asyncio.Task[None] | None = None
        self.waiting: tuple[str | None, asyncio.Future[None]] | None = None
        self.last_heard = 0.0
        self.key = settings.keys.get(mn)
        self.policy = hj212.Policy(keys=(self.key,)) if self.key else hj212.TOLERANT
        self.edition: int | None = None  # of the last upload: heartbeats are HJ 212-2025's
        self.pw = ""
        self.device = hj212_device.Device(
            settings.command_refuse,
            settings.command_silent,
            seed=sum(mn.encode()),
            key_field=settings.key_field,
        )

    async def run(self) -> None:
        try:
            while (item := await self._next()) is not None:
                if item == HEARTBEAT:
                    self.totals.heartbeats += 1
                    await self._upload(self._heartbeat(), first=False)
                elif isinstance(item, hj212.Frame):
                    await self._backfill(item)
                elif isinstance(item, Message):
                    await self._upload(item.payload, first=True)
            await self._finish()
        finally:
            await self._hang_up()

    async def _next(self) -> Message | hj212.Frame | str | None:
        """The next upload, a back-fill request that came in while the link was idle, or (HJ 212-2025)
        ``HEARTBEAT`` when nothing came for the heartbeat interval."""
        while not self.requests and self.queue.empty():
            self.wake.clear()
            getter = asyncio.ensure_future(self.queue.get())
            waker = asyncio.ensure_future(self.wake.wait())
            beats = self.edition == hj212.VERSION_2025 and self.settings.heartbeat > 0
            await asyncio.wait(
                {getter, waker},
                timeout=self.settings.heartbeat if beats else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            waker.cancel()
            if getter.done():
                return getter.result()
            getter.cancel()
            if not waker.done():
                return HEARTBEAT
        return self.requests.popleft() if self.requests else self.queue.get_nowait()

    async def _upload(self, payload: bytes, first: bool) -> None:
        try:
            frames = [hj212.decode(p + b"\r\n") for p in payload.split(b"\r\n") if p]
        except hj212.HJ212Error:
            frames = []  # garbled on the line: sent, never answered, not re-sent
        head = frames[0] if frames else None
        if head is not None and head.cn != "9015":
            self.edition, self.pw = head.version, head.pw or ""
        if first:
            self.totals.sent += 1
            self._remember(head, payload)
        payload = self._sealed(frames, payload)  # remembered plain: a back-fill re-stamps it
        if head is None or not head.wants_reply:
            await self._write(payload)
            return
        for attempt in range(1 + self.settings.re_count):
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiting = (head.qn, done)
            await self._write(payload)
            try:
                await asyncio.wait_for(asyncio.shield(done), self.settings.over_time * len(frames))
                self.totals.answered += head.cn != HEARTBEAT  # uploads answered, heartbeats apart
                return
            except TimeoutError:
                if attempt < self.settings.re_count:
                    self.totals.resent += 1
                    log.info(
                        "MN %s: no 9014 for QN %s in %.1f s, re-sending",
                        self.mn,
                        head.qn,
                        self.settings.over_time,
                    )
            finally:
                self.waiting = None
        self.totals.given_up += 1
        log.warning(
            "MN %s: QN %s unanswered after %d re-sends; kept for back-fill",
            self.mn,
            head.qn,
            self.settings.re_count,
        )

    def _heartbeat(self) -> bytes:
        """A CN 9015 heartbeat (HJ 212-2025), an answer asked for: the gateway counts the logger alive."""
        local = datetime.now(ZoneInfo(self.settings.timezone)).replace(tzinfo=None)
        qn = hj212.format_time(local) + f"{self.totals.heartbeats % 1000:03d}"
        flag = hj212.VERSION_2025 << 2 | hj212.FLAG_REPLY
        return hj212.encode(hj212.Frame(st="32", cn="9015", mn=self.mn, qn=qn, pw=self.pw, flag=flag))

    def _sealed(self, frames: list[hj212.Frame], payload: bytes) -> bytes:
        """The payload with the data area of its 2025 data frames SM4-encrypted under the logger's key
        (a payload the line garbled, or a logger without a key, goes out as it is)."""
        if self.key is None or not frames or not any(hj212.encryptable(f.cn, f.version) for f in frames):
            return payload
        form = self.settings.forms.get(self.mn, sm4.DEFAULT_FORM)
        return b"".join(hj212.encode(f, self.key, form) for f in frames)

    def _remember(self, frame: hj212.Frame | None, payload: bytes) -> None:
        if frame is not None and frame.cn in ("2051", "2061", "2031") and frame.data_time:
            self.history[(frame.cn, hj212.local_time(frame.data_time))] = payload

    async def _backfill(self, request: hj212.Frame) -> None:
        self.totals.backfill_requests += 1
        log.info(
            "MN %s: back-fill %s %s..%s",
            self.mn,
            request.cn,
            request.other.get("BeginTime"),
            request.other.get("EndTime"),
        )
        for payload in hj212_logger.answer_history(request, self.history):
            await self._upload(payload, first=False)

    # --- the connection --------------------------------------------------------------------------
    async def _write(self, payload: bytes) -> None:
        while True:
            if self.writer is None or self.writer.is_closing():
                await self._connect()
            assert self.writer is not None
            try:
                self.writer.write(payload)
                await self.writer.drain()
                return
            except (ConnectionError, OSError) as exc:
                log.info("MN %s: link lost (%s), reconnecting", self.mn, exc)
                await self._hang_up()

    async def _connect(self) -> None:
        delay = 0.1
        while True:
            try:
                self.reader, self.writer = await asyncio.open_connection(
                    self.settings.host, self.settings.port
                )
                break
            except OSError as exc:
                log.info(
                    "MN %s: gateway %s:%d unreachable (%s)",
                    self.mn,
                    self.settings.host,
                    self.settings.port,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        if self.listener is not None:
            self.totals.reconnects += 1
        self.listener = asyncio.create_task(self._listen(self.reader))

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(
            ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError
        ):
            while True:
                line = await reader.readuntil(b"\r\n")
                self.last_heard = loop.time()
                try:
                    frame = self._decode(line)
                except hj212.HJ212Error as exc:
                    log.warning("MN %s: undecodable frame from the gateway: %s", self.mn, exc.reason)
                    continue
                self._heard(frame)

    def _decode(self, line: bytes) -> hj212.Frame:
        """A frame from the gateway: HJ 212-2025 ones may come encrypted under the logger's key or plain."""
        try:
            return hj212.decode(line, self.policy)
        except hj212.HJ212Error:
            if self.policy is hj212.TOLERANT:
                raise
            return hj212.decode(line)

    def _heard(self, frame: hj212.Frame) -> None:
        if frame.cn == "9014":
            if self.waiting is not None and self.waiting[0] == frame.qn and not self.waiting[1].done():
                self.waiting[1].set_result(None)
        elif frame.cn in ("2051", "2061", "2031") and {"BeginTime", "EndTime"} <= frame.other.keys():
            self.requests.append(frame)
            self.wake.set()
        elif frame.cn in hj212_device.SUPPORTED or frame.wants_reply:
            self._command(frame)
        else:
            log.info("MN %s: CN %s from the gateway ignored", self.mn, frame.cn)

    def _command(self, frame: hj212.Frame) -> None:
        """Answer a command at once (9011, data, 9012), on the connection it came in on."""
        self.totals.commands += 1
        point_time = datetime.now(ZoneInfo(self.settings.timezone)).replace(tzinfo=None)
        answers = [
            self._sealed([hj212.decode(a)], a) for a in hj212_device.answer(frame, self.device, point_time)
        ]
        log.info("MN %s: CN %s QN %s answered with %d frames", self.mn, frame.cn, frame.qn, len(answers))
        if answers and self.writer is not None and not self.writer.is_closing():
            self.writer.write(b"".join(answers))
            self._switch_key()

    def _switch_key(self) -> None:
        """After answering a CN 1014 (HJ 212-2025 key rotation) with its 9012: what the logger sends
        from now is encrypted under the new key; the platform's frames are read under both (a request
        may already be on its way under the old one)."""
        new, old = self.device.new_key, self.key
        if new is None or new == old:
            return
        self.key = new
        self.policy = hj212.Policy(keys=(new, old) if old else (new,))
        self.totals.key_changes += 1
        log.info("MN %s: switched to its new SM4 key (CN 1014)", self.mn)

    async def _finish(self) -> None:
        """Answer the back-fill requests that came with the last replies, then half-close and wait
        for the gateway to close: everything sent has been read and committed by then."""
        loop = asyncio.get_running_loop()
        while self.writer is not None and (self.requests or loop.time() - self.last_heard < QUIET):
            if self.requests:
                await self._backfill(self.requests.popleft())
            else:
                await asyncio.sleep(QUIET / 3)
        if self.writer is None or self.writer.is_closing():
            return
        with contextlib.suppress(ConnectionError, OSError):
            self.writer.write_eof()
        if self.listener is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.listener), CLOSE_WAIT)

    async def _hang_up(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.listener
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
        self.writer = None


async def send(
    stream: Iterator[Message],
    settings: LinkSettings,
    pacer: Pacer,
    count: int | None = None,
    on_sent: Callable[[Message], None] | None = None,
    totals: Totals | None = None,
) -> Totals:
    """Dispatch the paced stream to one link per MN; returns when every link has finished. The
    ``totals`` given are counted into as it goes (an interrupted run still sums up what it did)."""
    totals = totals if totals is not None else Totals()
    links: dict[str, Link] = {}
    tasks: list[asyncio.Task[None]] = []
    try:
        for msg in stream:
            if count is not None and pacer.sent >= count:
                break
            delay = pacer.delay(msg)
            await asyncio.sleep(max(delay, 0))  # also lets the links run at --speed 0
            mn = msg.topic.rsplit("/", 1)[-1]
            if mn not in links:
                links[mn] = Link(mn, settings, totals)
                tasks.append(asyncio.create_task(links[mn].run(), name=f"link-{mn}"))
            await links[mn].queue.put(msg)
            pacer.sent += 1
            if on_sent is not None:
                on_sent(msg)
        for link in links.values():
            await link.queue.put(None)
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return totals


def statistics_stream(
    messages: Iterator[Message],
    park: ParkSpec,
    min_interval: timedelta,
    until: datetime | None,
    simulated: bool,
    passwords: Mapping[str, str] | None = None,
) -> Iterator[Message]:
    """A simulated run gets the logger's minute and hourly records and TCP stamps; a replayed real
    file goes out byte for byte (its records are the real ones). ``passwords``: each MN's PW."""
    if not simulated:
        return messages
    return hj212_logger.LoggerStream(park, min_interval, passwords=passwords).run(messages, until)


def run(args: argparse.Namespace, plan: Plan, finish: Finish) -> int:
    """`outfall simulate --transport tcp`: the plan's frames through the gateway, then the summary."""
    raw_replay = bool(args.replay) and args.replay[0] == "hj212-file"
    try:
        if args.protocol != "hj212" and not raw_replay:
            raise ValueError("--transport tcp speaks HJ 212: add --protocol hj212")
        host, port = gateway_address(args.gateway or SimulatorSettings().gateway)
        if args.over_time <= 0 or args.re_count < 0:
            raise ValueError("--over-time must be > 0 and --re-count >= 0")
        until = (
            plan.start + timedelta(seconds=plan.total)
            if plan.start and plan.total and not plan.by_count
            else None
        )
        stream = statistics_stream(
            plan.messages(),
            plan.park,
            timedelta(minutes=args.min_interval),
            until,
            simulated=not raw_replay,
            passwords=plan.passwords,
        )
    except ValueError as exc:
        print(f"outfall simulate: {exc}", file=sys.stderr)
        return 2
    settings = LinkSettings(
        host,
        port,
        args.over_time,
        args.re_count,
        args.command_refuse,
        args.command_silent,
        plan.park.timezone,
        SimulatorSettings().heartbeat_s,
        plan.sm4_keys,
        sm4_forms(plan.park),
        SM4RotationSettings().key_field,
    )
    track = plan.tracker(args.progress)

    interrupted = False
    totals = Totals()
    signal.signal(signal.SIGTERM, _interrupt)  # `outfall run` stops us with SIGTERM: still sum up
    try:
        asyncio.run(
            send(stream, settings, Pacer(args.speed, args.rate, args.live), args.count, track.sent, totals)
        )
    except KeyboardInterrupt:
        interrupted = True
    track.close()
    plan.extra.append(
        f"HJ 212 TCP    : {host}:{port}, {totals.answered} of {totals.sent} uploads answered,"
        f" {totals.resent} re-sent, {totals.given_up} given up, {totals.backfill_requests} back-fill"
        f" requests, {totals.reconnects} reconnects, {totals.commands} commands answered,"
        f" {totals.heartbeats} heartbeats, {totals.key_changes} key changes"
    )
    finish(plan, track.tally, args.truth, interrupted)
    return 0


def sm4_forms(park: ParkSpec) -> dict[str, str]:
    """MN -> the SM4 text form the park set for its logger (``config.hj212.sm4_text[_points]``)."""
    config = keys.hj212_config(park.config)
    per_point = config.get("sm4_text_points", {}) or {}
    default = str(config.get("sm4_text", sm4.DEFAULT_FORM))
    return {
        pt.mn: str(per_point.get(f"{plant.id}/{pt.id}", default))
        for plant in park.plants
        for pt in plant.points
        if pt.mn
    }


def _interrupt(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
