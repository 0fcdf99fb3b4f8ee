"""HJ 212-2025 loggers against the running system (issue 12): an encrypted logger over TCP sends
real-time data and a breach (stored, and a violation opens); its SM4 key is rotated mid-stream with an
overlap and nothing is lost; a frame under a wrong key is a dead letter, never stored; a heartbeat
answers and counts the logger alive; a quirk the CRC vouches for is stored and shown with the point."""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from ingest.hj212 import codec
from tests.e2e.harness import E2E_PARK, System

SHANGHAI = ZoneInfo("Asia/Shanghai")
NI_LIMIT = 0.5  # GB 21900-2008 Table 2, workshop outlet
OLD, NEW, WRONG = "0123456789ABCDEFFEDCBA9876543210", "00112233445566778899AABBCCDDEEFF", "AB" * 16


def _frame(mn: str, when: datetime, values: dict[str, float], **header: str) -> codec.Frame:
    local = when.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
    return codec.Frame(
        st="32",
        cn="2011",
        mn=mn,
        qn=local + "000",
        pw="123456",
        flag=9,  # HJ 212-2025, answer wanted
        factors={code: {"Rtd": v, "Flag": "N"} for code, v in values.items()},
        other={"DataTime": local},
        extra_header=header,
    )


def _send(sock: socket.socket, raw: bytes) -> codec.Frame:
    sock.sendall(raw)
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        assert chunk, "the gateway closed the connection"
        data += chunk
    return codec.decode(data)


def _values(system: System, park: str, parameter: str, start: datetime, end: datetime) -> list[float]:
    found = system.api_get(
        f"/api/v1/parks/{park}/plants/shop-01/points/workshop/readings",
        parameter=parameter,
        from_=start.isoformat(),
        to=end.isoformat(),
    )
    return [r["value"] for r in found["items"]]


def _db(system: System, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(system.database_url) as conn:
        return conn.execute(query, args).fetchall()


def _workshop(system: System, park: str) -> dict[str, Any]:
    found: dict[str, Any] = system.api_get(f"/api/v1/parks/{park}/plants/shop-01/points/workshop")
    return found


def test_an_encrypted_2025_logger_is_stored_judged_and_survives_a_key_rotation(system: System) -> None:
    park = system.load_park()
    mn = _workshop(system, park)["mn"]
    system.outfall("logger", "sm4", "set", f"{park}/shop-01/workshop", "--key", OLD)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=40)
    old, new = bytes.fromhex(OLD), bytes.fromhex(NEW)
    with socket.create_connection(("127.0.0.1", system.hj212_port), timeout=30) as sock:
        peer = "tcp:{}:{}".format(*sock.getsockname())
        sent = [(t0, 0.1), (t0 + timedelta(seconds=2), 4 * NI_LIMIT)]  # a normal value, then a breach
        for when, ni in sent:
            reply = _send(sock, codec.encode(_frame(mn, when, {"ni": ni, "ph": 7.2}), old))
            assert (reply.cn, reply.edition) == ("9014", "2025")
        breach = system.wait_for(
            lambda: [a for a in system.alerts(park, kind="exceedance") if a["parameter"] == "ni"],
            timeout=15,
            message="a nickel violation from the encrypted logger",
        )
        assert breach[0]["severity"] == "violation" and breach[0]["value"] == 4 * NI_LIMIT
        # rotation: a new generation with an hour's overlap; the logger sends once more under the old
        # key, then switches (brace text form this time: the decoder reads every form)
        system.outfall(
            "logger", "sm4", "set", f"{park}/shop-01/workshop", "--key", NEW, "--overlap-hours", "1"
        )
        for i, (key, form) in enumerate([(old, "hex"), (new, "brace"), (new, "hex")], start=2):
            when = t0 + timedelta(seconds=2 * i)
            reply = _send(sock, codec.encode(_frame(mn, when, {"ni": 0.2, "ph": 7.0}), key, form))
            assert reply.cn == "9014"
            sent.append((when, 0.2))
        # a frame under a key the logger was never given: no answer, a dead letter, nothing stored
        stray = t0 + timedelta(seconds=20)
        sock.sendall(codec.encode(_frame(mn, stray, {"ni": 9.9}), bytes.fromhex(WRONG)))
        reasons = system.wait_for(
            lambda: [r for (r,) in _db(system, "SELECT reason FROM dead_letters WHERE topic = %s", peer)],
            message="the wrong-key frame dead-lettered",
        )
    assert any(r.startswith("SM4: the data area does not decrypt") for r in reasons), reasons
    stored = _values(system, park, "ni", t0, t0 + timedelta(seconds=30))
    assert stored == [ni for _, ni in sent]  # every frame of both generations, none of the stray one


