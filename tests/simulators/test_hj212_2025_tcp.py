"""`outfall simulate --protocol hj212 --edition 2025 --transport tcp` against the running system: the
simulated logger encrypts its data areas with the SM4 key `outfall broker provision` gave it (the park
asks for 2025), its readings are stored, its CN 9015 heartbeats keep it online between sparse uploads,
and under a wrong key in the credentials file its frames are dead letters, not readings."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

from ingest.hj212 import codec as hj212
from simulators import hj212_tcp
from simulators.records import Message
from tests.e2e.harness import E2E_PARK, System
from tests.support import ROOT, TEST_HJ212_PW

PARK_2025 = E2E_PARK + "config:\n  hj212: {{edition: 2025}}\n"


def _simulator_park(system: System, park: str) -> Path:
    """The loaded park file with only the workshop (the one point with an MN) for the simulator."""
    text = (system.root / f"{park}.yaml").read_text(encoding="utf-8")
    path = system.root / f"{park}-sim.yaml"
    path.write_text(text[: text.index("      - id: total")] + "config:\n  hj212: {edition: 2025}\n")
    return path


def _credentials(system: System, park: str, sm4_key: str) -> Path:
    """The simulator's credentials file: the PW the harness commissioned and the given SM4 key."""
    path = system.root / f"{park}-{sm4_key[:4]}.json"
    path.write_bytes(
        orjson.dumps({f"{park}/shop-01/workshop": {"hj212_pw": TEST_HJ212_PW, "sm4_key": sm4_key}})
    )
    return path


def _simulate(system: System, park: str, creds: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "outfall", "simulate", "--protocol", "hj212", "--edition", "2025"),
            *("--transport", "tcp", "--gateway", f"127.0.0.1:{system.hj212_port}"),
            *("--park", str(_simulator_park(system, park)), "--credentials", str(creds), *args),
        ],
        env={**system.env, "OUTFALL_SIMULATOR_HEARTBEAT_S": "1"},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _readings(system: System, park: str, start: datetime) -> list[dict[str, Any]]:
    found = system.api_get(
        f"/api/v1/parks/{park}/plants/shop-01/points/workshop/readings",
        parameter="ni",
        from_=(start - timedelta(minutes=1)).isoformat(),
        to=(start + timedelta(minutes=5)).isoformat(),
    )
    items: list[dict[str, Any]] = found["items"]
    return items


def _offline(system: System, park: str) -> set[str]:
    alerts = system.alerts(park, kind="offline")
    return {a["point"] for a in alerts if a["state"] in ("open", "acknowledged")}


def test_a_2025_simulated_logger_is_stored_and_its_heartbeats_keep_it_online(system: System) -> None:
    park = system.load_park(PARK_2025)
    issued = orjson.loads(system.credentials_file.read_bytes())[f"{park}/shop-01/workshop"]
    assert len(issued["sm4_key"]) == 32  # provision gave the 2025 park's logger an SM4 key
    time.sleep(2.1)  # the gateway looks an unknown MN up again only 2 s after its last registry load
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(seconds=now.second % 2)  # on the 2 s grid: records at +0 s and +2 s
    # two uploads 2 s apart in simulated time, 40 s apart on the wall clock: 3 x the 2 s interval
    # passes many times over in between, and only the heartbeats (every 1 s) say the logger is alive
    sim = _simulate(
        system, park, _credentials(system, park, issued["sm4_key"]),
        "--start", start.isoformat(), "--duration", "3s", "--speed", "0.05",
    )  # fmt: skip
    try:
        began = time.monotonic()
        # an offline alert raised before the logger's first frame clears once it is heard
        system.wait_for(lambda: "workshop" not in _offline(system, park), timeout=25, message="online")
        time.sleep(max(0.0, began + 12 - time.monotonic()))
        seen = []
        for _ in range(5):  # 12-22 s into the run: no data for 12 s and more
            seen.append(_offline(system, park))
            time.sleep(2)
        out, _ = sim.communicate(timeout=90)
    finally:
        sim.kill()
    assert sim.returncode == 0, out
    assert all("total" in offline and "workshop" not in offline for offline in seen), (seen, out)
    assert "2 of 2 uploads answered" in out and " 0 heartbeats" not in out, out
    stored = _readings(system, park, start)
    assert len(stored) == 2, stored
    with psycopg.connect(system.database_url) as conn:
        beats = conn.execute(
            "SELECT h.beats FROM logger_heartbeats h JOIN points p ON p.id = h.point_id"
            " WHERE p.park_id = %s AND p.code = 'workshop'",
            (park,),
        ).fetchone()
    assert beats is not None and beats[0] >= 5


