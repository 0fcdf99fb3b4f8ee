"""Reverse control in the gateway: queued commands go out to the loggers connected now, and their
answers (9011, data, 9012) are recorded against the command with the same QN.

Every ``command_poll_s`` the open commands are read and ``commands.next_step`` decides, per command,
to send it, send it again (same QN, HJ 212-2017 Table 1 retries) or expire it with its reason. A
command is marked sent (committed) before its frame is written, so an answer that comes back at once
finds it. The gateway also queues commands of its own: 1012 when a logger's clock drifts beyond
``clock_drift_s`` (or on connect, if configured) and when a logger asks with 1013. The queue is the
database, so commands survive a gateway restart and every process can enqueue.

A command goes out in the edition of the logger's last valid frame (Flag version bits, ``Link``);
to a 2025 logger with an SM4 key, the data area of CN 2000-2999, 1014 and 3020 is encrypted with
its current key in its park's text form (``sealing``), as the logger's own uploads are. A key
rotation's 1014 (``rotation.py``) gets its new key only as it is sent, goes only to a 2025 logger
with a current key, and its answers settle the rotation (switch keys, or keep the old one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from ingest.core.models import RegistryPoint
from ingest.core.settings import HJ212Settings
from ingest.hj212 import codec, commands, repo, rotation
from ingest.hj212.store import Store

log = logging.getLogger(__name__)


@dataclass
class Link:
    """How to reach a connected logger, learnt from its last admitted frame."""

    writer: asyncio.StreamWriter
    st: str
    pw: str | None
    version: int
    zone: ZoneInfo


class Control:
    def __init__(self, settings: HJ212Settings, store: Store) -> None:
        self.settings, self.store = settings, store
        self.timing = commands.Timing(
            timedelta(seconds=settings.command_over_time_s),
            settings.command_re_count,
            timedelta(seconds=settings.command_exec_timeout_s),
        )
        self.links: dict[str, Link] = {}
        self.sent_qns: dict[str, set[str]] = {}  # MN -> QNs of requests sent (routes data answers)
        self._clock_fixed: dict[str, float] = {}  # MN -> monotonic time a 1012 was last queued
        self._offsets: dict[str, deque[float]] = {}  # MN -> clock offsets (s) of its last frames
        self.drift_rule = (settings.clock_drift_s, settings.clock_drift_tolerance_s)
        self.sent = 0

    # --- connections --------------------------------------------------------------------------
    async def attach(self, frame: codec.Frame, point: RegistryPoint, writer: asyncio.StreamWriter) -> None:
        """An admitted frame: this connection now reaches the logger ``frame.mn``."""
        link = self.links.get(frame.mn)
        if (
            link is not None
            and link.writer is writer
            and (link.pw, link.version) == (frame.pw, frame.version)
        ):
            return  # the hot path: every frame of a connected logger
        self.links[frame.mn] = Link(writer, frame.st, frame.pw, frame.version, ZoneInfo(point.timezone))
        if (link is None or link.writer is not writer) and self.settings.clock_on_connect:
            await self._calibrate(frame.mn, point.id, "on connect", "gateway")

    def detach(self, writer: asyncio.StreamWriter) -> None:
        for mn in [mn for mn, link in self.links.items() if link.writer is writer]:
            del self.links[mn]

    # --- answers ------------------------------------------------------------------------------
    def is_answer(self, frame: codec.Frame) -> bool:
        if frame.cn in ("9011", "9012"):
            return True
        return frame.cn in commands.DATA_ANSWERS and frame.qn in self.sent_qns.get(frame.mn, ())

    async def record(self, frame: codec.Frame, raw: bytes) -> None:
        """Record a 9011, 9012 or data answer against its command (logged when no command has its QN)."""
        found = commands.answer(frame)
        if found is None or frame.qn is None:
            log.info("MN %s: CN %s without a QN, not an answer to any command", frame.mn, frame.cn)
            return
        qn = frame.qn

        def write(conn: psycopg.Connection) -> tuple[int | None, str | None]:
            with conn.transaction():
                command_id = repo.record_answer(conn, frame.mn, qn, found, raw)
                if command_id is None or found.kind == "data":
                    return command_id, None
                return command_id, rotation.settle(conn, command_id, self.settings.sm4)

        command_id, settled = await self.store.call(write)
        if command_id is None:
            # e.g. the answer to a back-fill request the session sent by itself (session.history_request)
            log.info("MN %s: CN %s for QN %s, which no queued command has", frame.mn, frame.cn, qn)
        else:
            log.info("MN %s: CN %s for command %d (code %s)", frame.mn, frame.cn, command_id, found.code)
        if settled is not None:
            log.info("MN %s: key rotation %d settled: %s", frame.mn, command_id, settled)
            await self.store.refresh()  # the keys changed: what is sent and accepted from now

    # --- network entry (HJ 212-2025 CN 1001/1002) --------------------------------------------------
    async def enter(self, frame: codec.Frame, peer: str, writer: asyncio.StreamWriter) -> None:
        """A logger uploads its hardware serial (1001): a serial a point claims (park file ``serial:``,
        or an admin's assignment) is given that point's MN with 1002 through the queue; any other
        waits in ``hj212_enrolments`` for an admin. The logger is reachable under the MN it used."""
        serial = frame.other.get(self.settings.entry_serial_field)
        if not serial:
            log.warning("MN %s: 1001 without %s, ignored", frame.mn, self.settings.entry_serial_field)
            return
        field = self.settings.entry_mn_field

        def write(conn: psycopg.Connection) -> tuple[int, str] | None:
            with conn.transaction():
                repo.enrolment_seen(conn, serial, frame.mn, peer)
                found = repo.enrolled_point(conn, serial)
                if found is not None:
                    repo.enqueue(
                        conn,
                        frame.mn,
                        "1002",
                        {field: found[1]},
                        "network_entry",
                        "gateway",
                        point_id=found[0],
                    )
                return found

        found = await self.store.call(write)
        if found is None:
            log.warning(
                "serial %s (MN %s, %s) is not in the registry: waiting for an admin", serial, frame.mn, peer
            )
            return
        zone = ZoneInfo("Asia/Shanghai")  # QN only; the point's park is not known under the old MN
        self.links[frame.mn] = Link(writer, frame.st, frame.pw, frame.version, zone)
        log.info("serial %s (MN %s) enters the network as %s", serial, frame.mn, found[1])

    def entering(self, frame: codec.Frame) -> bool:
        """A frame of the network entry, before the logger has a registered MN: its 1001, or its answer
        to the 1002 we sent it."""
        if frame.cn == "1001":
            return True
        return frame.cn in ("9011", "9012") and frame.qn in self.sent_qns.get(frame.mn, ())

    # --- time calibration ---------------------------------------------------------------------
    async def check_clock(self, frame: codec.Frame, point: RegistryPoint) -> None:
        """A real-time frame's QN (when the logger built it, by its clock), or its DataTime when it has
        no QN, against the server's park-local clock: too far off, 1012. QN first, because a real-time
        value sent late (after an outage) has an old DataTime from a clock that is right."""
        stamp = frame.qn[:14] if frame.qn and len(frame.qn) >= 14 else frame.data_time
        if stamp is None:
            return
        now_local = datetime.now(ZoneInfo(point.timezone)).replace(tzinfo=None)
        try:
            off = commands.drift(stamp, now_local)
        except codec.HJ212Error:
            return
        seen = self._offsets.setdefault(frame.mn, deque(maxlen=self.settings.clock_drift_frames))
        seen.append(off.total_seconds())
        if commands.clock_is_off(list(seen), self.settings.clock_drift_frames, self.drift_rule):
            seen.clear()
            await self._calibrate(frame.mn, point.id, f"clock {off.total_seconds():+.0f} s off", "gateway")

    async def time_request(self, frame: codec.Frame, point: RegistryPoint) -> None:
        """The logger asked for the time (1013): it is set with 1012 (its 9013 is sent by the session)."""
        await self._calibrate(frame.mn, point.id, "the logger asked (1013)", f"logger:{frame.mn}", force=True)

    async def _calibrate(self, mn: str, point_id: int, why: str, actor: str, force: bool = False) -> None:
        last = self._clock_fixed.get(mn)
        if not force and last is not None and time.monotonic() - last < self.settings.clock_fix_every_s:
            return
        self._clock_fixed[mn] = time.monotonic()

        def write(conn: psycopg.Connection) -> int:
            with conn.transaction():
                return repo.enqueue(conn, mn, "1012", {}, "time_calibration", actor, point_id=point_id)

        command_id = await self.store.call(write)
        log.info("MN %s: setting its clock (%s), command %d", mn, why, command_id)

    def sealing(self, mn: str) -> tuple[bytes | None, str]:
        """The logger's current SM4 key (None without one; never a rotation's pending key) and its
        park's SM4 text form: what a 2025 request the standard encrypts is sealed with
        (``codec.encode`` leaves the rest plain)."""
        policies = self.store.policies
        return policies.current(mn), policies.form(mn)

    # --- key rotation (HJ 212-2025 CN 1014) ---------------------------------------------------------
    async def key_proven(self, frame: codec.Frame, point: RegistryPoint) -> None:
        """A frame opened under one of the logger's pending keys: it has switched (``rotation.proven``)."""
        assert frame.key is not None
        key, where = frame.key, (point.id, point.park, point.plant, point.code)

        def write(conn: psycopg.Connection) -> int | None:
            with conn.transaction():
                return rotation.proven(conn, where, key, self.settings.sm4)

        command_id = await self.store.call(write)
        log.info("MN %s: a frame under its new SM4 key: switched (rotation %s)", frame.mn, command_id)
        await self.store.refresh()

    async def _key_exchange(
        self, cmd: commands.Pending, link: Link, key: bytes | None, now_local: datetime
    ) -> commands.Pending | None:
        """A rotation's 1014 with its new key, or None (the command expired) when it cannot go out
        safely: only to a 2025 logger, encrypted under its current key, never in clear."""
        why = None
        if link.version != codec.VERSION_2025:
            edition = codec.EDITIONS.get(link.version, "?")
            why = f"the logger speaks HJ 212-{edition}: CN 1014 is a 2025 command (a key never goes in clear)"
        elif key is None:
            why = "the logger has no current SM4 key to send the new one under"
        key_hex = None if why else await self.store.call(lambda conn: rotation.pending_key(conn, cmd.id))
        if why is None and key_hex is None:
            why = "its new key is no longer pending"
        if why is not None or key_hex is None:
            await self._expire(cmd, why or "")
            return None
        return commands.key_exchange(cmd, key_hex, self.settings.sm4.key_field, now_local)

    # --- delivery -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Look at the queue every ``command_poll_s`` until cancelled; a database error is logged and
        the next round tries again."""
        while True:
            try:
                await self.tick()
            except psycopg.Error as exc:
                log.warning("command queue not read: %s", exc)
            await asyncio.sleep(self.settings.command_poll_s)

    async def tick(self) -> None:
        now = datetime.now(UTC)
        for cmd in await self.store.call(repo.open_commands):
            step = commands.next_step(cmd, now, cmd.mn in self.links, self.timing)
            if isinstance(step, commands.Expire):
                await self._expire(cmd, step.reason)
            elif isinstance(step, commands.Send):
                await self._send(cmd, step.resend)

    async def _expire(self, cmd: commands.Pending, reason: str) -> None:
        def write(conn: psycopg.Connection) -> str | None:
            with conn.transaction():
                repo.expire(conn, cmd.id, reason)
                return rotation.settle(conn, cmd.id, self.settings.sm4)

        settled = await self.store.call(write)
        log.info("command %d (CN %s to %s) expired: %s", cmd.id, cmd.cn, cmd.mn, reason)
        if settled is not None:
            await self.store.refresh()

    async def _send(self, cmd: commands.Pending, resend: bool) -> None:
        link = self.links[cmd.mn]
        now_local = datetime.now(link.zone).replace(tzinfo=None)
        qn = cmd.qn if resend and cmd.qn else commands.new_qn(now_local)
        key, form = self.sealing(cmd.mn)
        exchange = cmd.cn == commands.KEY_EXCHANGE
        if exchange:
            ready = await self._key_exchange(cmd, link, key, now_local)
            if ready is None:
                return
            cmd = ready
        frame = commands.request(cmd, qn, link.st, link.pw, link.version, now_local, key, form)

        def write(conn: psycopg.Connection) -> None:
            with conn.transaction():
                repo.mark_sent(conn, cmd, qn, frame, resend)

        await self.store.call(write)
        self.sent_qns.setdefault(cmd.mn, set()).add(qn)
        if exchange:
            await self.store.refresh()  # frames under the new key are accepted from now
        if link.writer.is_closing():
            return  # the retry after over_time goes out on the logger's next connection
        try:
            link.writer.write(frame)
            await link.writer.drain()
            self.sent += 1
        except (ConnectionError, OSError):
            log.info("MN %s: command %d not delivered (connection gone); retried", cmd.mn, cmd.id)
