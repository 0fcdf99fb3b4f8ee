"""Junk and readings from the future against the running system (issue 11, items 2 and 4).

Before: 200 KB of ``#`` on one HJ 212 connection made 63,182 dead-letter rows, a 1 MB MQTT payload was
stored whole, and a value stamped up to 24 h ahead was stored and then won over the real reading by key.
Now a run of junk of one kind from one source is one dead letter with a count, a dead letter keeps a
capped prefix with the original length and a SHA-256, the broker refuses packets over 256 KiB, and a
reading more than the allowed clock skew (300 s) ahead is dead-lettered, so the real one is stored.
"""

from __future__ import annotations

import hashlib
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg

from ingest.hj212 import codec
from tests.e2e.harness import System

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAP = 4096  # OUTFALL_INGEST_DEAD_LETTER_MAX_BYTES
SKEW_S = 300  # OUTFALL_INGEST_MAX_CLOCK_SKEW_S
JUNK = 200_000


def _dead(system: System, topic: str) -> list[dict[str, Any]]:
    with psycopg.connect(system.database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT topic, reason, count, payload, payload_size, payload_sha256, bytes_total, received_at,"
            " last_seen FROM dead_letters WHERE topic = %s ORDER BY id",
            (topic,),
        )
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _items(system: System, topic: str) -> int:
    return sum(row["count"] for row in _dead(system, topic))


def _workshop_mn(system: System, park: str) -> str:
    points = system.api_get(f"/api/v1/parks/{park}/plants/shop-01/points")
    (mn,) = [p["mn"] for p in points if p["id"] == "workshop"]
    return str(mn)


def _values(
    system: System, park: str, point: str, parameter: str, start: datetime, end: datetime
) -> list[float]:
    found = system.api_get(
        f"/api/v1/parks/{park}/plants/shop-01/points/{point}/readings",
        parameter=parameter,
        from_=start.isoformat(),
        to=end.isoformat(),
    )
    return [r["value"] for r in found["items"]]


def _frame(mn: str, when: datetime, ph: float) -> bytes:
    """A real-time (2011) frame as a 2017 logger sends it, asking for the 9014 reply."""
    local = when.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")
    return codec.wrap(
        f"QN={local}000;ST=32;CN=2011;PW=123456;MN={mn};Flag=5;"
        f"CP=&&DataTime={local};w01001-Rtd={ph},w01001-Flag=N&&"
    )


def _reply(sock: socket.socket) -> codec.Frame:
    """The gateway's next answer (9xxx). Commands it sends meanwhile are skipped, as a logger busy
    uploading would queue them: minute-spaced frames at a 2-second point leave gaps in data time,
    for which compliance asks the logger for its history (2051)."""
    data = b""
    while True:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            assert chunk, "the gateway closed the connection"
            data += chunk
        line, _, data = data.partition(b"\r\n")
        frame = codec.decode(line)
        if frame.cn.startswith("9"):
            return frame


