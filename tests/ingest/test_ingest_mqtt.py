"""Through the real broker into the real database: values, flags, UTC times, duplicates, dead letters."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
import pytest

from tests.support import unique_id, wait_for


def _count(db, sql, *params):
    return db.execute(sql, params).fetchone()[0]


def _readings(db, park_id):
    return db.execute(
        "SELECT p.plant_id, p.code, k.code, r.time, r.value, r.flag::text, r.source FROM readings r"
        " JOIN points p ON p.id = r.point_id JOIN parameters k ON k.id = r.parameter_id"
        " WHERE p.park_id = %s ORDER BY 1, 2, 3, 4",
        (park_id,),
    ).fetchall()


def test_published_readings_are_stored_with_values_flags_and_utc_times(
    db, make_park, start_worker, publisher
):
    park = make_park()
    start_worker(topic=f"outfall/v1/{park.id}/+/+")
    body = {
        "ts": "2026-11-29T08:15:00+08:00",
        "values": {"cr_total": 0.42, "w20117": 150, "ph": 7.31},
        "flags": {"ph": "C"},
        "seq": 1,
    }
    publisher.publish(f"outfall/v1/{park.id}/shop-01/workshop", orjson.dumps(body))
    publisher.flush()
    rows = wait_for(lambda: len(_readings(db, park.id)) == 3 and _readings(db, park.id), message="3 readings")
    expected_time = datetime(2026, 11, 29, 0, 15, tzinfo=UTC)
    by_param = {r[2]: r for r in rows}
    assert by_param["cr_total"][3:6] == (expected_time, 0.42, "N")
    # Cr(VI) arrives in µg/L (the HJ 212 default) and is stored in mg/L, the unit of the limits.
    assert by_param["cr6"][4] == pytest.approx(0.150)
    assert by_param["ph"][4:6] == (7.31, "C")
    assert {r[6] for r in rows} == {"mqtt-json"}


def test_a_message_published_twice_is_stored_once(db, make_park, start_worker, publisher):
    park = make_park()
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
    payload = orjson.dumps({"ts": "2026-11-29T08:16:00+08:00", "values": {"cod": 41.0, "nh3_n": 1.1}})
    for _ in range(3):
        publisher.publish(f"outfall/v1/{park.id}/shop-02/total", payload)
    publisher.flush()
    wait_for(lambda: running.worker.counters.messages >= 3, message="3 messages handled")
    assert len(_readings(db, park.id)) == 2
    assert running.worker.counters.duplicates == 4


BAD_MESSAGES = [
    ("shop-01/total", b'{"ts": "2026-11-29T08:15:00", "values": {"cod": 1}}', "no UTC offset"),
    ("shop-09/total", b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": 1}}', "unknown point"),
    ("shop-01/total", b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"xyz": 1}}', "unknown parameter"),
    ("shop-01/total", b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"cr6": 1}}', "not measured at point"),
    ("shop-01/total", b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": "high"}}', "not a number"),
    ("shop-01/total", b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": 1e999}}', "not"),
    (
        "shop-01/total",
        b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": 1}, "flags": {"cod": "X"}}',
        "HJ 212 flags",
    ),
    ("shop-01/total", b"\xff\xfe not json", "not valid UTF-8 JSON"),
    ("shop-01/total", b'{"values": {"cod": 1}}', "field ts is missing"),
    (
        "shop-01/total",
        b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": 1}, "pad": "' + b"x" * 70_000 + b'"}',
        "over the 65536-byte limit",
    ),
]


def test_every_kind_of_bad_message_lands_in_dead_letters_with_its_reason(
    db, make_park, start_worker, publisher
):
    park = make_park()
    running = start_worker(topic=f"outfall/v1/{park.id}/#")
    for suffix, payload, _ in BAD_MESSAGES:
        publisher.publish(f"outfall/v1/{park.id}/{suffix}", payload)
    publisher.publish(f"outfall/v1/{park.id}/shop-01", b"{}")  # topic with too few levels
    good = orjson.dumps({"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": 12.5}})
    publisher.publish(f"outfall/v1/{park.id}/shop-01/total", good)
    publisher.flush()
    wait_for(lambda: running.worker.counters.messages >= len(BAD_MESSAGES) + 2, message="all messages")
    rows = db.execute(
        "SELECT topic, payload, reason, payload_sha256, payload_size FROM dead_letters WHERE topic LIKE %s"
        " ORDER BY id",
        (f"outfall/v1/{park.id}/%",),
    ).fetchall()
    assert len(rows) == len(BAD_MESSAGES) + 1  # each a distinct kind of problem: one row each
    # the raw bytes are kept, up to the cap; beyond it their length and digest
    stored = {(row[0], bytes(row[3])): row[2] for row in rows}
    for row in rows:
        assert len(row[1]) == min(row[4], 4096)
    for suffix, payload, reason in BAD_MESSAGES:
        assert reason in stored[(f"outfall/v1/{park.id}/{suffix}", hashlib.sha256(payload).digest())]
    shallow = (f"outfall/v1/{park.id}/shop-01", hashlib.sha256(b"{}").digest())
    assert "is not outfall/v1/{park}/{plant}/{point}" in stored[shallow]
    # the worker kept going: the good message after the bad ones is stored
    assert len(_readings(db, park.id)) == 1


def test_a_park_loaded_after_the_worker_started_is_accepted_at_once(db, make_park, start_worker, publisher):
    park_id = unique_id("late")
    running = start_worker(topic=f"outfall/v1/{park_id}/+/+", registry_refresh_s=3600)
    # The worker's registry was loaded before this park existed; it refreshes on the first unknown point.
    make_park(park_id=park_id)
    payload = orjson.dumps({"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": 9.0}})
    publisher.publish(f"outfall/v1/{park_id}/shop-01/total", payload)
    publisher.flush()
    wait_for(lambda: running.worker.counters.messages >= 1, message="message handled")
    assert len(_readings(db, park_id)) == 1