def test_heartbeat_backfill_sample_check_and_a_quirk_from_a_2025_logger(system: System) -> None:
    park = system.load_park()
    mn = _workshop(system, park)["mn"]
    time.sleep(2.1)  # the gateway looks an unknown MN up again only 2 s after its last registry load
    now = datetime.now(UTC).replace(microsecond=0)
    beat = codec.Frame(st="32", cn="9015", mn=mn, qn=now.strftime("%Y%m%d%H%M%S000"), pw="123456", flag=9)
    with socket.create_connection(("127.0.0.1", system.hj212_port), timeout=30) as sock:
        assert _send(sock, codec.encode(beat)).cn == "9014"
        # a back-filled reading (RF=1) from an hour ago: stored, its source says so
        back = now - timedelta(hours=1)
        assert _send(sock, codec.encode(_frame(mn, back, {"ph": 7.4}, RF="1"))).cn == "9014"
        # a 2017-style frame whose DataTime carries milliseconds: the CRC vouches for it
        local = (now - timedelta(seconds=5)).astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
        quirky = codec.wrap(
            f"QN={local}000;ST=32;CN=2011;PW=123456;MN={mn};Flag=5;"
            f"CP=&&DataTime={local}123;w01001-Rtd=7.3,w01001-Flag=N&&"
        )
        assert _send(sock, quirky).cn == "9014"
        # a standard-sample check (CN 2062), encrypted like every 2025 data command when a key is set
        check = replace(
            _frame(mn, now - timedelta(seconds=3), {}),
            cn="2062",
            factors={"w20121": {"StdValue": 0.5, "Check": 0.49, "Flag": "N"}},
        )
        assert _send(sock, codec.encode(check)).cn == "9014"
    rows = _db(
        system,
        "SELECT h.beats FROM logger_heartbeats h JOIN points p ON p.id = h.point_id"
        " WHERE p.park_id = %s AND p.code = 'workshop'",
        park,
    )
    assert rows == [(1,)]
    sources = _db(
        system,
        "SELECT r.source FROM readings r JOIN points p ON p.id = r.point_id WHERE p.park_id = %s"
        " AND r.time = %s",
        park,
        back,
    )
    assert sources == [("tcp-hj212:backfill",)]
    checks = _db(
        system,
        "SELECT c.factor, c.fields FROM sample_checks c JOIN points p ON p.id = c.point_id"
        " WHERE p.park_id = %s",
        park,
    )
    # fields as sent (2062's field names are not in the 2017 tables, so they stay text)
    assert checks == [("w20121", {"StdValue": "0.5", "Check": "0.49", "Flag": "N"})]
    quirks = system.wait_for(lambda: _workshop(system, park)["logger_quirks"], message="quirk shown")
    counts = {q["quirk"]: q["count"] for q in quirks}
    assert counts["data_time_milliseconds"] == 1
    if len(mn) != 24:  # the harness's MNs are not 24 characters: every frame of this logger counts it
        assert counts["mn_not_24_characters"] == 4
    assert _values(system, park, "ph", now - timedelta(seconds=6), now) == [7.3]


def test_a_logger_that_only_beats_is_not_offline(system: System) -> None:
    """The offline rule (3 x the 2 s interval here) counts CN 9015 heartbeats as the logger alive: the
    workshop's logger only beats and is online (an offline alert raised before its first beat, right
    after the park loaded, clears), the total outlet (silent) stays offline."""
    park = system.load_park()
    mn = _workshop(system, park)["mn"]
    time.sleep(2.1)  # the gateway looks an unknown MN up again only 2 s after its last registry load

    def offline() -> set[str]:
        """Points with an offline alert still in force (a point heard from again has it cleared)."""
        alerts = system.alerts(park, kind="offline")
        return {a["point"] for a in alerts if a["state"] in ("open", "acknowledged")}

    with socket.create_connection(("127.0.0.1", system.hj212_port), timeout=30) as sock:
        deadline = time.monotonic() + 14
        while time.monotonic() < deadline:
            qn = datetime.now(UTC).strftime("%Y%m%d%H%M%S000")
            beat = codec.Frame(st="32", cn="9015", mn=mn, qn=qn, pw="123456", flag=9)
            assert _send(sock, codec.encode(beat)).cn == "9014"
            time.sleep(1.0)
        assert "total" in offline()
        assert "workshop" not in offline()


