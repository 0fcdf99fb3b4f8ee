"""Raw HJ 212 frames on outfall/hj212/{MN}: through the real broker and worker into the real database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.hj212 import codec as hj212
from tests.ingest.hj212_support import dead_letters, frame, new_mn, park_yaml, readings, statistics
from tests.support import wait_for


@pytest.fixture
def hj_park(make_park):
    workshop, total = new_mn(), new_mn()
    return make_park(park_yaml(workshop, total)), workshop, total


def test_real_time_frames_become_readings_in_utc_and_catalogue_units(db, hj_park, start_worker, publisher):
    park, workshop, total = hj_park
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
    cp = (
        "DataTime=20260301081500;w20117-Rtd=150,w20117-Flag=N;w20116-Rtd=0.42,w20116-Flag=N;"
        "w01001-Rtd=7.31,w01001-Flag=C"
    )
    publisher.publish(f"outfall/hj212/{workshop}", frame(workshop, "2011", cp))
    # 2005 edition, 17-digit DataTime, no QN or Flag, 2005 codes
    cp05 = "DataTime=20260301081500000;B01-Rtd=36.91;011-Rtd=231.0,011-Flag=N;060-Rtd=1.803,060-Flag=D"
    publisher.publish(f"outfall/hj212/{total}", frame(total, "2011", cp05, flag=None, qn=None))
    publisher.flush()
    wait_for(lambda: running.worker.counters.messages >= 2, message="2 messages")
    rows = {(r[0], r[1]): r[2:] for r in readings(db, park.id)}
    when = datetime(2026, 3, 1, 0, 15, tzinfo=UTC)
    assert rows[("workshop", "cr6")] == (when, pytest.approx(0.150), "N", "mqtt-hj212")  # µg/L -> mg/L
    assert rows[("workshop", "cr_total")][1] == 0.42
    assert rows[("workshop", "ph")][1:3] == (7.31, "C")
    assert rows[("total", "flow")] == (when, 36.91, "N", "mqtt-hj212")
    assert rows[("total", "cod")][1] == 231.0
    assert rows[("total", "nh3_n")][1:3] == (1.803, "D")
    assert len(rows) == 6


def test_minute_hourly_daily_records_are_statistics_not_readings(db, hj_park, start_worker, publisher):
    park, workshop, total = hj_park
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
    hourly = (
        "DataTime=20260301080000;w01018-Cou=2.8,w01018-Min=121.45,w01018-Avg=123.17,w01018-Max=124.57,"
        "w01018-Flag=N;w00000-Cou=22.65,w00000-Min=5.02,w00000-Avg=6.29,w00000-Max=8.84"
    )
    minute = "DataTime=20260301081000;w20117-Avg=150,w20117-Min=100,w20117-Max=200,w20117-Cou=1.5"
    daily = "DataTime=20260301000000000;011-Cou=66.1,011-Min=114.89,011-Avg=120.13,011-Max=125.15"
    for _ in range(2):  # a retransmission counts once
        publisher.publish(f"outfall/hj212/{total}", frame(total, "2061", hourly))
    publisher.publish(f"outfall/hj212/{workshop}", frame(workshop, "2051", minute))
    publisher.publish(f"outfall/hj212/{total}", frame(total, "2031", daily, flag=None, qn=None))
    publisher.flush()
    wait_for(lambda: running.worker.counters.messages >= 4, message="4 messages")
    assert readings(db, park.id) == []
    rows = {(r[0], r[1], r[2]): r[3:] for r in statistics(db, park.id)}
    assert len(rows) == 4
    hour = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    assert rows[("total", "cod", "hour")] == (hour, 123.17, 121.45, 124.57, 2.8, "N", "mqtt-hj212")
    assert rows[("total", "flow", "hour")][4] == 22.65  # m3, not scaled like a flow rate
    # µg/L instrument: values to mg/L, its mass total (g) to kg
    assert rows[("workshop", "cr6", "minute")][1:5] == pytest.approx((0.15, 0.1, 0.2, 0.0015))
    assert rows[("total", "cod", "day")][0] == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # local midnight


def test_bad_frames_unknown_mn_and_unmeasured_factors_are_dead_letters(db, hj_park, start_worker, publisher):
    park, workshop, total = hj_park
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
    good = frame(total, "2011", "DataTime=20260301081500;w01018-Rtd=40.5,w01018-Flag=N")
    bad_crc = good[:-6] + b"0000\r\n"
    stranger = new_mn()
    mixed = frame(
        total, "2011", "DataTime=20260301081600;w01018-Rtd=41,w01018-Flag=N;w20121-Rtd=0.1;zz999-Rtd=1"
    )
    sent = [
        (f"outfall/hj212/{total}", bad_crc),
        (f"outfall/hj212/{stranger}", frame(stranger, "2011", "DataTime=20260301081500;w01018-Rtd=1")),
        (f"outfall/hj212/{workshop}", good),  # the topic's MN is not the frame's
        (f"outfall/hj212/{total}", mixed),
        (f"outfall/hj212/{total}", good),
    ]
    for topic, payload in sent:
        publisher.publish(topic, payload)
    publisher.flush()
    wait_for(lambda: running.worker.counters.messages >= len(sent), message="all messages")
    dead = [
        r
        for r in dead_letters(db, "outfall/hj212/%")
        if r[1].rsplit("/", 1)[1] in (total, workshop, stranger)
    ]
    reasons = {(r[1], bytes(r[2])): r[3] for r in dead}
    assert all(r[0] == "mqtt-hj212" for r in dead)
    assert reasons[(f"outfall/hj212/{total}", bad_crc)].startswith("bad CRC: frame carries 0000, data gives")
    assert "unknown MN" in reasons[(f"outfall/hj212/{stranger}", sent[1][1])]
    assert "does not match the topic" in reasons[(f"outfall/hj212/{workshop}", good)]
    note = reasons[(f"outfall/hj212/{total}", mixed)]
    assert "w20121 (ni) is not measured at point" in note and "unknown factor code zz999" in note
    assert len(dead) == 4
    values = sorted(r[3] for r in readings(db, park.id))
    assert values == [40.5, 41.0]  # the measured factor of the mixed frame is kept


def test_a_raw_frame_over_mqtt_follows_the_gateways_pw_rule(db, make_park, start_worker, publisher):
    """One rule wherever a frame arrives: a wrong PW, or an MN without a registered PW, is a dead
    letter and stores nothing; the right PW is stored."""
    workshop, total = new_mn(), new_mn()
    park = make_park(park_yaml(workshop, total))
    db.execute("DELETE FROM secrets WHERE name = %s", (f"logger/{park.id}/shop-01/workshop/hj212-pw",))
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
    wrong = hj212.wrap(f"ST=32;CN=2011;PW=654321;MN={total};CP=&&DataTime=20260301081500;w01018-Rtd=9&&")
    unregistered = frame(workshop, "2011", "DataTime=20260301081500;w01001-Rtd=7.1")
    right = frame(total, "2011", "DataTime=20260301081600;w01018-Rtd=42")
    for mn, payload in ((total, wrong), (workshop, unregistered), (total, right)):
        publisher.publish(f"outfall/hj212/{mn}", payload)
    publisher.flush()
    wait_for(lambda: running.worker.counters.messages >= 3, message="3 messages")
    assert [(r[0], r[1], r[3]) for r in readings(db, park.id)] == [("total", "cod", 42.0)]
    assert [r[3] for r in dead_letters(db, f"outfall/hj212/{total}")] == ["HJ 212 PW does not match"]
    assert [r[3] for r in dead_letters(db, f"outfall/hj212/{workshop}")] == [
        f"no HJ 212 PW registered for MN {workshop}"
    ]
