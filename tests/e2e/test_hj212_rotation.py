"""HJ 212-2025 SM4 key rotation on the running system (issue 12). The simulated 2025 logger (`outfall
simulate --edition 2025 --transport tcp`) streams encrypted readings to the gateway through a relay
that records both directions; mid-stream an admin rotates its key (POST /api/v1/hj212/rotations). The
gateway sends CN 1014 with the new key encrypted under the current one, the logger answers 9011/9012
and switches: every upload after its 9012 is under the new key, every reading it sent is in the API,
nothing is dead-lettered, and the old key is still accepted for the overlap. The compliance leader's
schedule starts a rotation for a park whose keys are due, and neither the API nor `outfall hj212
rotate-key` starts a second one while it is under way."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import psycopg

from ingest.hj212 import codec
from tests.e2e.harness import E2E_PARK, System
from tests.support import ROOT, TEST_HJ212_PW

ZONE = ZoneInfo("Asia/Shanghai")
PARK_2025 = E2E_PARK + "config:\n  hj212: {{edition: 2025}}\n"
SCHEDULED = E2E_PARK + "config:\n  hj212: {{edition: 2025, sm4_rotate_days: 0.00003}}\n"  # 2.6 s


class Relay:
    """A TCP relay between the logger and the gateway that keeps every byte, in order, by direction."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.up = bytearray()  # logger -> gateway
        self.down = bytearray()  # gateway -> logger
        self.peers: list[str] = []  # the gateway's name for each relayed connection (dead letters' topic)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, keep: bytearray) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65_536):
                keep.extend(data)
                dst.write(data)
                await dst.drain()
        with contextlib.suppress(ConnectionError, OSError):
            dst.write_eof()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.peers.append("tcp:{}:{}".format(*up_writer.get_extra_info("sockname")))
        await asyncio.gather(self._pump(reader, up_writer, self.up), self._pump(up_reader, writer, self.down))
        for w in (writer, up_writer):
            w.close()


def _frames(stream: bytes, keys: tuple[bytes, ...]) -> list[codec.Frame]:
    return [codec.decode(line, codec.Policy(keys=keys)) for line in stream.split(b"\r\n") if line]


def _simulate_args(system: System, park: str) -> list[str]:
    """The logger of the park's workshop, with the PW the harness commissioned and its SM4 key."""
    text = (system.root / f"{park}.yaml").read_text(encoding="utf-8")
    park_file = system.root / f"{park}-sim.yaml"
    park_file.write_text(text[: text.index("      - id: total")] + "config:\n  hj212: {edition: 2025}\n")
    key = system.credentials(park, "shop-01", "workshop")["sm4_key"]
    creds = system.root / f"{park}-sim.json"
    entry = {"hj212_pw": TEST_HJ212_PW, "sm4_key": key}
    creds.write_bytes(orjson.dumps({f"{park}/shop-01/workshop": entry}))
    return ["--park", str(park_file), "--credentials", str(creds)]


def _dead(system: System, peers: list[str], mn: str) -> list[str]:
    with psycopg.connect(system.database_url) as conn:
        rows = conn.execute(
            "SELECT reason FROM dead_letters WHERE topic = ANY(%s) OR strpos(reason, %s) > 0",
            (peers, mn),
        ).fetchall()
    return [r for (r,) in rows]


async def _stream_with_a_rotation(system: System, park: str, relay: Relay) -> str:
    server = await asyncio.start_server(relay._handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(seconds=now.second % 2)  # on the points' 2 s grid
    sim = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "outfall", "simulate", "--protocol", "hj212", "--edition", "2025"),
        *("--transport", "tcp", "--gateway", f"127.0.0.1:{port}", *_simulate_args(system, park)),
        *("--start", start.isoformat(), "--duration", "20s", "--speed", "2"),
        env=system.env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while relay.up.count(b"CN=2011") < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # three readings under the first key, then the rotation
        target = {"park": park, "plant": "shop-01", "point": "workshop"}
        auth = {"Authorization": f"Bearer {system.token}"}
        url = system.api_url + "/api/v1/hj212/rotations"
        started = await asyncio.to_thread(httpx.post, url, json=target, headers=auth)
        assert started.status_code == 202, started.text
        out, _ = await asyncio.wait_for(sim.communicate(), 90)
    finally:
        if sim.returncode is None:
            sim.kill()
        server.close()
    assert sim.returncode == 0, out.decode()
    return out.decode()


