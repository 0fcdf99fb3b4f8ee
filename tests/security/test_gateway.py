"""Attacks on the HJ 212 TCP gateway of the running system (`outfall hj212 serve` on system.hj212_port):
a wrong or missing PW, an MN sent from outside its point's allow_from, sockets held open without a
frame, a flood of connections from one address, and a flood of split-packet parts that never complete
(over TCP and over MQTT). Each is refused and leaves a trace, and a legitimate logger still gets through.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from ingest.core import secrets
from ingest.core.settings import HJ212LoggerSettings
from ingest.hj212 import codec as hj212
from tests.e2e.harness import System

ZONE = ZoneInfo("Asia/Shanghai")
PARK = """
id: {{id}}
name: HJ 212 gateway under attack
timezone: Asia/Shanghai
industry: electroplating
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: good
        kind: total_outlet
        mn: "{good}"
        parameters: {{{{cod: mg/L}}}}
      - id: rogue
        kind: total_outlet
        mn: "{rogue}"
        parameters: {{{{cod: mg/L}}}}
      - id: fenced
        kind: total_outlet
        mn: "{fenced}"
        allow_from: [127.0.0.1/32]
        parameters: {{{{cod: mg/L}}}}
      - id: unregistered
        kind: total_outlet
        mn: "{unregistered}"
        parameters: {{{{cod: mg/L}}}}
"""
READ_S = 5.0  # a reply that has not come by then is not coming


@dataclass
class Park:
    id: str
    mn: dict[str, str]  # point -> MN
    pw: dict[str, str]  # point -> PW (no entry: none registered)


def _mn() -> str:
    return uuid.uuid4().hex[:24].upper()


@pytest.fixture
def park(system: System) -> Park:
    mns = {p: _mn() for p in ("good", "rogue", "fenced", "unregistered")}
    park_id = system.load_park(PARK.format(**mns))
    pws = {p: secrets.new_password() for p in ("good", "rogue", "fenced")}
    with psycopg.connect(system.database_url) as conn:
        for point, pw in pws.items():
            name = secrets.logger_name(park_id, "shop-01", point, "hj212-pw")
            secrets.issue(conn, name, "hash", secrets.hash_secret(pw), "test")
        # none for this one, even where loading a park provisions every logger's secrets
        secrets.revoke(conn, secrets.logger_name(park_id, "shop-01", "unregistered", "hj212-pw"))
    time.sleep(2.1)  # the gateway reloads its registry for an unknown MN at most every 2 s
    return Park(park_id, mns, pws)


_seq = iter(range(1, 10**9))


def rtd(mn: str, pw: str, cod: float, *, minutes_ago: int = 1) -> tuple[bytes, str]:
    """A real-time frame asking for a 9014, and its QN."""
    when = datetime.now(ZONE) - timedelta(minutes=minutes_ago, seconds=next(_seq) % 50)
    qn = when.strftime("%Y%m%d%H%M%S") + f"{next(_seq) % 1000:03d}"
    cp = f"DataTime={when:%Y%m%d%H%M%S};w01018-Rtd={cod},w01018-Flag=N"
    return hj212.wrap(f"QN={qn};ST=32;CN=2011;PW={pw};MN={mn};Flag=5;CP=&&{cp}&&"), qn


def part(mn: str, pw: str, qn: int, pno: int = 2, pnum: int = 3) -> bytes:
    """A split-packet part without a DataTime: held until its set completes (which it never does)."""
    head = f"QN={qn:017d};ST=32;CN=2011;PW={pw};MN={mn};Flag=7;PNUM={pnum};PNO={pno}"
    return hj212.wrap(f"{head};CP=&&w21003-Rtd=1.5,w21003-Flag=N&&")


async def connect(
    system: System, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", system.hj212_port, local_addr=(source, 0))


async def send(system: System, payload: bytes, source: str = "127.0.0.1") -> tuple[bytes, bool]:
    """Send one upload on a new connection: (what came back within READ_S, closed by the gateway)."""
    reader, writer = await connect(system, source)
    writer.write(payload)
    await writer.drain()
    try:
        answer = await asyncio.wait_for(next_answer(reader), READ_S)
    except asyncio.IncompleteReadError as exc:
        answer = exc.partial
    except TimeoutError:
        answer = b""
    closed = reader.at_eof() or await _closed(reader, 0.5)
    writer.close()
    return answer, closed


async def next_answer(reader: asyncio.StreamReader) -> bytes:
    """The gateway's next answer (9xxx), past any command it sends the logger meanwhile (a history
    pull for a gap these test frames leave in data time)."""
    while True:
        line = await reader.readuntil(b"\r\n")
        with contextlib.suppress(hj212.HJ212Error):
            if not hj212.decode(line).cn.startswith("9"):
                continue
        return line


async def _closed(reader: asyncio.StreamReader, wait: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), wait) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def cod_values(system: System, park: Park, point: str) -> list[float]:
    page = system.api_get(
        f"/api/v1/parks/{park.id}/plants/shop-01/points/{point}/readings",
        parameter="cod",
        from_=(datetime.now(ZONE) - timedelta(hours=2)).isoformat(),
    )
    return [item["value"] for item in page["items"]]


def dead_letters(system: System, like: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(system.database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT topic, payload, reason FROM dead_letters WHERE reason LIKE %s ORDER BY id", (like,)
        ).fetchall()


def gateway_detail(system: System) -> dict[str, Any]:
    """The gateway's heartbeat detail as /healthz shows it (beats every 5 s)."""
    health = httpx.get(system.api_url + "/healthz", timeout=10).json()
    (component,) = [c for c in health["components"] if c["kind"] == "hj212"]
    return dict(component)