def test_a_wrong_sm4_key_in_the_credentials_file_makes_dead_letters_not_readings(system: System) -> None:
    park = system.load_park(PARK_2025)
    mn = system.api_get(f"/api/v1/parks/{park}/plants/shop-01/points/workshop")["mn"]
    time.sleep(2.1)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    sim = _simulate(
        system, park, _credentials(system, park, "AB" * 16),
        "--start", start.isoformat(), "--duration", "6s", "--speed", "0",
        "--over-time", "1", "--re-count", "0",
    )  # fmt: skip
    out, _ = sim.communicate(timeout=90)
    assert sim.returncode == 0, out
    assert "0 of 3 uploads answered" in out, out

    def refused() -> list[str]:
        with psycopg.connect(system.database_url) as conn:
            rows = conn.execute(
                "SELECT reason FROM dead_letters WHERE reason LIKE %s", (f"%SM4%MN {mn}%",)
            ).fetchall()
        return [r for (r,) in rows]

    # the gateway refuses the frame and, as no frame of the link has a valid PW in time, hangs up
    system.wait_for(refused, timeout=15, message="a dead letter for the undecryptable upload")
    assert _readings(system, park, start) == []


# --- a 2025 link against a scripted gateway ----------------------------------------------------------

KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def _hour(h: int) -> bytes:
    factors: hj212.Factors = {"w01018": {"Avg": 40.0, "Flag": "N"}}
    when = f"20260301{h:02d}0000"
    frame = hj212.Frame(
        "32", "2061", "MN1", when + "001", "123456", 9, factors=factors, other={"DataTime": when}
    )
    return hj212.encode(frame)  # plain: the link encrypts as it sends


async def _serve_2025(hours: list[bytes]) -> tuple[list[hj212.Frame], list[bytes], hj212_tcp.Totals]:
    """One 2025 link with an SM4 key against a gateway that opens its frames with the key, answers
    them and, after the last hour, asks (encrypted) for the hours 09..11 again; then stays quiet."""
    seen: list[hj212.Frame] = []
    raw_seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                raw = await reader.readuntil(b"\r\n")
                frame = hj212.decode(raw, hj212.Policy(keys=(KEY,)))
                raw_seen.append(raw)
                seen.append(frame)
                if frame.wants_reply:  # the 9014 in clear
                    writer.write(hj212.encode(hj212.Frame("91", "9014", "MN1", frame.qn, "123456", 8)))
                if frame.data_time == "20260301120000" and not frame.backfill:
                    other = {"BeginTime": "20260301090000", "EndTime": "20260301110000"}
                    ask = hj212.Frame("32", "2061", "MN1", "20260301120500000", "123456", 9, other=other)
                    writer.write(hj212.encode(ask, KEY))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    totals = hj212_tcp.Totals()
    settings = hj212_tcp.LinkSettings("127.0.0.1", port, 0.5, 1, heartbeat=0.2, keys={"MN1": KEY})
    link = hj212_tcp.Link("MN1", settings, totals)
    task = asyncio.create_task(link.run())
    for raw in hours:
        await link.queue.put(Message("outfall/hj212/MN1", raw, datetime(2026, 3, 1)))
    await asyncio.sleep(1.0)  # nothing to send for five heartbeat intervals
    await link.queue.put(None)
    await asyncio.wait_for(task, 20)
    server.close()
    return seen, raw_seen, totals


def test_a_2025_link_encrypts_answers_an_encrypted_back_fill_with_rf_and_beats_when_idle() -> None:
    seen, raw_seen, totals = asyncio.run(_serve_2025([_hour(h) for h in (8, 9, 10, 12)]))
    records = [(f, raw) for f, raw in zip(seen, raw_seen, strict=True) if f.cn == "2061"]
    assert all(f.encrypted and b"w01018" not in raw for f, raw in records)  # SM4 on the wire
    assert [f.data_time for f, _ in records if f.backfill] == ["20260301090000", "20260301100000"]
    assert [f.backfill for f, _ in records[:4]] == [False] * 4  # first sendings carry no RF
    assert [f.cn for f in seen if f.cn in ("9011", "9012")] == ["9011", "9012"]
    beats = [f for f in seen if f.cn == "9015"]
    assert len(beats) >= 2 and all(f.flag == 9 and f.pw == "123456" for f in beats)
    assert totals.heartbeats == len(beats) and totals.answered == 6 and totals.backfill_requests == 1