def test_a_strict_park_refuses_a_quirk_the_crc_vouches_for(system: System) -> None:
    park = system.load_park(E2E_PARK + "config:\n  hj212: {{strict: true}}\n")
    mn = _workshop(system, park)["mn"]
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    local = now.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
    quirky = codec.wrap(
        f"QN={local}000;ST=32;CN=2011;PW=123456;MN={mn};Flag=5;"
        f"CP=&&DataTime={local}123;w01001-Rtd=7.3,w01001-Flag=N&&"
    )
    with socket.create_connection(("127.0.0.1", system.hj212_port), timeout=30) as sock:
        peer = "tcp:{}:{}".format(*sock.getsockname())
        sock.sendall(quirky)
        reasons = system.wait_for(
            lambda: [r for (r,) in _db(system, "SELECT reason FROM dead_letters WHERE topic = %s", peer)],
            message="the quirky frame refused",
        )
    assert reasons[0].startswith("refused in strict mode (park setting): ")
    assert _values(system, park, "ph", now - timedelta(seconds=1), now + timedelta(seconds=1)) == []


def test_an_encrypted_2025_frame_over_mqtt_is_opened_with_the_loggers_key(system: System) -> None:
    """Raw frames on outfall/hj212/{MN}: the ingest workers load the keys with their registry (every
    OUTFALL_INGEST_REGISTRY_REFRESH_S, 5 s); a frame under a wrong key is a dead letter; heartbeats and
    quirks are recorded as over TCP."""
    park = system.load_park()
    mn = _workshop(system, park)["mn"]
    system.outfall("logger", "sm4", "set", f"{park}/shop-01/workshop", "--key", OLD)
    time.sleep(6)  # one registry refresh of the workers
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    topic = f"outfall/hj212/{mn}"
    good = codec.encode(_frame(mn, when, {"ph": 7.15}), bytes.fromhex(OLD))
    stray = codec.encode(_frame(mn, when + timedelta(seconds=1), {"ph": 3.0}), bytes.fromhex(WRONG))
    # a standard-sample check (CN 2062), encrypted: stored in sample_checks with the worker's batch
    check = replace(
        _frame(mn, when, {}), cn="2062", factors={"w20121": {"StdValue": 0.5, "Check": 0.52, "Flag": "N"}}
    )
    system.publish_raw(park, "shop-01", "workshop", good, topic=topic)
    system.publish_raw(park, "shop-01", "workshop", codec.encode(check, bytes.fromhex(OLD)), topic=topic)
    system.publish_raw(park, "shop-01", "workshop", stray, topic=topic)
    system.wait_for(
        lambda: _values(system, park, "ph", when, when + timedelta(seconds=2)), message="stored over MQTT"
    )
    reasons = system.wait_for(
        lambda: [r for (r,) in _db(system, "SELECT reason FROM dead_letters WHERE topic = %s", topic)],
        message="the wrong-key frame dead-lettered",
    )
    assert any(r.startswith("SM4: the data area does not decrypt") for r in reasons), reasons
    checks = system.wait_for(
        lambda: _db(
            system,
            "SELECT c.factor, c.fields, c.source, c.time FROM sample_checks c"
            " JOIN points p ON p.id = c.point_id WHERE p.park_id = %s",
            park,
        ),
        message="the MQTT sample check stored",
    )
    assert len(reasons) == 1, reasons  # the 2062 frame is not among them
    assert checks == [("w20121", {"StdValue": "0.5", "Check": "0.52", "Flag": "N"}, "mqtt-hj212", when)]
    assert _values(system, park, "ph", when, when + timedelta(seconds=2)) == [7.15]
    # a heartbeat and a frame with a quirk, over MQTT: recorded by the workers within a refresh
    beat = codec.Frame(st="32", cn="9015", mn=mn, qn="20260101000000000", pw="123456", flag=9)
    system.publish_raw(park, "shop-01", "workshop", codec.encode(beat), topic=topic)
    local = when.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
    quirky = codec.wrap(
        f"QN={local}000;ST=;CN=2011;PW=123456;MN={mn};Flag=5;CP=&&DataTime={local};w01001-Rtd=7.2&&"
    )
    system.publish_raw(park, "shop-01", "workshop", quirky, topic=topic)
    system.wait_for(
        lambda: _db(
            system,
            "SELECT 1 FROM logger_heartbeats h JOIN points p ON p.id = h.point_id WHERE p.park_id = %s",
            park,
        ),
        timeout=20,
        message="the MQTT heartbeat recorded",
    )
    # the heartbeat's own quirk (the short e2e MN) may be counted first: wait for the ST quirk itself
    system.wait_for(
        lambda: (
            "system_code_not_two_digits" in {q["quirk"] for q in _workshop(system, park)["logger_quirks"]}
        ),
        timeout=20,
        message="the MQTT quirk counted",
    )