def refused_metric(system: System, reason: str) -> int:
    text = httpx.get(system.api_url + "/metrics", timeout=10).text
    total = 0
    for line in text.splitlines():
        if line.startswith("outfall_hj212_refused_total{") and f'reason="{reason}"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# --- the PW -------------------------------------------------------------------------------------------
def test_a_wrong_pw_is_neither_stored_nor_answered_and_leaves_a_dead_letter(
    system: System, park: Park
) -> None:
    wrong, _ = rtd(park.mn["good"], "not-the-pw", 66.6)
    answer, closed = asyncio.run(send(system, wrong))
    assert answer == b"" and closed  # no 9014, and the connection is ended
    (letter,) = system.wait_for(
        lambda: [d for d in dead_letters(system, "HJ 212 PW does not match") if bytes(d[1]) == wrong],
        message="the refused frame's dead letter",
    )
    assert letter[0].startswith("tcp:127.0.0.1:")

    right, qn = rtd(park.mn["good"], park.pw["good"], 42.5)
    answer, _ = asyncio.run(send(system, right))
    reply = hj212.decode(answer)
    assert (reply.cn, reply.qn, reply.mn) == ("9014", qn, park.mn["good"])
    assert cod_values(system, park, "good") == [42.5]  # stored before the 9014; the wrong one never
    system.wait_for(lambda: refused_metric(system, "pw_mismatch") >= 1, message="refusal counted in /metrics")


def test_both_generations_of_a_rotated_pw_are_accepted(system: System, park: Park) -> None:
    new = secrets.new_password()
    with psycopg.connect(system.database_url) as conn:
        name = secrets.logger_name(park.id, "shop-01", "rogue", "hj212-pw")
        secrets.issue(conn, name, "hash", secrets.hash_secret(new), "test", overlap=timedelta(hours=1))
    for pw, cod in ((new, 11.0), (park.pw["rogue"], 12.0)):
        answer, _ = asyncio.run(send(system, rtd(park.mn["rogue"], pw, cod, minutes_ago=int(cod))[0]))
        assert hj212.decode(answer).cn == "9014", f"PW generation for {cod} refused"
    assert sorted(cod_values(system, park, "rogue")) == [11.0, 12.0]


def test_a_logger_without_a_registered_pw_is_refused(system: System, park: Park) -> None:
    mn = park.mn["unregistered"]
    frame, _ = rtd(mn, "123456", 5.0)
    answer, closed = asyncio.run(send(system, frame))
    assert answer == b"" and closed
    system.wait_for(
        lambda: dead_letters(system, f"no HJ 212 PW registered for MN {mn}"), message="its dead letter"
    )
    assert cod_values(system, park, "unregistered") == []


def test_an_mn_from_outside_its_allow_from_is_refused(system: System, park: Park) -> None:
    mn, pw = park.mn["fenced"], park.pw["fenced"]
    answer, closed = asyncio.run(send(system, rtd(mn, pw, 7.0)[0], source="127.0.0.3"))
    assert answer == b"" and closed
    (letter,) = system.wait_for(
        lambda: dead_letters(system, f"MN {mn} may not connect from 127.0.0.3%"), message="its dead letter"
    )
    assert letter[0].startswith("tcp:127.0.0.3:")
    answer, _ = asyncio.run(send(system, rtd(mn, pw, 8.0)[0]))  # from its own network
    assert hj212.decode(answer).cn == "9014"
    assert cod_values(system, park, "fenced") == [8.0]


# --- sockets ------------------------------------------------------------------------------------------
def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(system: System) -> None:
    deadline = float(system.settings["OUTFALL_HJ212_FIRST_FRAME_S"])
    before = refused_metric(system, "first_frame_deadline")

    async def silent() -> float:
        reader, writer = await connect(system)
        started = time.monotonic()
        assert await _closed(reader, deadline + 5)
        writer.close()
        return time.monotonic() - started

    took = asyncio.run(silent())
    assert deadline - 0.5 <= took <= deadline + 3
    system.wait_for(
        lambda: refused_metric(system, "first_frame_deadline") > before, timeout=15, message="counted"
    )


