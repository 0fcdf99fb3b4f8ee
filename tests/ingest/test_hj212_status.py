"""Equipment status (CN 2021) is stored in equipment_status, once per key, over MQTT and over TCP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ingest.core.models import RegistryPoint
from ingest.hj212 import codec as hj212
from ingest.hj212 import records as hj212_records
from tests.ingest.gateway_support import RunningGateway, read_frames
from tests.ingest.hj212_support import frame, new_mn, park_yaml
from tests.support import wait_for

CP = "DataTime=20260301081500;SB1-RS=1;SB2-RS=3;w01018-i12001=0,w01018-i12002=1;011-i13004=165.5;i12003=0"
WHEN = datetime(2026, 3, 1, 0, 15, tzinfo=UTC)
EXPECTED = {
    ("SB1", "RS", "1", 1.0),
    ("SB2", "RS", "3", 3.0),
    ("w01018", "i12001", "0", 0.0),
    ("w01018", "i12002", "1", 1.0),
    ("w01018", "i13004", "165.5", 165.5),  # 2005 code 011 in its 2017 form
    ("", "i12003", "0", 0.0),
}


@pytest.fixture
def hj_park(make_park):
    workshop, total = new_mn(), new_mn()
    return make_park(park_yaml(workshop, total)), workshop, total


def status(db, park_id):
    return db.execute(
        "SELECT s.device, s.item, s.value, s.number, s.time, s.source FROM equipment_status s"
        " JOIN points p ON p.id = s.point_id WHERE p.park_id = %s",
        (park_id,),
    ).fetchall()


def test_a_status_frame_becomes_status_rows():
    point = RegistryPoint(7, "p", "pl", "pt", "MN1", "Asia/Shanghai", {})
    result = hj212_records.records(hj212.decode(frame("MN1", "2021", CP)), point, WHEN, "x")
    assert isinstance(result, hj212_records.Accepted) and result.count == 0 and result.note is None
    assert {(r[1], r[2], r[4], r[5]) for r in result.status} == EXPECTED
    assert {(r[0], r[3], r[6]) for r in result.status} == {(7, WHEN, "x")}


def test_status_over_mqtt_is_stored_once(db, hj_park, start_worker, publisher):
    park, _, total = hj_park
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
    for _ in range(2):  # a retransmission counts once
        publisher.publish(f"outfall/hj212/{total}", frame(total, "2021", CP))
    publisher.flush()
    wait_for(lambda: running.worker.counters.messages >= 2, message="2 messages")
    rows = status(db, park.id)
    assert {r[:4] for r in rows} == EXPECTED and len(rows) == len(EXPECTED)
    assert {r[4:] for r in rows} == {(WHEN, "mqtt-hj212")}
    dead = db.execute("SELECT count(*) FROM dead_letters WHERE topic = %s", (f"outfall/hj212/{total}",))
    assert dead.fetchone()[0] == 0  # stored, not a dead-lettered note any more


def test_status_over_tcp_is_stored_once_and_answered(services, db, hj_park):
    park, _, total = hj_park
    gw = RunningGateway(services.database_url)

    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(frame(total, "2021", CP, flag=5) * 2)
        await writer.drain()
        replies = await read_frames(reader, 2)
        writer.close()
        return replies

    try:
        replies = asyncio.run(scenario())
    finally:
        gw.stop()
    assert [r.cn for r in replies] == ["9014", "9014"]
    rows = status(db, park.id)
    assert {r[:4] for r in rows} == EXPECTED and len(rows) == len(EXPECTED)
    assert {r[5] for r in rows} == {"tcp-hj212"}
    assert gw.gateway is not None and gw.gateway.store.totals.status == len(EXPECTED)
