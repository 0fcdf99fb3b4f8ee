"""Frames through the TCP gateway reach the compliance real-time path as MQTT batches do: the gateway's
store runs the same ``before_commit`` hook inside its group transaction (wired by `outfall hj212 serve`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest

from compliance import jobs, realtime, service
from ingest.core.batches import StagedBatch
from tests.compliance.context import RULES, make_context
from tests.ingest.gateway_support import RunningGateway, read_frames
from tests.ingest.hj212_support import dead_letters, frame, new_mn, readings
from tests.support import wait_for

PARK = """
id: {{id}}
name: TCP breach
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop
    points:
      - id: total
        kind: total_outlet
        mn: "{mn}"
        interval_s: 60
        parameters: {{{{cod: mg/L, ph: pH}}}}
"""


@pytest.fixture
def ctx() -> jobs.Context:
    return make_context()


def rt(mn: str, minute: int, cod: float) -> bytes:
    stamp = f"2026112010{minute:02d}00"  # park-local, 02:mm UTC
    return frame(
        mn,
        "2011",
        f"DataTime={stamp};w01018-Rtd={cod},w01018-Flag=N;w01001-Rtd=7.2",
        flag=5,
        qn=stamp + "000",
    )


async def send_all(port: int, frames: list[bytes]) -> list[str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(frames))
    await writer.drain()
    replies = await read_frames(reader, len(frames))
    writer.close()
    return [r.cn for r in replies]


def test_a_breach_sent_over_tcp_opens_an_alert(services, db, make_park, ctx) -> None:
    mn = new_mn()
    park = make_park(PARK.format(mn=mn)).id
    jobs.run(services.database_url, ctx, "refresh_limits", park=park)
    gw = RunningGateway(services.database_url, before_commit=realtime.ingest_hook(RULES))
    try:
        replies = asyncio.run(send_all(gw.port, [rt(mn, 0, 40.0), rt(mn, 1, 120.0), rt(mn, 2, 100.0)]))
    finally:
        gw.stop()
    assert replies == ["9014"] * 3  # answered after the commit that also queued them for the rules
    assert len(readings(db, park)) == 6
    # The consumer's work, done here in the test's thread: judge whatever the hook queued.
    with psycopg.connect(services.database_url, autocommit=True) as work:
        wait_for(lambda: realtime.drain(work, ctx.rules, 500) >= 0 and service.list_alerts(db, park))
    (alert,) = service.list_alerts(db, park)
    assert (alert.kind, alert.point, alert.parameter, alert.severity, alert.state) == (
        "exceedance",
        "total",
        "cod",
        "violation",
        "open",
    )
    assert alert.peak == 120.0 and alert.limit == 80.0 and alert.count == 2
    assert alert.opened_at == datetime(2026, 11, 20, 2, 1, tzinfo=UTC)


def test_a_batch_the_database_refuses_is_dead_lettered_and_still_answered(services, db, make_park) -> None:
    mn = new_mn()
    park = make_park(PARK.format(mn=mn)).id

    def refusing_hook(conn: psycopg.Connection, staged: StagedBatch) -> None:
        if staged.inserted:
            conn.execute("SELECT 1 / 0")  # a hook (or the database) refusing the batch

    gw = RunningGateway(services.database_url, before_commit=refusing_hook)
    try:
        replies = asyncio.run(send_all(gw.port, [rt(mn, 0, 40.0)]))
    finally:
        gw.stop()
    assert replies == ["9014"]  # the writer survived and the logger is not left waiting
    assert readings(db, park) == []
    (dead,) = [r for r in dead_letters(db, "tcp:%") if bytes(r[2]) == rt(mn, 0, 40.0)]
    assert dead[3].startswith("database refused the frame: division by zero")