def test_a_key_rotation_in_the_middle_of_a_stream_loses_nothing(system: System) -> None:
    park = system.load_park(PARK_2025)
    mn = system.api_get(f"/api/v1/parks/{park}/plants/shop-01/points/workshop")["mn"]
    old = bytes.fromhex(system.credentials(park, "shop-01", "workshop")["sm4_key"])
    time.sleep(2.1)  # the gateway looks an unknown MN up again only 2 s after its last registry load
    relay = Relay(system.hj212_port)
    out = asyncio.run(_stream_with_a_rotation(system, park, relay))
    assert " 0 given up" in out and "1 key changes" in out, out

    # the request: CN 1014, encrypted under the old key, its new key never in clear
    (request,) = [f for f in _frames(bytes(relay.down), (old,)) if f.cn == "1014"]
    new_hex = request.other["NewKey"]
    assert request.encrypted and request.key == old and new_hex.encode() not in relay.down.upper()
    new = bytes.fromhex(new_hex)
    # the logger's frames, in the order sent: each upload under the old key until its 9012, then the new
    uploads = _frames(bytes(relay.up), (old, new))
    done = next(i for i, f in enumerate(uploads) if f.cn == "9012" and f.qn == request.qn)
    assert [f.other for f in uploads if f.qn == request.qn] == [{"QnRtn": "1"}, {"ExeRtn": "1"}]
    readings = [f for f in uploads if f.cn == "2011"]
    before = [f.key for f in uploads[:done] if f.cn == "2011"]
    seen = {f.qn for f in uploads[:done]}
    after = [f.key for f in uploads[done:] if f.cn == "2011" and f.qn not in seen]  # re-sends apart
    assert len(before) >= 3 and set(before) == {old}
    assert len(after) >= 2 and set(after) == {new}, "frames after the switch are under the new key"

    # nothing lost: every reading the logger sent is stored, nothing dead-lettered
    sent = {(codec.to_utc(f.data_time or "", ZONE), f.factors["w20121"]["Rtd"]) for f in readings}
    stored = system.api_get(
        f"/api/v1/parks/{park}/plants/shop-01/points/workshop/readings",
        parameter="ni",
        from_=(min(t for t, _ in sent) - timedelta(seconds=1)).isoformat(),
        to=(max(t for t, _ in sent) + timedelta(seconds=1)).isoformat(),
    )["items"]
    assert {(datetime.fromisoformat(r["time"]), r["value"]) for r in stored} == sent
    assert _dead(system, relay.peers, mn) == []

    # recorded: the command and its trail; the old key is still accepted for the overlap
    (rotation,) = [c for c in system.api_get("/api/v1/hj212/commands", mn=mn) if c["cn"] == "1014"]
    detail = system.api_get(f"/api/v1/hj212/commands/{rotation['id']}")
    assert detail["state"] == "done" and detail["purpose"] == "key_rotation" and detail["params"] == {}
    events = [(a["event"], a["actor"]) for a in detail["audit"]]
    assert [e for e, _ in events] == ["queued", "sent", "9011", "9012", "key_switched"], events
    assert events[0][1].startswith("admin:") and events[-1][1] == "gateway"
    assert all(new_hex not in str(a) for a in detail["audit"])
    with psycopg.connect(system.database_url) as conn:
        row = conn.execute(
            "SELECT actor FROM api_audit WHERE action = 'hj212.rotate_key' AND park_id = %s", (park,)
        ).fetchone()
    assert row is not None and row[0] == events[0][1]  # the admin's request, audited with its actor
    _old_key_still_accepted(system, park, mn, old)


def _old_key_still_accepted(system: System, park: str, mn: str, old: bytes) -> None:
    """A frame sent before the switch and delivered late (a backlog) still opens: the overlap."""
    when = datetime.now(ZONE).replace(microsecond=0, tzinfo=None) - timedelta(seconds=90)
    local = codec.format_time(when)
    frame = codec.Frame(
        "32", "2011", mn, local + "999", TEST_HJ212_PW, 9,
        factors={"w20121": {"Rtd": 0.123, "Flag": "N"}}, other={"DataTime": local},
    )  # fmt: skip

    async def send() -> codec.Frame:
        reader, writer = await asyncio.open_connection("127.0.0.1", system.hj212_port)
        writer.write(codec.encode(frame, old))
        reply = codec.decode(await asyncio.wait_for(reader.readuntil(b"\r\n"), 10))
        writer.close()
        return reply

    assert asyncio.run(send()).cn == "9014"


def test_the_leader_schedules_a_rotation_when_a_key_is_due(system: System) -> None:
    park = system.load_park(SCHEDULED)
    mn = system.api_get(f"/api/v1/parks/{park}/plants/shop-01/points/workshop")["mn"]

    def queued() -> list[dict[str, Any]]:
        found = system.api_get("/api/v1/hj212/commands", mn=mn)
        return [c for c in found if c["cn"] == "1014"]

    (cmd,) = system.wait_for(queued, timeout=20, message="a scheduled CN 1014")
    assert (cmd["actor"], cmd["purpose"], cmd["state"]) == ("compliance", "key_rotation", "queued")
    assert cmd["key_generation"] == 1
    auth = {"Authorization": f"Bearer {system.token}"}
    target = {"park": park, "plant": "shop-01", "point": "workshop"}
    busy = httpx.post(system.api_url + "/api/v1/hj212/rotations", json=target, headers=auth)
    assert busy.status_code == 409 and "already under way" in busy.text
    nowhere = httpx.post(
        system.api_url + "/api/v1/hj212/rotations", json={**target, "point": "total"}, headers=auth
    )
    assert nowhere.status_code == 404, nowhere.text  # the total outlet has no logger (no MN)
    cli = subprocess.run(
        [sys.executable, "-m", "outfall", "hj212", "rotate-key", f"{park}/shop-01/workshop"],
        env=system.env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert cli.returncode == 2 and "already under way" in cli.stdout, cli.stdout + cli.stderr
