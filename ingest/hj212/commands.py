"""The pure side of HJ 212 reverse control: the commands a platform sends a logger, the request frame,
the logger's answers, and what to do next with a queued command. No sockets, no clock, no database.

The exchange (HJ 212-2017 §6.6 and Annex C; unchanged in 2025 apart from Flag's version bits):
the platform sends a request with Flag A=1 and a fresh QN; the logger answers 9011 with that QN and
``QnRtn`` (1 = will execute, otherwise refused and why), may send data with the same QN (1011 with
``SystemTime``, 1061 ``RtdInterval``, 1063 ``MinInterval``, 3020 device information, history records),
then 9012 with ``ExeRtn`` (1 = done, otherwise failed and why). A request without 9011 within the
timeout is re-sent with the same QN, at most ``re_count`` times (Table 1). The return codes below are
those of a logger firmware that implements the 2017 tables (xiaozhuweini/fyyp_rtu, hj212.h).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from ingest.hj212 import codec, sm4

# CN -> what it asks (HJ 212-2017 Table 9 and §6.6; 1001/1002 are HJ 212-2025 network entry)
COMMANDS: dict[str, str] = {
    "1000": "set answer timeout and retries (OverTime, ReCount)",
    "1011": "get the logger's time",
    "1012": "set the logger's time (SystemTime)",
    "1061": "get the real-time data interval",
    "1062": "set the real-time data interval (RtdInterval)",
    "1063": "get the minute data interval",
    "1064": "set the minute data interval (MinInterval)",
    "1002": "give the logger its MN (network entry)",
    "1014": "give the logger a new SM4 key (HJ 212-2025 key rotation)",
    "2031": "upload daily records (BeginTime, EndTime)",
    "2051": "upload minute records (BeginTime, EndTime)",
    "2061": "upload hourly records (BeginTime, EndTime)",
    "3015": "retain a sample (超标留样, PolId)",
    "3019": "upload device information",
    "3020": "get device information (PolId, InfoId)",
    "3021": "set device parameters (PolId, InfoId)",
}
KEY_EXCHANGE = "1014"  # HJ 212-2025: the platform sets the logger's new SM4 key (rotation.py)
# A command whose CN the logger answers with data carrying the request's QN (between 9011 and 9012).
DATA_ANSWERS = frozenset({"1011", "1061", "1063", "3019", "3020"})
QN_RTN = {
    1: "accepted",
    2: "refused",
    3: "wrong PW",
    4: "wrong MN",
    5: "wrong ST",
    6: "wrong Flag",
    7: "wrong QN",
    8: "wrong CN",
    9: "wrong CRC",
    100: "unknown error",
}
EXE_RTN = {
    1: "done",
    2: "failed (no reason given)",
    3: "failed: bad command",
    4: "failed: communication timeout",
    5: "failed: busy",
    6: "failed: system error",
    100: "failed: no data",
}
OPEN_STATES = ("queued", "sent", "accepted")

State = Literal["queued", "sent", "accepted", "done", "refused", "failed", "expired"]


class CommandError(ValueError):
    """A command that cannot be queued (unknown CN, a bad field), with the reason."""


@dataclass(frozen=True)
class Timing:
    """HJ 212-2017 Table 1 and the execution time a logger is given (``HJ212Settings``)."""

    over_time: timedelta
    re_count: int
    exec_timeout: timedelta


@dataclass(frozen=True)
class Pending:
    """A queued command as the gateway sees it."""

    id: int
    mn: str
    cn: str
    params: dict[str, str]
    state: str
    qn: str | None
    attempts: int
    expires_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None


@dataclass(frozen=True)
class Send:
    resend: bool


@dataclass(frozen=True)
class Expire:
    reason: str


Step = Send | Expire | None


def check(cn: str, params: dict[str, str]) -> dict[str, str]:
    """The command and its CP fields as they will be sent; raises ``CommandError``."""
    if cn not in COMMANDS:
        known = ", ".join(sorted(COMMANDS))
        raise CommandError(f"CN {cn!r} is not a command the platform sends (known: {known})")
    for key, value in params.items():
        if not key or not all(c.isalnum() or c in "-_" for c in key):
            raise CommandError(f"bad field name {key!r}: letters, digits, - and _ only")
        if any(c in value for c in ";,&=\r\n") or len(value) > 64:
            raise CommandError(f"bad value for {key}: {value[:40]!r} (no ; , & = or line ends, <= 64)")
    if cn == KEY_EXCHANGE and params:
        raise CommandError("CN 1014 takes no fields: the new key is put in when the request is sent")
    for key in ("SystemTime", "BeginTime", "EndTime"):
        if key in params and params[key] != "now":
            try:
                codec.local_time(params[key], key)
            except codec.HJ212Error as exc:
                raise CommandError(exc.reason) from None
    return dict(params)


def next_step(cmd: Pending, now: datetime, connected: bool, timing: Timing) -> Step:
    """What the gateway does with an open command now: send it, send it again, expire it, or wait."""
    if cmd.state == "accepted":
        assert cmd.accepted_at is not None
        if now - cmd.accepted_at >= timing.exec_timeout:
            return Expire(f"no execution result (9012) within {_s(timing.exec_timeout)} of 9011")
        return None
    if cmd.state == "queued":
        if connected and now < cmd.expires_at:
            return Send(resend=False)
        if now >= cmd.expires_at:
            return Expire("logger offline: it did not connect before the command expired")
        return None
    assert cmd.sent_at is not None
    if now - cmd.sent_at < timing.over_time:
        return None
    if cmd.attempts > timing.re_count:
        return Expire(f"timed out: no answer (9011) to {cmd.attempts} sends, {_s(timing.over_time)} each")
    if connected:
        return Send(resend=True)
    if now >= cmd.expires_at:
        return Expire("logger offline: the link dropped before the logger answered")
    return None


def _s(span: timedelta) -> str:
    return f"{span.total_seconds():g} s"


def new_qn(now_local: datetime) -> str:
    """QN is the request time in milliseconds, park-local (``YYYYMMDDhhmmsszzz``)."""
    return now_local.strftime("%Y%m%d%H%M%S") + f"{now_local.microsecond // 1000:03d}"


def request(
    cmd: Pending,
    qn: str,
    st: str,
    pw: str | None,
    version: int,
    now_local: datetime,
    key: bytes | None = None,
    form: str = sm4.DEFAULT_FORM,
) -> bytes:
    """The request frame, in the logger's edition (``version``: the Flag version bits of its last
    valid frame). ``SystemTime`` absent or ``now`` on 1012 is the server's park-local time at the
    moment of sending (not of queueing), which is what the logger's clock should be set to. With
    ``key`` (the logger's newest live SM4 key), a 2025 request the standard encrypts (CN 2000-2999,
    1014, 3020) has its data area SM4-encrypted and written in ``form``, the park's text form."""
    params = dict(cmd.params)
    if cmd.cn == "1012" and params.get("SystemTime", "now") == "now":
        params["SystemTime"] = codec.format_time(now_local)
    frame = codec.Frame(
        st=st,
        cn=cmd.cn,
        mn=cmd.mn,
        qn=qn,
        pw=pw,
        flag=version << 2 | codec.FLAG_REPLY,
        other=params,
    )
    return codec.encode(frame, key, form)


