"""The pure side of an HJ 212 TCP session: frames out of a byte stream, split-packet reassembly, the
host's replies and back-fill requests, and gap detection in a logger's minute and hourly records.

No sockets and no clock here: the gateway feeds bytes and times in and does the I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ingest.hj212 import codec, sm4

JUNK_KEEP = 2048  # bytes of a junk run kept in its dead letter
_FRAME_START = re.compile(rb"##[0-9]{4}")


@dataclass(frozen=True)
class Junk:
    """Bytes that are not a frame: garbage between frames, an oversized or cut-off frame."""

    data: bytes
    size: int
    reason: str


class FrameSplitter:
    """Cuts a TCP byte stream into candidate frames (``##`` ... CR LF, at most ``max_frame`` bytes).

    Frames may arrive in pieces or many per read; anything between frames is reported as ``Junk``.
    Decoding (length, CRC) is the codec's job: the splitter only finds the boundaries.
    """

    def __init__(self, max_frame: int = codec.MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes | Junk]:
        self._buf += data
        out: list[bytes | Junk] = []
        while self._buf:
            start = self._buf.find(b"##")
            if start < 0:
                keep = 1 if self._buf.endswith(b"#") else 0  # maybe the first half of the next ##
                self._junk(out, len(self._buf) - keep, "bytes outside any frame (no ## start)")
                break
            if start > 0:
                self._junk(out, start, "bytes outside any frame before ##")
                continue
            end = self._buf.find(b"\r\n", 2)
            if end < 0:
                if len(self._buf) > self.max_frame:
                    self._skip_oversized(out)
                    continue
                break
            self._cut(out, end + 2)
        return out

    def close(self) -> Junk | None:
        """At end of stream: the unfinished frame, if any (a logger that hung up mid-frame)."""
        if not self._buf.strip():
            return None
        data = bytes(self._buf)
        self._buf.clear()
        return Junk(data[:JUNK_KEEP], len(data), "connection closed in the middle of a frame")

    def _cut(self, out: list[bytes | Junk], length: int) -> None:
        candidate = bytes(self._buf[:length])
        del self._buf[:length]
        # A logger that restarts a frame leaves the cut-off start in front of the new one.
        restart = max((m.start() for m in _FRAME_START.finditer(candidate, 2)), default=-1)
        if restart > 0:
            out.append(
                Junk(candidate[: min(restart, JUNK_KEEP)], restart, "frame cut off by the start of another")
            )
            candidate = candidate[restart:]
        if len(candidate) > self.max_frame:
            out.append(Junk(candidate[:JUNK_KEEP], len(candidate), f"frame over {self.max_frame} bytes"))
        else:
            out.append(candidate)

    def _skip_oversized(self, out: list[bytes | Junk]) -> None:
        # No CR LF anywhere in the buffer: no ## before its last max_frame bytes can end in time. They
        # go as one piece of junk (a stream of '#' is one dead letter, in linear time, not one a byte).
        nxt = self._buf.find(b"##", max(2, len(self._buf) - self.max_frame))
        size = nxt if nxt > 0 else len(self._buf)
        self._junk(out, size, f"no CR LF within {self.max_frame} bytes of ## (oversized frame)")

    def _junk(self, out: list[bytes | Junk], size: int, reason: str) -> None:
        if size <= 0:
            return
        data = bytes(self._buf[:size])
        del self._buf[:size]
        if data.strip():  # stray line ends between frames are not worth a dead letter
            out.append(Junk(data[:JUNK_KEEP], size, reason))


def reply_to(frame: codec.Frame) -> bytes | None:
    """The host's answer to an upload whose Flag asks for one: 9014 for data, 9013 for notices."""
    if not frame.wants_reply:
        return None
    if frame.cn.startswith("2"):
        cn = "9014"
    elif frame.cn in ("1013", "8013"):
        cn = "9013"
    else:
        return None
    return codec.encode(
        codec.Frame(st="91", cn=cn, mn=frame.mn, qn=frame.qn, pw=frame.pw, flag=frame.version << 2)
    )


def heartbeat_reply(frame: codec.Frame, cn: str) -> bytes | None:
    """The answer to a CN 9015 heartbeat that asks for one (``cn``: OUTFALL_HJ212_HEARTBEAT_REPLY_CN)."""
    if frame.cn != "9015" or not frame.wants_reply or not cn:
        return None
    return codec.encode(
        codec.Frame(st="91", cn=cn, mn=frame.mn, qn=frame.qn, pw=frame.pw, flag=frame.version << 2)
    )


def history_request(
    frame: codec.Frame,
    cn: str,
    begin: datetime,
    end: datetime,
    qn: datetime,
    key: bytes | None = None,
    form: str = sm4.DEFAULT_FORM,
) -> bytes:
    """Ask a logger for its records between two local times (补传), e.g. CN 2061 for hours; in the
    edition of ``frame``, and with ``key`` a 2025 request's data area is SM4-encrypted in ``form``."""
    return codec.encode(
        codec.Frame(
            st=frame.st,
            cn=cn,
            mn=frame.mn,
            qn=qn.strftime("%Y%m%d%H%M%S") + f"{qn.microsecond // 1000:03d}",
            pw=frame.pw,
            flag=frame.version << 2 | codec.FLAG_REPLY,
            other={"BeginTime": codec.format_time(begin), "EndTime": codec.format_time(end)},
        ),
        key,
        form,
    )


@dataclass
class PartLimit:
    """Split-packet parts held, per logger (MN) and in total, against their caps.

    Parts wait in memory until their set completes, so without a cap a logger (or a bug) sending parts
    that never complete fills the memory and slows every look-up. A part beyond a cap is not held but
    dead-lettered with ``refusal``; its reason is the same for every such part of a logger, so the dead
    letters of a flood join one row with a count (``ingest.core.deadletters``).
    """

    per_logger: int
    total: int
    held: dict[str, int] = field(default_factory=dict)
    held_total: int = 0

    def take(self, mn: str) -> bool:
        """Room for one more part of ``mn``: it is counted as held (True), or not (False)."""
        if self.held_total >= self.total or self.held.get(mn, 0) >= self.per_logger:
            return False
        self.held[mn] = self.held.get(mn, 0) + 1
        self.held_total += 1
        return True

    def give_back(self, mn: str, count: int) -> None:
        left = self.held.get(mn, 0) - count
        if left > 0:
            self.held[mn] = left
        else:
            self.held.pop(mn, None)
        self.held_total -= count

    def refusal(self, mn: str) -> str:
        return (
            f"split-packet part not held: MN {mn} is at the cap of {self.per_logger} parts per logger"
            f" or all loggers at {self.total} (OUTFALL_HJ212_SPLIT_PARTS_PER_LOGGER, _TOTAL)"
        )


SetKey = tuple[str, str | None, str, int]  # MN, QN, CN, PNUM


@dataclass
class Reassembler:
    """Collects the parts of split packets (PNUM/PNO) until all have arrived, then merges them.

    With a ``limit``, each part it keeps is counted there (``reserve`` before ``add``) and given back when
    its set completes, expires or is ``dropped``. Sets expire in the order they started (a dict keeps
    insertion order), so expiry looks only at the oldest ones.
    """

    max_age: timedelta = timedelta(seconds=120)
    limit: PartLimit | None = None
    _sets: dict[SetKey, tuple[datetime, dict[int, codec.Frame]]] = field(default_factory=dict)

    def reserve(self, part: codec.Frame) -> bool:
        """Whether ``add`` may keep this part: a part already held (re-sent) or room under the limit."""
        if self.limit is None or part.pnum is None or part.pno is None:
            return True
        held = self._sets.get((part.mn, part.qn, part.cn, part.pnum))
        return (held is not None and part.pno in held[1]) or self.limit.take(part.mn)

    def add(self, part: codec.Frame, now: datetime) -> codec.Frame | None:
        self._expire(now)
        if part.pnum is None or part.pno is None:
            return part
        key = (part.mn, part.qn, part.cn, part.pnum)
        _started, parts = self._sets.setdefault(key, (now, {}))
        parts[part.pno] = part
        if len(parts) < part.pnum:
            return None
        del self._sets[key]
        self._release(part.mn, len(parts))
        ordered = [parts[n] for n in sorted(parts)]
        factors: codec.Factors = {}
        other: dict[str, str] = {}
        for p in ordered:
            for code, fields in p.factors.items():
                factors.setdefault(code, {}).update(fields)
            for key_, value in p.other.items():
                other.setdefault(key_, value)
        flag = None if part.flag is None else part.flag & ~codec.FLAG_SPLIT
        return replace(ordered[0], factors=factors, other=other, pnum=None, pno=None, flag=flag)

    def drop(self) -> None:
        """Forget every incomplete set (the connection closed); their loggers re-send."""
        for key, (_started, parts) in self._sets.items():
            self._release(key[0], len(parts))
        self._sets.clear()

    def _expire(self, now: datetime) -> None:
        while self._sets:
            key, (started, parts) = next(iter(self._sets.items()))
            if now - started <= self.max_age:
                return
            del self._sets[key]
            self._release(key[0], len(parts))

    def _release(self, mn: str, count: int) -> None:
        if self.limit is not None:
            self.limit.give_back(mn, count)


Gap = tuple[datetime, datetime]


@dataclass
class GapTracker:
    """The latest record start per (point, period); a jump of more than one interval is a gap.

    Hours are one hour apart; the minute interval is configurable per logger (1-30 min), so it is
    learned as the smallest step seen. Records older than the latest (back-filled, late) never move
    it, so a gap is asked for once. Times are UTC.
    """

    max_span: timedelta = timedelta(days=2)
    _last: dict[tuple[int, str], datetime] = field(default_factory=dict)
    _step: dict[tuple[int, str], timedelta] = field(default_factory=dict)

    def knows(self, key: tuple[int, str]) -> bool:
        return key in self._last

    def seed(self, key: tuple[int, str], last: datetime | None) -> None:
        if last is not None:
            self._last.setdefault(key, last)
        if key[1] == "hour":
            self._step[key] = timedelta(hours=1)

    def observe(self, key: tuple[int, str], when: datetime) -> Gap | None:
        last = self._last.get(key)
        self._last[key] = max(when, last) if last is not None else when
        if last is None or when <= last:
            return None
        step, diff = self._step.get(key), when - last
        if key[1] == "minute":
            self._step[key] = min(step, diff) if step is not None else diff
        if step is None or diff <= step:
            return None
        return max(last + step, when - self.max_span), when - step
