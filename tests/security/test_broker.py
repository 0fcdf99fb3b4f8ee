"""Attacks on the broker (issue 11 item 1): only a park's own loggers write its data, nobody but ingest
reads it, nobody takes over an ingest worker's session, and a rotated password keeps a logger online.

Run against the `system` fixture, whose broker is started as `outfall run` starts it (accounts and ACL
from `outfall broker sync`). Refusals leave a trace in the broker's log (`{system root}/mosquitto/
mosquitto.log`, under `.local/run/mosquitto/` for `outfall run`): refused logins at notice level and
every subscription; a denied PUBLISH is answered with PUBACK reason 135 (Mosquitto 2.0 logs it only at
debug level)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson

from tests.e2e.harness import System
from tests.support import Publisher

NOT_AUTHORISED = 135  # MQTT 5 reason code


def _cods(system: System, park: str, start: datetime, end: datetime) -> list[float]:
    page = system.api_get(
        f"/api/v1/parks/{park}/plants/shop-01/points/total/readings",
        parameter="cod",
        from_=start.isoformat(),
        to=end.isoformat(),
    )
    return [r["value"] for r in page["items"]]


def _login(system: System, park: str, plant: str, point: str) -> tuple[str, str]:
    creds = system.credentials(park, plant, point)
    return creds["mqtt_username"], creds["mqtt_password"]


def _body(ts: datetime, cod: float) -> bytes:
    return orjson.dumps({"ts": ts.isoformat(), "values": {"cod": cod}})


def _broker_log(system: System) -> str:
    return system.broker.log_file.read_text(encoding="utf-8", errors="replace")


def _publish_real(system: System, park: str, start: datetime, n: int) -> list[float]:
    """n readings of shop-01/total from its own logger, one a second of data time; their values."""
    values = [40.0 + i for i in range(n)]
    for i, value in enumerate(values):
        system.publish(park, "shop-01", "total", start + timedelta(seconds=i), {"cod": value})
    return values


def _stored(system: System, park: str, start: datetime, n: int) -> list[float]:
    end = start + timedelta(seconds=n)
    return system.wait_for(
        lambda: (got := _cods(system, park, start, end)) and len(got) >= n and got,
        timeout=20,
        message=f"{n} readings stored",
    )


def _closed(pub: Publisher) -> None:
    pub.client.disconnect()
    pub.client.loop_stop()


def test_anonymous_and_wrong_password_are_refused(system: System) -> None:
    park = system.load_park()
    username, _ = _login(system, park, "shop-01", "total")
    refusals = _broker_log(system).count("disconnected, not authorised.")
    anonymous = system.connect(None, client_id="intruder-anonymous")
    guessed = system.connect((username, "not-the-password"), client_id="intruder-guess")
    try:
        system.wait_for(lambda: anonymous.connects and guessed.connects, timeout=10, message="CONNACKs")
        time.sleep(0.5)
        assert not anonymous.connected.is_set() and not guessed.connected.is_set()
        assert anonymous.connects[0] == guessed.connects[0] == "Not authorized"
    finally:
        _closed(anonymous)
        _closed(guessed)
    log = _broker_log(system)
    assert "Client intruder-anonymous disconnected, not authorised." in log
    assert log.count("disconnected, not authorised.") >= refusals + 2  # a bad password: "Client <unknown>"


def test_a_logger_cannot_write_another_plants_topic(system: System) -> None:
    park, other = system.load_park(), system.load_park()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    topic = f"outfall/v1/{park}/shop-01/total"
    neighbour = system.publisher(park, "shop-01", "workshop")  # same plant, another point
    stranger = system.publisher(other, "shop-01", "total")  # the same point of another park
    for i in range(5):
        neighbour.publish(topic, _body(start + timedelta(seconds=i), 999.0))
        stranger.publish(topic, _body(start + timedelta(seconds=i), 888.0))
    neighbour.flush()
    stranger.flush()
    assert neighbour.refused == [NOT_AUTHORISED] * 5 and stranger.refused == [NOT_AUTHORISED] * 5
    neighbour.refused.clear()
    stranger.refused.clear()
    values = _publish_real(system, park, start, 10)
    assert _stored(system, park, start, 10) == values  # every real reading, nothing forged


def test_subscribing_to_everything_gets_no_data(system: System) -> None:
    park = system.load_park()
    spy = system.connect(_login(system, park, "shop-01", "workshop"))
    spy.wait_connected()
    spy.client.subscribe([("#", 1), ("outfall/#", 1), (f"outfall/v1/{park}/+/+", 1), ("$SYS/#", 1)])
    time.sleep(0.5)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    values = _publish_real(system, park, start, 5)
    assert _stored(system, park, start, 5) == values
    time.sleep(0.5)
    _closed(spy)
    assert spy.received == []
    assert f"{spy.connects and _login(system, park, 'shop-01', 'workshop')[0]} 1 #" in _broker_log(system)


def test_a_logger_joining_the_configured_share_group_takes_nothing_away(system: System) -> None:
    """Mosquitto 2.0's ACL file lets any login subscribe (test_broker_gaps.py); the workers' group is the
    configured name plus a tag derived from the store key, so joining the name a logger can know
    ("ingest", as in the process table) takes no message from the workers."""
    park = system.load_park()
    spy = system.connect(_login(system, park, "shop-01", "workshop"))
    spy.wait_connected()
    spy.client.subscribe([("$share/ingest/outfall/#", 1), ("$share/ingest/outfall/v1/+/+/+", 1)])
    time.sleep(0.5)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    values = _publish_real(system, park, start, 20)
    try:
        assert _stored(system, park, start, 20) == values
    finally:
        _closed(spy)
    assert spy.received == []


def test_a_client_claiming_an_ingest_client_id_cannot_take_its_session(system: System) -> None:
    """With use_username_as_clientid the broker replaces the claimed id by the login's username: the
    worker's session stays its own and nothing queued for it is lost. (A refused client claiming the id
    is in test_broker_gaps.py: it upsets Mosquitto 2.0.11 at the next reload.)"""
    park = system.load_park()
    before = system.log_text("ingest-1").count("disconnected from broker")
    thief = system.connect(_login(system, park, "shop-01", "workshop"), client_id="outfall-ingest-1")
    try:
        thief.wait_connected()
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        values = _publish_real(system, park, start, 50)
        assert _stored(system, park, start, 50) == values
    finally:
        _closed(thief)
    assert system.log_text("ingest-1").count("disconnected from broker") == before


def _issued(output: str) -> tuple[str, str]:
    fields = dict(line.split(" : ", 1) for line in output.splitlines() if " : " in line)
    return fields["username"].strip(), fields["password"].strip()


def test_rotation_keeps_the_logger_online_and_ends_the_old_password(system: System) -> None:
    park = system.load_park()
    old_login = _login(system, park, "shop-01", "total")
    old = system.publisher(park, "shop-01", "total")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    new_login = _issued(system.outfall("logger", "rotate", f"{park}/shop-01/total", "--overlap", "15s"))
    assert new_login[0] == f"{old_login[0]}.g2"
    time.sleep(1)  # the broker has reloaded: the old login is still accepted during the overlap
    system.publish(park, "shop-01", "total", start, {"cod": 40.0})
    new = system.connect(new_login)
    new.wait_connected()
    new.publish(f"outfall/v1/{park}/shop-01/total", _body(start + timedelta(seconds=1), 41.0))
    new.flush()
    assert _stored(system, park, start, 2) == [40.0, 41.0]
    assert old.disconnects == [] and new.refused == []
    # the overlap ends: `outfall broker sync` drops the old login and the broker disconnects its user
    system.wait_for(lambda: old.disconnects, timeout=30, message="the old login disconnected")
    _closed(old)
    again = system.connect(old_login)
    try:
        system.wait_for(lambda: again.connects, timeout=10, message="a CONNACK")
        assert again.connects[0] == "Not authorized"
    finally:
        _closed(again)
    new.publish(f"outfall/v1/{park}/shop-01/total", _body(start + timedelta(seconds=2), 42.0))
    new.flush()
    assert new.refused == [] and new.disconnects == [], (new.refused, new.disconnects)
    assert _stored(system, park, start, 3) == [40.0, 41.0, 42.0]
    _closed(new)