def key_exchange(cmd: Pending, key_hex: str, key_field: str, now_local: datetime) -> Pending:
    """A rotation's 1014 with its new key, put in as it is sent (the queue never holds the key): the key
    first, then ``DataTime``. SM4 leaves a data area's last ``len % 16`` bytes plain, so a key at the
    end could go out partly in clear; the 23 characters after it keep every key byte in a whole,
    encrypted block whatever the field's name (``key_in_whole_blocks``)."""
    params = {key_field: key_hex.upper(), "DataTime": codec.format_time(now_local)}
    return replace(cmd, params=params)


def key_in_whole_blocks(area: str, key_hex: str) -> bool:
    """Whether every byte of ``key_hex`` in the data area ``area`` falls in its encrypted blocks."""
    data, key = area.encode(), key_hex.upper().encode()
    at = data.find(key)
    return at >= 0 and at + len(key) <= len(data) // sm4.BLOCK * sm4.BLOCK


@dataclass(frozen=True)
class Answer:
    """What a frame from the logger says about the command with its QN."""

    kind: Literal["9011", "9012", "data"]
    code: int | None
    data: dict[str, str]


def answer(frame: codec.Frame) -> Answer | None:
    """9011/9012 with their return code, or the data of a data answer; None for anything else."""
    if frame.cn == "9011":
        return Answer("9011", _code(frame.other.get("QnRtn")), {})
    if frame.cn == "9012":
        return Answer("9012", _code(frame.other.get("ExeRtn")), {})
    if frame.cn in DATA_ANSWERS:
        data = dict(frame.other)
        for code, fields in frame.factors.items():
            data |= {f"{code}-{name}": str(value) for name, value in fields.items()}
        return Answer("data", None, data)
    return None


def _code(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() and len(text) <= 4 else None


def outcome(kind: str, code: int | None) -> tuple[State, str]:
    """The state an answer puts a command in, and its reason in words."""
    if kind == "9011":
        if code == 1:
            return "accepted", "accepted (QnRtn=1)"
        return "refused", f"refused by the logger: {QN_RTN.get(code or 0, 'unknown code')} (QnRtn={code})"
    if code == 1:
        return "done", "done (ExeRtn=1)"
    return "failed", f"{EXE_RTN.get(code or 0, 'failed: unknown code')} (ExeRtn={code})"


def drift(data_time: str, now_local: datetime) -> timedelta:
    """How far a logger's clock is ahead (+) of the server's, from a real-time frame's DataTime."""
    return codec.local_time(data_time) - now_local


def clock_is_off(offsets: list[float], frames: int, rule: tuple[float, float]) -> bool:
    """The logger's clock is off when its last ``frames`` real-time frames are all more than
    ``rule[0]`` seconds from the server's clock, by amounts within ``rule[1]`` of each other."""
    limit, tolerance = rule
    if len(offsets) < frames or not all(abs(o) > limit for o in offsets):
        return False
    return max(offsets) - min(offsets) <= tolerance
