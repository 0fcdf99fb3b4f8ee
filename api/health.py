"""Liveness of the service's dependencies, for /healthz."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ingest.core.reads import Heartbeat

# A minimal MQTT 3.1.1 CONNECT (clean session, keepalive 10 s, no login). A healthy broker answers with
# CONNACK 0x20 0x02 0x00 <code>: 0 from an open broker, 5 (not authorised) from one with accounts (every
# deployment): either way a broker that speaks the protocol, which catches a port that is open but not a
# broker. The client id names the probe in the broker's log of refused connections.
_PROBE_ID = b"outfall-healthz"
_CONNECT = (
    bytes([0x10, 12 + len(_PROBE_ID), 0x00, 0x04])
    + b"MQTT"
    + bytes([0x04, 0x02, 0x00, 0x0A, 0x00, len(_PROBE_ID)])
    + _PROBE_ID
)
_ANSWERS = (0x00, 0x05)  # accepted; not authorised
_DISCONNECT = bytes([0xE0, 0x00])


async def broker_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(_CONNECT)
        await writer.drain()
        reply = await asyncio.wait_for(reader.readexactly(4), timeout)
        writer.write(_DISCONNECT)
        await writer.drain()
        return reply[0] == 0x20 and reply[3] in _ANSWERS
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        writer.close()


# --- the components, from what they record in the database ---------------------------------------------
STALE_S = 30.0  # a process beats every 2-5 s: silent this long means it is gone
INBOX_MAX_AGE_S = 60.0  # a reading waiting this long for the real-time rules: judging has stalled


@dataclass(frozen=True)
class JobRun:
    name: str
    period_s: float
    last_ok_age_s: float | None  # None: never succeeded


@dataclass(frozen=True)
class Verdict:
    problems: list[str]
    components: list[dict[str, object]]
    jobs: list[dict[str, object]]


def assess(beats: list[Heartbeat], backlog: int, oldest_s: float, jobs: list[JobRun]) -> Verdict:
    """What is wrong, from the heartbeats, the real-time inbox and the job runs: a process silent for
    STALE_S, no compliance leader with a live consumer, a stalled inbox, a job overdue."""
    problems = [f"{b.kind} {b.name}: no heartbeat for {b.age_s:.0f} s" for b in beats if b.age_s > STALE_S]
    leaders = [b for b in beats if b.kind == "compliance" and b.age_s <= STALE_S and b.detail.get("leader")]
    if not leaders:
        problems.append("compliance: no leader (scheduler and real-time rules are not running)")
    elif not all(b.detail.get("consumer") for b in leaders):
        problems.append("compliance: the real-time consumer is not running")
    if not any(b.kind == "ingest" and b.age_s <= STALE_S for b in beats):
        problems.append("ingest: no live worker")
    if backlog and oldest_s > INBOX_MAX_AGE_S:
        problems.append(f"compliance: {backlog} readings waiting {oldest_s:.0f} s for the real-time rules")
    # a job is overdue when it has not succeeded within two periods and a minute, counted from its last
    # success or, when the leader started later (or it never ran), from the leader's start
    led_s = min((b.up_s for b in leaders), default=0.0)
    job_rows: list[dict[str, object]] = []
    for j in jobs:
        since = led_s if j.last_ok_age_s is None else min(j.last_ok_age_s, led_s)
        late = bool(leaders) and since > 2 * j.period_s + 60
        if late:
            problems.append(f"job {j.name}: no successful run for {since:.0f} s (period {j.period_s:.0f} s)")
        job_rows.append(
            {"name": j.name, "period_s": j.period_s, "last_ok_age_s": j.last_ok_age_s, "ok": not late}
        )
    components = [
        {"name": b.name, "kind": b.kind, "ok": b.age_s <= STALE_S, "age_s": round(b.age_s, 1), **b.detail}
        for b in beats
    ]
    return Verdict(problems, components, job_rows)