def test_200_kb_of_hashes_over_mqtt_make_a_handful_of_dead_letters(system: System) -> None:
    park = system.load_park()
    mn = _workshop_mn(system, park)
    json_topic, hj_topic = f"outfall/v1/{park}/shop-01/total", f"outfall/hj212/{mn}"
    t0 = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    piece = b"#" * 1_000
    sent = 0
    for i in range(JUNK // len(piece) // 2):  # half on the JSON v1 topic, half on the HJ 212 one
        system.publish_raw(park, "shop-01", "total", piece)
        system.publish_raw(park, "shop-01", "workshop", piece, topic=hj_topic)
        sent += 2 * len(piece)
        if i % 10 == 9:  # the logger's real readings, between the junk
            system.publish(park, "shop-01", "total", t0 + timedelta(seconds=i), {"cod": float(i)})
    system.wait_for(
        lambda: _items(system, json_topic) + _items(system, hj_topic) == JUNK // len(piece),
        timeout=60,
        message="every junk message counted in a dead letter",
    )
    rows = _dead(system, json_topic) + _dead(system, hj_topic)
    # one run per topic and kind; two workers share the topics, so at most two rows each
    assert 2 <= len(rows) <= 4, [(r["topic"], r["count"], r["reason"]) for r in rows]
    assert sum(r["bytes_total"] for r in rows) == sent
    assert all(bytes(r["payload"]) == piece and r["last_seen"] >= r["received_at"] for r in rows)
    stored = _values(system, park, "total", "cod", t0, t0 + timedelta(minutes=2))
    assert sorted(stored) == [float(i) for i in range(9, 100, 10)]  # every real reading stored
    print(f"\nMQTT: {sent} junk bytes in {len(rows)} dead-letter rows: {sent / len(rows):,.0f} bytes per row")


def test_a_big_payload_is_kept_capped_and_one_over_the_broker_limit_is_refused(system: System) -> None:
    park = system.load_park()
    topic = f"outfall/v1/{park}/shop-01/total"
    big = b"#" * JUNK  # under the broker's 256 KiB: delivered, and over the 64 KiB JSON v1 limit
    system.publish_raw(park, "shop-01", "total", big)
    (row,) = system.wait_for(lambda: _dead(system, topic), message="the big payload dead-lettered")
    assert bytes(row["payload"]) == big[:CAP]
    assert row["payload_size"] == len(big) and bytes(row["payload_sha256"]) == hashlib.sha256(big).digest()
    assert "over the 65536-byte limit" in row["reason"]

    huge = b"#" * 1_000_000
    accepted = system.try_publish(park, "shop-01", "total", huge, wait=5)
    if accepted:  # a broker with a higher limit: stored capped all the same
        digest = hashlib.sha256(huge).digest()
        system.wait_for(
            lambda: [r for r in _dead(system, topic) if bytes(r["payload_sha256"]) == digest],
            message="the 1 MB payload dead-lettered",
        )
    assert all(len(bytes(r["payload"])) <= CAP for r in _dead(system, topic))
    # the logger goes on, and its next reading is stored
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    system.publish(park, "shop-01", "total", t, {"cod": 12.5})
    system.wait_for(
        lambda: _values(system, park, "total", "cod", t, t + timedelta(seconds=1)), message="stored"
    )
    print(f"\n1 MB payload: {'accepted, stored capped' if accepted else 'refused by the broker'}")


def test_junk_bytes_over_hj212_tcp_make_a_handful_of_dead_letters(system: System) -> None:
    park = system.load_park()
    mn = _workshop_mn(system, park)
    t0 = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    frames = 20
    with socket.create_connection(("127.0.0.1", system.hj212_port), timeout=60) as sock:
        peer = "tcp:{}:{}".format(*sock.getsockname())
        for i in range(frames):
            sock.sendall(_frame(mn, t0 + timedelta(minutes=i), 7.0 + i / 100))
            assert _reply(sock).cn == "9014"  # answered: committed
            sock.sendall(b"#" * (JUNK // frames))  # 10 KB of junk after every real frame
    system.wait_for(lambda: _dead(system, peer), message="junk dead-lettered")
    stored = _values(system, park, "workshop", "ph", t0, t0 + timedelta(minutes=frames))
    assert len(stored) == frames  # every real frame stored

    seen: list[int] = []

    def settled() -> list[dict[str, Any]] | None:
        """The dead letters once every piece of junk is counted (the count stopped growing; at least
        one piece per burst: a burst without CR LF is cut in few pieces, not one per ``##``)."""
        found = _dead(system, peer)
        seen.append(sum(r["count"] for r in found))
        return found if len(seen) > 5 and seen[-1] == seen[-6] >= frames else None

    rows = system.wait_for(settled, timeout=60, message="the junk counted")
    assert len(rows) <= 4, [(r["count"], r["reason"]) for r in rows]  # was one row per 2 bytes of `##`
    assert all(len(bytes(r["payload"])) <= CAP for r in rows)
    per_row = JUNK / len(rows)
    print(f"\nHJ 212 TCP: {JUNK} junk bytes in {len(rows)} dead-letter rows: {per_row:,.0f} bytes per row")


def test_a_reading_from_the_future_is_dead_lettered_and_the_real_one_stored(system: System) -> None:
    park = system.load_park()
    mn = _workshop_mn(system, park)
    json_topic, hj_topic = f"outfall/v1/{park}/shop-01/total", f"outfall/hj212/{mn}"
    now = datetime.now(UTC).replace(microsecond=0)
    soon = now + timedelta(seconds=SKEW_S + 40)  # just beyond the allowed skew
    day_ahead = now + timedelta(hours=23.9)
    # a logger with a fast clock, on every path: JSON v1 and HJ 212 over MQTT, HJ 212 over TCP
    system.publish(park, "shop-01", "total", day_ahead, {"cod": 999.0})
    system.publish(park, "shop-01", "total", soon, {"cod": 888.0})
    system.publish_raw(park, "shop-01", "workshop", _frame(mn, day_ahead, 9.9), topic=hj_topic)
    with socket.create_connection(("127.0.0.1", system.hj212_port), timeout=30) as sock:
        peer = "tcp:{}:{}".format(*sock.getsockname())
        sock.sendall(_frame(mn, soon, 8.8))
        assert _reply(sock).cn == "9014"  # answered, so the logger does not re-send it for ever
        system.publish(park, "shop-01", "total", now, {"cod": 20.0})  # a reading of now: stored
        system.wait_for(lambda: _items(system, json_topic) == 2, message="JSON v1 from the future refused")
        system.wait_for(lambda: _dead(system, hj_topic) and _dead(system, peer), message="HJ 212 refused")
        reasons = [r["reason"] for t in (json_topic, hj_topic, peer) for r in _dead(system, t)]
        skew = f"ahead of the server clock; allowed skew {SKEW_S} s"
        assert all(skew in r for r in reasons), "\n".join(reasons)
        assert any(" is 23.9 h ahead" in r for r in reasons) and any(" min ahead" in r for r in reasons)
        assert any(r.startswith("DataTime ") and "(Asia/Shanghai)" in r for r in reasons)
        assert _values(system, park, "total", "cod", now, day_ahead + timedelta(seconds=1)) == [20.0]
        # the time comes: the real readings of `soon` arrive, and their key is free
        time.sleep(max(0.0, (soon - timedelta(seconds=SKEW_S - 10) - datetime.now(UTC)).total_seconds()))
        system.publish(park, "shop-01", "total", soon, {"cod": 21.0})
        sock.sendall(_frame(mn, soon, 7.1))
        assert _reply(sock).cn == "9014"
    end = soon + timedelta(seconds=1)
    system.wait_for(
        lambda: _values(system, park, "total", "cod", now, end) == [20.0, 21.0], message="the real cod stored"
    )
    assert _values(system, park, "workshop", "ph", now, end) == [7.1]


def test_dead_letters_past_their_retention_are_deleted_by_the_running_leader(system: System) -> None:
    topic = f"outfall/v1/{system.load_park()}/shop-01/total"
    # as months of junk would have left them (the past cannot be published): 91 and 89 days old
    with psycopg.connect(system.database_url) as conn:
        old, kept = (
            conn.execute(
                "INSERT INTO dead_letters (received_at, last_seen, source, topic, payload, reason, kind,"
                " payload_size, payload_sha256, bytes_total) VALUES (now() - make_interval(days => %s),"
                " now() - make_interval(days => %s), 'mqtt-json', %s, '#', 'junk', 'junk', 1,"
                " sha256('#'), 1) RETURNING id",
                (days, days, topic),
            ).fetchone()[0]
            for days in (91, 89)
        )
    system.wait_for(
        lambda: old not in _ids(system, topic),
        message="the 91-day-old dead letter deleted (OUTFALL_INGEST_DEAD_LETTER_RETENTION_DAYS=90)",
    )
    assert kept in _ids(system, topic)
    health = httpx.get(system.api_url + "/healthz", timeout=5).json()
    (job,) = [j for j in health["jobs"] if j["name"] == "dead_letter_retention"]
    assert job["ok"] and job["last_ok_age_s"] is not None  # it ran, and /healthz watches it


def _ids(system: System, topic: str) -> set[int]:
    with psycopg.connect(system.database_url) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM dead_letters WHERE topic = %s", (topic,))}
