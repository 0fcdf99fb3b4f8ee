"""The pure side of a simulated logger answering the platform's commands (HJ 212-2017 §6.6, Annex C):
9011 (QnRtn), the data the command asks for with the request's QN, then 9012 (ExeRtn).

A ``Device`` holds what the commands change: its clock (an offset from true park-local time), the
real-time and minute intervals, device information, the bottles its sampler has retained, and (HJ
212-2025) a new SM4 key given with CN 1014. The scenario decides how reliable the logger is:
``refuse`` and ``silent`` are the shares of commands it refuses (QnRtn=2) or never answers (so the
platform times out and retries); the choice is seeded by the request's QN, so a re-sent request
(same QN) is treated the same way every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ingest.hj212 import codec as hj212
from ingest.hj212 import sm4

SUPPORTED = frozenset(
    {"1000", "1002", "1011", "1012", "1014", "1061", "1062", "1063", "1064", "3015", "3019", "3020", "3021"}
)


@dataclass
class Device:
    refuse: float = 0.0  # share of commands refused (9011 QnRtn=2)
    silent: float = 0.0  # share of commands never answered
    clock_offset: timedelta = timedelta(0)  # the logger's clock minus the true time
    rtd_interval: int = 30  # seconds
    min_interval: int = 10  # minutes
    info: dict[str, str] = field(default_factory=lambda: {"i13004": "1.0.0"})  # InfoId -> value
    retained: list[tuple[datetime, str]] = field(default_factory=list)  # (logger time, PolId)
    seed: int = 0
    # HJ 212-2025 key rotation (CN 1014): the CP field of the new key (OUTFALL_HJ212_SM4_KEY_FIELD), and
    # the key taken: the link encrypts with it once its 9012 is out
    key_field: str = "NewKey"
    new_key: bytes | None = None

    def clock(self, true_local: datetime) -> datetime:
        return true_local + self.clock_offset

    def behaviour(self, qn: str | None) -> str:
        draw = random.Random(f"{self.seed}:{qn}").random()
        if draw < self.silent:
            return "silent"
        return "refuse" if draw < self.silent + self.refuse else "answer"


def answer(request: hj212.Frame, device: Device, true_local: datetime) -> list[bytes]:
    """The frames a logger sends back for ``request``; changes ``device`` as the command says."""
    mode = device.behaviour(request.qn)
    if mode == "silent":
        return []
    if mode == "refuse" or request.cn not in SUPPORTED:
        return [reply(request, "9011", {"QnRtn": "2"})]
    out = [reply(request, "9011", {"QnRtn": "1"})]
    data, ok = _execute(request, device, true_local)
    if data is not None:
        out.append(reply(request, request.cn, data, st=request.st))
    out.append(reply(request, "9012", {"ExeRtn": "1" if ok else "2"}))
    return out


def _execute(
    request: hj212.Frame, device: Device, true_local: datetime
) -> tuple[dict[str, str] | None, bool]:
    cp, cn = request.other, request.cn
    if cn == "1011":
        return {"SystemTime": hj212.format_time(device.clock(true_local))}, True
    if cn == "1012":
        try:
            wanted = hj212.local_time(cp.get("SystemTime", ""), "SystemTime")
        except hj212.HJ212Error:
            return None, False
        device.clock_offset = wanted - true_local  # the logger's clock now reads SystemTime
        return None, True
    if cn in ("1061", "1063"):
        key = "RtdInterval" if cn == "1061" else "MinInterval"
        return {key: str(device.rtd_interval if cn == "1061" else device.min_interval)}, True
    if cn in ("1062", "1064"):
        key = "RtdInterval" if cn == "1062" else "MinInterval"
        if not cp.get(key, "").isdigit():
            return None, False
        setattr(device, "rtd_interval" if cn == "1062" else "min_interval", int(cp[key]))
        return None, True
    if cn == "1014":
        try:
            device.new_key = sm4.parse_key(cp.get(device.key_field, ""))
        except sm4.SM4KeyError:
            return None, False  # 9012 ExeRtn=2: no usable key, the old one stays
        return None, True
    if cn == "3015":
        device.retained.append((device.clock(true_local), cp.get("PolId", "")))
        return None, True
    if cn in ("3019", "3020"):
        return {f"{cp.get('PolId', 'i')}-{k}": v for k, v in device.info.items()}, True
    if cn == "3021":
        device.info |= {k: v for k, v in cp.items() if k not in ("PolId",)}
        return None, True
    return None, True  # 1000: timeouts noted


def reply(request: hj212.Frame, cn: str, other: dict[str, str], st: str = "91") -> bytes:
    """An answer: the request's QN, PW, MN; Flag of the logger's edition without A (no reply wanted)."""
    version = request.version
    return hj212.encode(
        hj212.Frame(st=st, cn=cn, mn=request.mn, qn=request.qn, pw=request.pw, flag=version << 2, other=other)
    )
