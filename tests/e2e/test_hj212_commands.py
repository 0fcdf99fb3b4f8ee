"""HJ 212 reverse control on the running system: the gateway (system.hj212_port) delivers queued
commands to a connected logger, which answers with the simulator's device (simulators/hj212_device):
a breach over TCP opens a violation and 3015 retains a sample the alert shows; a drifting clock is set
with 1012; `outfall hj212 send` gets an interval, and a refused and an unanswered command are recorded
as such, with their audit trail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from ingest.hj212 import codec as hj212
from simulators import hj212_device
from tests.e2e.harness import System
from tests.support import ROOT, TEST_HJ212_PW

ZONE = ZoneInfo("Asia/Shanghai")
PARK = """
id: {id}
name: Reverse control
timezone: Asia/Shanghai
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: total
        kind: total_outlet
        interval_s: 30
        mn: "{mn}"
        sampler: true
        serial: "SN-{id}"
        parameters: {{cod: mg/L}}
"""


class Logger:
    """A data logger on one TCP connection: uploads real-time frames by its own (maybe wrong) clock
    and answers the platform's commands as the simulator's device does."""

    def __init__(self, system: System, mn: str, device: hj212_device.Device) -> None:
        self.system, self.mn, self.device = system, mn, device
        self.commands: list[hj212.Frame] = []
        self.writer: asyncio.StreamWriter | None = None
        self._seq = 0

    async def listen(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                frame = hj212.decode(await reader.readuntil(b"\r\n"))
                if frame.cn.startswith("9"):
                    continue  # 9014 data replies
                self.commands.append(frame)
                assert self.writer is not None
                self.writer.write(b"".join(hj212_device.answer(frame, self.device, _now())))

    async def upload(self, cod: float, ago: timedelta = timedelta(0)) -> None:
        """A real-time value measured ``ago`` before now, sent now (both by the logger's clock)."""
        self._seq += 1
        when = self.device.clock(_now())
        qn = when.strftime("%Y%m%d%H%M%S") + f"{self._seq % 1000:03d}"
        cp = f"DataTime={when - ago:%Y%m%d%H%M%S};w01018-Rtd={cod},w01018-Flag=N"
        head = f"QN={qn};ST=32;CN=2011;PW={TEST_HJ212_PW};MN={self.mn};Flag=5"
        assert self.writer is not None
        self.writer.write(hj212.wrap(f"{head};CP=&&{cp}&&"))
        await self.writer.drain()

    def cns(self) -> list[str]:
        return [f.cn for f in self.commands]


def _now() -> datetime:
    return datetime.now(ZONE).replace(tzinfo=None)


@contextlib.asynccontextmanager
async def connected(system: System, mn: str, device: hj212_device.Device) -> AsyncIterator[Logger]:
    logger = Logger(system, mn, device)
    reader, logger.writer = await asyncio.open_connection("127.0.0.1", system.hj212_port)
    task = asyncio.create_task(logger.listen(reader))
    try:
        yield logger
    finally:
        task.cancel()
        logger.writer.close()


async def until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await asyncio.to_thread(check):
            return result
        await asyncio.sleep(0.3)
    raise AssertionError(f"not within {timeout} s: {check}")


def commands_of(system: System, mn: str) -> list[dict[str, Any]]:
    with psycopg.connect(system.database_url) as conn:
        cur = conn.execute(
            "SELECT id, cn, state, actor, purpose, reason, params, answer, attempts FROM hj212_commands"
            " WHERE mn = %s ORDER BY id",
            (mn,),
        )
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def audit_events(system: System, command_id: int) -> list[tuple[str, str]]:
    with psycopg.connect(system.database_url) as conn:
        rows = conn.execute(
            "SELECT event, actor FROM hj212_command_audit WHERE command_id = %s ORDER BY id", (command_id,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def send_cli(system: System, mn: str, cn: str, *fields: str, wait: float = 30) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "outfall", "hj212", "send", mn, cn, *fields, "--wait", str(wait)],
        env=system.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=wait + 60,
        check=False,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout.splitlines()[-1])


@pytest.fixture
def park(system: System) -> tuple[str, str]:
    park_id = system.load_park(PARK)
    with psycopg.connect(system.database_url) as conn:
        row = conn.execute("SELECT mn FROM points WHERE park_id = %s", (park_id,)).fetchone()
    assert row is not None
    time.sleep(2.1)  # the gateway reloads its registry for an unknown MN at most every 2 s
    return park_id, row[0]


def test_breach_over_tcp_retains_a_sample_shown_on_the_alert(system: System, park: tuple[str, str]) -> None:
    park_id, mn = park
    device = hj212_device.Device()

    async def run() -> None:
        async with connected(system, mn, device) as logger:
            await logger.upload(400.0)  # COD limit at a total outlet (GB 21900 Table 2): 80 mg/L
            await until(lambda: "3015" in logger.cns())
            await until(
                lambda: any(c["state"] == "done" for c in commands_of(system, mn) if c["cn"] == "3015")
            )

    asyncio.run(run())
    assert [pol for _, pol in device.retained] == ["w01018"]  # the sampler really kept a COD bottle
    (sample_cmd,) = [c for c in commands_of(system, mn) if c["cn"] == "3015"]
    assert sample_cmd["actor"] == "compliance" and sample_cmd["purpose"] == "sample_retention"
    events = [e for e, _ in audit_events(system, sample_cmd["id"])]
    assert events == ["queued", "sent", "9011", "9012"]
    alerts = system.wait_for(
        lambda: [a for a in system.alerts(park_id) if a.get("sample") and a["sample"]["state"] == "done"],
        message="the alert with its retained sample",
    )
    assert alerts[0]["severity"] in ("violation", "critical")
    assert alerts[0]["sample"]["text"].startswith("sample retained at ")
    detail = system.api_get(f"/api/v1/alerts/{alerts[0]['id']}")
    assert detail["alert"]["sample"] == alerts[0]["sample"]


def test_drifting_clock_is_set_with_1012(system: System, park: tuple[str, str]) -> None:
    _park_id, mn = park
    device = hj212_device.Device(clock_offset=timedelta(minutes=7))

    async def run() -> None:
        async with connected(system, mn, device) as logger:
            for cod in (20.0, 20.1, 20.2):  # three frames, 7 minutes off each time
                await logger.upload(cod)
            await until(lambda: "1012" in logger.cns())
            await until(
                lambda: any(c["cn"] == "1012" and c["state"] == "done" for c in commands_of(system, mn))
            )

    asyncio.run(run())
    assert abs(device.clock_offset.total_seconds()) < 5  # the logger's clock now reads server time
    (fix,) = [c for c in commands_of(system, mn) if c["cn"] == "1012"]
    assert fix["actor"] == "gateway" and fix["purpose"] == "time_calibration"


def test_cli_send_answered_refused_and_timed_out(system: System, park: tuple[str, str]) -> None:
    _park_id, mn = park
    device = hj212_device.Device(rtd_interval=45)

    async def run() -> list[tuple[int, dict[str, Any]]]:
        async with connected(system, mn, device) as logger:
            await logger.upload(20.0)
            results = [await asyncio.to_thread(send_cli, system, mn, "1061")]
            results.append(await asyncio.to_thread(send_cli, system, mn, "1064", "MinInterval=5"))
            device.refuse = 1.0
            results.append(await asyncio.to_thread(send_cli, system, mn, "1062", "RtdInterval=60"))
            device.refuse, device.silent = 0.0, 1.0
            results.append(await asyncio.to_thread(send_cli, system, mn, "3020", "PolId=w01018"))
            return results

    got, interval, refused, silent = asyncio.run(run())
    assert got[0] == 0 and got[1]["answer"] == {"RtdInterval": "45"}
    assert interval[0] == 0 and device.min_interval == 5
    assert refused[0] == 1 and refused[1]["state"] == "refused" and refused[1]["qn_rtn"] == 2
    assert device.rtd_interval == 45  # refused: not changed
    assert silent[0] == 1 and silent[1]["state"] == "expired"
    assert "timed out" in silent[1]["reason"] and silent[1]["attempts"] == 2  # 1 send + 1 retry (E2E)
    events = audit_events(system, silent[1]["id"])
    assert [e for e, _ in events] == ["queued", "sent", "resent", "expired"]
    assert events[0][1].startswith("cli:")


def test_admin_sends_a_command_through_the_api(system: System, park: tuple[str, str]) -> None:
    _park_id, mn = park
    device = hj212_device.Device(min_interval=15)
    auth = {"Authorization": f"Bearer {system.token}"}

    async def run() -> dict[str, Any]:
        async with connected(system, mn, device) as logger:
            await logger.upload(20.0)
            bad = await asyncio.to_thread(
                httpx.post,
                system.api_url + "/api/v1/hj212/commands",
                json={"mn": mn, "cn": "9999"},
                headers=auth,
            )
            assert bad.status_code == 422 and "not a command" in bad.text
            posted = await asyncio.to_thread(
                httpx.post,
                system.api_url + "/api/v1/hj212/commands",
                json={"mn": mn, "cn": "1063"},
                headers=auth,
            )
            assert posted.status_code == 202, posted.text
            path = f"/api/v1/hj212/commands/{posted.json()['id']}"
            return dict(await until(lambda: (c := system.api_get(path))["state"] == "done" and c))

    shown = asyncio.run(run())
    assert shown["answer"] == {"MinInterval": "15"} and shown["actor"].startswith("admin:")
    assert [a["event"] for a in shown["audit"]] == ["queued", "sent", "9011", "answer", "9012"]
    with psycopg.connect(system.database_url) as conn:
        row = conn.execute(
            "SELECT actor FROM api_audit WHERE action = 'hj212.command' ORDER BY id DESC"
        ).fetchone()
    assert row is not None and row[0] == shown["actor"]


def test_network_entry_gives_a_known_serial_its_mn(system: System, park: tuple[str, str]) -> None:
    park_id, mn = park

    async def enter(serial: str) -> list[hj212.Frame]:
        got: list[hj212.Frame] = []
        reader, writer = await asyncio.open_connection("127.0.0.1", system.hj212_port)
        temp = "TEMP" + serial[-20:].replace("-", "")
        head = f"QN=20261202103200000;ST=32;CN=1001;PW=;MN={temp};Flag=5"
        writer.write(hj212.wrap(f"{head};CP=&&SN={serial}&&"))
        with contextlib.suppress(TimeoutError, asyncio.IncompleteReadError):
            request = hj212.decode(await asyncio.wait_for(reader.readuntil(b"\r\n"), 5))
            got.append(request)
            writer.write(b"".join(hj212_device.answer(request, hj212_device.Device(), _now())))
            await asyncio.sleep(1.0)
        writer.close()
        return got

    (given,) = asyncio.run(enter(f"SN-{park_id}"))
    assert given.cn == "1002" and given.other == {"NewMN": mn}
    entry = system.wait_for(
        lambda: [c for c in commands_of(system, given.mn) if c["cn"] == "1002" and c["state"] == "done"],
        message="1002 answered",
    )
    assert entry[0]["purpose"] == "network_entry"
    assert asyncio.run(enter(f"SN-unknown-{park_id}")) == []  # waits for an admin
    waiting = system.api_get("/api/v1/hj212/enrolments")
    assert f"SN-unknown-{park_id}" in [w["serial"] for w in waiting]


def test_a_gap_in_data_time_pulls_the_loggers_history(system: System, park: tuple[str, str]) -> None:
    _park_id, mn = park
    device = hj212_device.Device()

    async def run() -> hj212.Frame:
        async with connected(system, mn, device) as logger:
            await logger.upload(20.0, ago=timedelta(minutes=20))
            await logger.upload(21.0, ago=timedelta(minutes=1))  # 19 minutes without data
            await until(lambda: "2051" in logger.cns(), timeout=45)
            return next(f for f in logger.commands if f.cn == "2051")

    pull = asyncio.run(run())
    begin, end = (hj212.local_time(pull.other[k]) for k in ("BeginTime", "EndTime"))
    assert timedelta(minutes=18) <= end - begin <= timedelta(minutes=20)
    assert abs(begin - (_now() - timedelta(minutes=20))) < timedelta(minutes=2)
    (queued,) = [c for c in commands_of(system, mn) if c["cn"] == "2051"]
    assert queued["actor"] == "compliance" and queued["purpose"] == "history"
    assert "1012" not in [c["cn"] for c in commands_of(system, mn)]  # late data is not a wrong clock


def test_a_logger_asking_for_the_time_gets_9013_then_1012(system: System, park: tuple[str, str]) -> None:
    _park_id, mn = park
    device = hj212_device.Device(clock_offset=timedelta(seconds=-40))  # within the drift allowed

    async def run() -> list[str]:
        replies: list[str] = []
        reader, writer = await asyncio.open_connection("127.0.0.1", system.hj212_port)
        qn = device.clock(_now()).strftime("%Y%m%d%H%M%S000")
        writer.write(hj212.wrap(f"QN={qn};ST=32;CN=1013;PW={TEST_HJ212_PW};MN={mn};Flag=5;CP=&&&&"))
        with contextlib.suppress(TimeoutError):
            while "1012" not in replies:
                frame = hj212.decode(await asyncio.wait_for(reader.readuntil(b"\r\n"), 10))
                replies.append(frame.cn)
                writer.write(
                    b"".join(hj212_device.answer(frame, device, _now())) if frame.cn == "1012" else b""
                )
            await asyncio.sleep(1.0)
        writer.close()
        return replies

    assert asyncio.run(run()) == ["9013", "1012"]
    assert abs(device.clock_offset.total_seconds()) < 5
    (fix,) = [c for c in commands_of(system, mn) if c["cn"] == "1012"]
    assert fix["actor"] == f"logger:{mn}"
    system.wait_for(lambda: [c for c in commands_of(system, mn) if c["state"] == "done"], message="1012 done")


PARK_2025 = """
id: {id}
name: Reverse control, HJ 212-2025
timezone: Asia/Shanghai
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: workshop
        kind: workshop_outlet
        interval_s: 30
        mn: "{mn}"
        sampler: true
        parameters: {{ni: mg/L}}
"""
SM4_KEY = "00112233445566778899AABBCCDDEEFF"


class SealedLogger:
    """A 2025 logger with an SM4 key: uploads encrypted data (Flag 9), opens the platform's commands
    with its key and answers them as the simulator's device does (its answers in its edition)."""

    def __init__(self, mn: str, key: bytes, device: hj212_device.Device) -> None:
        self.mn, self.key, self.device = mn, key, device
        self.commands: list[tuple[hj212.Frame, bytes]] = []
        self.refused: list[str] = []  # frames the logger could not read under its key, and why
        self.writer: asyncio.StreamWriter | None = None

    async def listen(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                raw = await reader.readuntil(b"\r\n")
                try:
                    frame = hj212.decode(raw, hj212.Policy(keys=(self.key,)))
                except hj212.HJ212Error as exc:
                    self.refused.append(exc.reason)
                    continue
                if frame.cn.startswith("9"):
                    continue
                self.commands.append((frame, raw))
                answers = hj212_device.answer(frame, self.device, _now())
                assert self.writer is not None  # its data answers (3020) sealed as the standard says
                self.writer.write(b"".join(hj212.encode(hj212.decode(a), self.key) for a in answers))

    async def upload(self, ni: float) -> None:
        local = _now().strftime("%Y%m%d%H%M%S")
        frame = hj212.Frame(
            st="32",
            cn="2011",
            mn=self.mn,
            qn=local + "000",
            pw=TEST_HJ212_PW,
            flag=9,  # HJ 212-2025, answer wanted
            factors={"w20121": {"Rtd": ni, "Flag": "N"}},
            other={"DataTime": local},
        )
        assert self.writer is not None
        self.writer.write(hj212.encode(frame, self.key))
        await self.writer.drain()


def test_a_breach_from_an_encrypted_2025_logger_retains_a_sample_in_its_edition(system: System) -> None:
    park_id = system.load_park(PARK_2025)
    with psycopg.connect(system.database_url) as conn:
        row = conn.execute("SELECT mn FROM points WHERE park_id = %s", (park_id,)).fetchone()
    assert row is not None
    mn = row[0]
    system.outfall("logger", "sm4", "set", f"{park_id}/shop-01/workshop", "--key", SM4_KEY)
    time.sleep(2.1)  # the gateway reloads its registry for an unknown MN at most every 2 s
    device = hj212_device.Device()
    logger = SealedLogger(mn, bytes.fromhex(SM4_KEY), device)

    async def run() -> tuple[int, dict[str, Any]]:
        reader, logger.writer = await asyncio.open_connection("127.0.0.1", system.hj212_port)
        task = asyncio.create_task(logger.listen(reader))
        try:
            await logger.upload(2.0)  # nickel limit at a workshop outlet (GB 21900 Table 2): 0.5 mg/L
            await until(lambda: "3015" in [f.cn for f, _ in logger.commands])
            await until(
                lambda: any(c["state"] == "done" for c in commands_of(system, mn) if c["cn"] == "3015")
            )
            return await asyncio.to_thread(send_cli, system, mn, "3020", "PolId=w20121")
        finally:
            task.cancel()
            logger.writer.close()

    code, info = asyncio.run(run())
    # device information: the request went out sealed under the key, the sealed answer was read
    sealed = [(f, r) for f, r in logger.commands if f.cn == "3020"]
    assert sealed, f"no 3020 the logger could read; it refused: {logger.refused}"
    (ask, ask_raw) = sealed[0]
    assert ask.encrypted and ask.version == 2 and b"PolId=w20121" not in ask_raw
    assert code == 0 and info["state"] == "done" and info["answer"], info
    (request, raw) = next((f, r) for f, r in logger.commands if f.cn == "3015")
    assert (request.version, request.flag, request.edition) == (2, 9, "2025")  # the logger's own edition
    assert not request.encrypted and hj212.decode(raw).other == {"PolId": "w20121"}  # 3015 is not sealed
    assert [pol for _, pol in device.retained] == ["w20121"]
    (sample_cmd,) = [c for c in commands_of(system, mn) if c["cn"] == "3015"]
    assert [e for e, _ in audit_events(system, sample_cmd["id"])] == ["queued", "sent", "9011", "9012"]
    alerts = system.wait_for(
        lambda: [a for a in system.alerts(park_id) if a.get("sample") and a["sample"]["state"] == "done"],
        message="the alert with its retained sample",
    )
    assert alerts[0]["parameter"] == "ni" and alerts[0]["severity"] in ("violation", "critical")
    assert alerts[0]["sample"]["text"].startswith("sample retained at ")