def test_connections_over_the_per_address_cap_are_refused_and_a_logger_still_gets_through(
    system: System, park: Park
) -> None:
    cap = int(system.settings["OUTFALL_HJ212_MAX_CONNECTIONS_PER_IP"])

    async def flood() -> tuple[list[bool], list[bool], bytes]:
        held = [await connect(system, "127.0.0.2") for _ in range(cap)]
        extra = [await connect(system, "127.0.0.2") for _ in range(5)]
        refused = [await _closed(r, 1.0) for r, _ in extra]
        still_open = [not await _closed(r, 0.05) for r, _ in held]
        answer, _ = await send(system, rtd(park.mn["good"], park.pw["good"], 21.0)[0])
        for _, w in held + extra:
            w.close()
        return refused, still_open, answer

    refused, still_open, answer = asyncio.run(flood())
    assert refused == [True] * 5 and all(still_open)
    assert hj212.decode(answer).cn == "9014"
    system.wait_for(lambda: refused_metric(system, "connections_per_ip") >= 5, timeout=15, message="counted")


# --- split packets ------------------------------------------------------------------------------------
PARTS = 20_000
CAP = HJ212LoggerSettings().split_parts_per_logger  # the harness leaves the default


def refused_parts(system: System, mn: str) -> list[int]:
    """The counts of the dead letters of parts refused over the cap (a flood of them is one row)."""
    with psycopg.connect(system.database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT count FROM dead_letters WHERE reason LIKE %s ORDER BY id",
            (f"split-packet part not held: MN {mn} %",),
        ).fetchall()
    return [int(r[0]) for r in rows]


def test_20000_split_parts_over_tcp_do_not_stall_a_logger_and_memory_stays_bounded(
    system: System, park: Park
) -> None:
    pid = system.procs["hj212"].pid
    rss_before = rss_kib(pid)
    rogue, good = park.mn["rogue"], park.mn["good"]
    flood = b"".join(part(rogue, park.pw["rogue"], n) for n in range(PARTS))

    async def answered_in(cod: float, minutes_ago: int) -> float:
        reader, legit = await connect(system)
        started = time.monotonic()
        legit.write(rtd(good, park.pw["good"], cod, minutes_ago=minutes_ago)[0])
        answer = await asyncio.wait_for(next_answer(reader), READ_S * 2)
        took = time.monotonic() - started
        assert hj212.decode(answer).cn == "9014"
        legit.close()
        return took

    async def scenario() -> tuple[list[float], int]:
        quiet = [await answered_in(20.0 + n, 10 + n) for n in range(2)]
        print(f"9014 latencies before the flood: {[round(t, 2) for t in quiet]} s")
        _, writer = await connect(system)
        writer.write(flood)
        latencies = [await answered_in(30.0 + n, n + 1) for n in range(5)]
        await writer.drain()
        held = system.wait_for(
            lambda: gateway_detail(system).get("split_parts_held") == CAP and CAP,
            timeout=15,
            message="the rogue logger's parts held up to the cap",
        )
        writer.close()
        return latencies, held

    latencies, held = asyncio.run(scenario())
    print(f"9014 latencies during the flood: {[round(t, 2) for t in latencies]} s")
    assert max(latencies) < 5.0, latencies  # stored and answered within seconds during the flood
    assert sorted(cod_values(system, park, "good")) == [20.0, 21.0, 30.0, 31.0, 32.0, 33.0, 34.0]
    assert held == CAP
    counts = system.wait_for(
        lambda: sum(refused_parts(system, rogue)) == PARTS - CAP and refused_parts(system, rogue),
        timeout=30,
        message="the refused parts dead-lettered once per run, with their count",
    )
    assert len(counts) <= 3, counts  # a run of them is one dead letter with its count, not one per part
    growth_mib = (rss_kib(pid) - rss_before) / 1024
    print(f"gateway RSS growth over {PARTS} parts: {growth_mib:.1f} MiB")
    assert growth_mib < 40, f"the gateway grew by {growth_mib:.0f} MiB"


def logger_client(system: System, park: Park, point: str) -> Any:
    """An MQTT client publishing as the point's logger: the harness's one publisher, or the logger's
    own login where the system's broker has per-logger accounts."""
    publisher = system.publisher
    return publisher(park.id, "shop-01", point) if callable(publisher) else publisher


def test_20000_split_parts_over_mqtt_do_not_stall_ingest(system: System, park: Park) -> None:
    rogue = park.mn["rogue"]
    client = logger_client(system, park, "rogue")
    for n in range(PARTS):
        client.publish(f"outfall/hj212/{rogue}", part(rogue, park.pw["rogue"], 10**6 + n))
    system.publish(park.id, "shop-01", "good", datetime.now(ZONE) - timedelta(minutes=30), {"cod": 77.0})
    started = time.monotonic()
    system.wait_for(lambda: 77.0 in cod_values(system, park, "good"), timeout=30, message="stored")
    assert time.monotonic() - started < 10  # not stuck behind 20,000 held parts
    # two ingest workers hold at most CAP parts each; the rest is dead-lettered in a few runs
    counts = system.wait_for(
        lambda: sum(refused_parts(system, rogue)) >= PARTS - 2 * CAP and refused_parts(system, rogue),
        timeout=40,
        message="the refused parts dead-lettered once per run, with their count",
    )
    assert sum(counts) <= PARTS - CAP and len(counts) <= 4, counts
