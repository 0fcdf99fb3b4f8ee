"""Accepted messages are kept byte for byte (raw_messages) in the transaction of their readings: JSON v1
and raw HJ 212 over MQTT, HJ 212 over TCP (with the peer, split packets whole); a re-sent copy once,
a refused message not at all (it is a dead letter); old chunks dropped by the retention job."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson

from compliance import jobs
from ingest.hj212 import codec as hj212
from tests.compliance.context import make_context
from tests.ingest.gateway_support import RunningGateway, read_frames
from tests.ingest.hj212_support import frame, new_mn, park_yaml
from tests.support import unique_id, wait_for


def kept(db, park_id):
    return db.execute(
        "SELECT p.code, m.time, m.source, m.peer, m.payload, m.received_at FROM raw_messages m"
        " JOIN points p ON p.id = m.point_id WHERE p.park_id = %s ORDER BY m.time, m.received_at, m.payload",
        (park_id,),
    ).fetchall()


def test_json_messages_are_kept_byte_for_byte_and_a_resent_copy_once(db, make_park, start_worker, publisher):
    park = make_park()
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
    topic = f"outfall/v1/{park.id}/shop-01/total"
    # odd spacing and key order: what is kept is the bytes, not a re-encoding
    first = b'{ "values": {"cod": 41.0,  "nh3_n": 1.1}, "ts": "2026-11-29T08:16:00+08:00", "seq": 7 }'
    other = orjson.dumps({"ts": "2026-11-29T08:16:00+08:00", "values": {"cod": 41.0}, "seq": 8})
    refused = b'{"ts": "2026-11-29T08:17:00+08:00", "values": {"cod": "high"}}'
    for payload in (first, first, first, other, refused):
        publisher.publish(topic, payload)
    publisher.flush()
    wait_for(lambda: running.worker.counters.messages >= 5, message="5 messages handled")
    rows = kept(db, park.id)
    assert sorted(bytes(r[4]) for r in rows) == sorted([first, other])
    assert {(r[0], r[1], r[2], r[3]) for r in rows} == {
        ("total", datetime(2026, 11, 29, 0, 16, tzinfo=UTC), "mqtt-json", None)
    }
    stored_at = db.execute(
        "SELECT DISTINCT r.received_at FROM readings r JOIN points p ON p.id = r.point_id"
        " WHERE p.park_id = %s",
        (park.id,),
    ).fetchall()
    # the first copy's transaction stored both the readings and the message
    assert rows[0][5] in {r[0] for r in stored_at}
    digests = db.execute(
        "SELECT bool_and(m.digest = ('x' || left(encode(sha256(m.payload), 'hex'), 16))::bit(64)::bigint)"
        " FROM raw_messages m JOIN points p ON p.id = m.point_id WHERE p.park_id = %s",
        (park.id,),
    ).fetchone()
    assert digests == (True,)  # the key is the first 8 bytes of the SHA-256, as the migration says


def test_a_resent_copy_whose_readings_are_gone_is_still_kept_once(db, make_park, start_worker, publisher):
    """A batch without duplicate readings copies its messages straight in; a re-sent copy in it (its
    first copy's readings dropped, say by a shorter retention) falls back to the staged way."""
    park = make_park()
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
    topic = f"outfall/v1/{park.id}/shop-02/total"
    payload = orjson.dumps({"ts": "2026-11-29T09:00:00+08:00", "values": {"cod": 30.0}})
    publisher.publish(topic, payload)
    publisher.flush()
    wait_for(lambda: running.worker.counters.readings >= 1, message="the reading")
    db.execute(
        "DELETE FROM readings WHERE point_id = (SELECT id FROM points WHERE park_id = %s"
        " AND plant_id = 'shop-02' AND code = 'total')",
        (park.id,),
    )
    publisher.publish(topic, payload)
    publisher.flush()
    wait_for(lambda: running.worker.counters.readings >= 2, message="the reading again")
    assert [bytes(r[4]) for r in kept(db, park.id)] == [payload]
    assert running.worker.counters.dead == 0 and running.worker.counters.raw == 1


def test_raw_hj212_over_mqtt_is_kept(db, make_park, start_worker, publisher):
    workshop, total = new_mn(), new_mn()
    park = make_park(park_yaml(workshop, total))
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+", hj212_topic=f"outfall/hj212/{total}")
    sent = frame(total, "2011", "DataTime=20260301081500;w01018-Rtd=12.5,w01018-Flag=N")
    publisher.publish(f"outfall/hj212/{total}", sent)
    publisher.flush()
    wait_for(lambda: running.worker.counters.readings >= 1, message="the frame's reading")
    ((point, when, source, peer, payload, _),) = kept(db, park.id)
    expected = ("total", datetime(2026, 3, 1, 0, 15, tzinfo=UTC), "mqtt-hj212", None)
    assert (point, when, source, peer) == expected
    assert bytes(payload) == sent and sent.endswith(b"\r\n")


def test_frames_over_tcp_are_kept_with_their_peer_and_split_packets_whole(db, make_park, services, request):
    workshop, total = new_mn(), new_mn()
    park = make_park(park_yaml(workshop, total))
    gateway = RunningGateway(services.database_url)  # after the park: it knows the MN from the start
    request.addfinalizer(gateway.stop)
    alone = frame(total, "2011", "DataTime=20260301081500;w01018-Rtd=12.5,w01018-Flag=N", flag=5)
    head = f"QN=20260301082000000;ST=32;CN=2011;PW=123456;MN={total};Flag=7;PNUM=2"
    part1 = hj212.wrap(f"{head};PNO=1;CP=&&DataTime=20260301082000;w01018-Rtd=40&&")
    part2 = hj212.wrap(f"{head};PNO=2;CP=&&w21003-Rtd=2.5&&")

    async def scenario() -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(alone + alone + part1 + part2)  # the first frame re-sent at once
        await writer.drain()
        await read_frames(reader, 4)
        local = writer.get_extra_info("sockname")
        writer.close()
        return f"tcp:{local[0]}:{local[1]}"

    peer = asyncio.run(scenario())
    rows = kept(db, park.id)
    assert [bytes(r[4]) for r in rows] == sorted([alone]) + sorted([part1, part1 + part2])
    assert {(r[2], r[3]) for r in rows} == {("tcp-hj212", peer)}
    assert [r[1] for r in rows] == [
        datetime(2026, 3, 1, 0, 15, tzinfo=UTC),
        datetime(2026, 3, 1, 0, 20, tzinfo=UTC),
        datetime(2026, 3, 1, 0, 20, tzinfo=UTC),
    ]


def test_retention_drops_chunks_older_than_the_setting(db, make_park, start_worker, publisher, services):
    park = make_park()
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
    topic = f"outfall/v1/{park.id}/shop-02/total"
    for ts in ("2019-01-10T08:00:00+08:00", "2019-12-10T08:00:00+08:00"):
        publisher.publish(topic, orjson.dumps({"ts": ts, "values": {"cod": 20.0}, "tag": unique_id()}))
    publisher.flush()
    wait_for(lambda: running.worker.counters.readings >= 2, message="2 readings")
    assert len(kept(db, park.id)) == 2
    ctx = make_context()
    days = ctx.intake.raw_message_retention_days
    assert days >= 5 * 365 + 1  # 排污许可管理条例 Art. 19: at least 5 years
    # as of a time 5 years after mid-2019: the January message is older than the retention
    now = datetime(2019, 6, 1, tzinfo=UTC) + timedelta(days=days)
    detail = jobs.run(services.database_url, ctx, "raw_message_retention", now=now)
    assert "chunks of raw messages dropped" in detail and not detail.startswith("0 ")
    assert [r[1] for r in kept(db, park.id)] == [datetime(2019, 12, 10, 0, 0, tzinfo=UTC)]
