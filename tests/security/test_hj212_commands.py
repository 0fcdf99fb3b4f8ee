"""Commands to data loggers are an admin's: an officer or operator token may neither queue one (nor
rotate an SM4 key) nor read the queue, a malformed command (or a 1014 not sent by a key rotation) is
refused with its reason and queues nothing, and a 9012 forged for a QN the platform never sent changes
nothing (running system, API and HJ 212 gateway)."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg

from ingest.hj212 import codec as hj212
from tests.e2e.harness import System
from tests.security.test_api import new_token
from tests.support import TEST_HJ212_PW


def _count(system: System) -> int:
    with psycopg.connect(system.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM hj212_commands").fetchone()
    assert row is not None
    return int(row[0])


def test_only_an_admin_commands_loggers(system: System) -> None:
    park = system.load_park()
    before = _count(system)
    for scope in (("--role", "officer", "--park", park), ("--role", "operator", "--park", park)):
        _id, token = new_token(system, *scope)
        auth = {"Authorization": f"Bearer {token}"}
        posted = httpx.post(
            system.api_url + "/api/v1/hj212/commands", json={"mn": "ABCDEF123456", "cn": "3015"}, headers=auth
        )
        assert posted.status_code == 403, posted.text
        listed = httpx.get(system.api_url + "/api/v1/hj212/commands", headers=auth)
        assert listed.status_code == 403
        target = {"park": park, "plant": "shop-01", "point": "workshop"}
        rotated = httpx.post(system.api_url + "/api/v1/hj212/rotations", json=target, headers=auth)
        assert rotated.status_code == 403, rotated.text  # a new SM4 key is an admin's
    admin = {"Authorization": f"Bearer {system.token}"}
    for body in (
        {"mn": "ABCDEF123456", "cn": "1062", "params": {"RtdInterval": "60;CN=1072"}},  # CP injection
        {"mn": "AB;CN=1072", "cn": "1062"},
        {"mn": "ABCDEF123456", "cn": "1072", "params": {"NewPW": "x"}},  # not a command we send
        {"mn": "ABCDEF123456", "cn": "1014", "params": {"NewKey": "00" * 16}},  # a key of one's choosing
        {"mn": "ABCDEF123456", "cn": "1014"},  # only a rotation sends 1014, with its pending key
    ):
        answer = httpx.post(system.api_url + "/api/v1/hj212/commands", json=body, headers=admin)
        assert answer.status_code == 422, answer.text
    assert _count(system) == before


def test_a_forged_answer_changes_nothing(system: System) -> None:
    park = system.load_park()
    with psycopg.connect(system.database_url) as conn:
        row = conn.execute("SELECT mn FROM points WHERE park_id = %s AND mn IS NOT NULL", (park,)).fetchone()
    assert row is not None
    mn = row[0]
    time.sleep(2.1)

    async def forge() -> None:
        _reader, writer = await asyncio.open_connection("127.0.0.1", system.hj212_port)
        for cn, cp in (("9011", "QnRtn=1"), ("9012", "ExeRtn=1")):
            writer.write(
                hj212.wrap(
                    f"QN=20261202103200999;ST=91;CN={cn};PW={TEST_HJ212_PW};MN={mn};Flag=4;CP=&&{cp}&&"
                )
            )
        await writer.drain()
        await asyncio.sleep(1.0)
        writer.close()

    before = _count(system)
    asyncio.run(forge())
    with psycopg.connect(system.database_url) as conn:
        done = conn.execute("SELECT count(*) FROM hj212_commands WHERE mn = %s", (mn,)).fetchone()
    assert done == (0,) and _count(system) == before
    assert "no queued command has" in system.log_text("hj212")
