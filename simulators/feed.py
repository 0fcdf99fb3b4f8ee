"""Publishing to the broker: simulated records as MQTT messages, paced on a simulated clock.

With ``speed`` S one simulated second takes 1/S wall seconds (speed 0 = as fast as the broker takes them).
In ``live`` mode a message is never published before the wall clock reaches its simulated time, as a real
data logger cannot report the future: a run started hours back catches up at ``speed``, then goes on in
real time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.core.models import ParkSpec
from simulators import encode
from simulators.engine import Engine
from simulators.records import Message

log = logging.getLogger(__name__)

__all__ = ["Fleet", "Message", "Pacer", "Publisher", "connect", "drain", "messages", "publish"]


def messages(park: ParkSpec, start: datetime, seed: int, until: datetime | None = None) -> Iterator[Message]:
    """Every point's JSON v1 messages in simulated-time order (infinite unless ``until`` is given)."""
    for record in Engine(park, start, seed, until=until).records():
        yield encode.json_v1(park.id, record)


def connect(
    host: str, port: int, client_id: str = "", login: tuple[str, str] | None = None, wait_s: float = 0.0
) -> mqtt.Client:
    """A QoS 1 publisher; with ``wait_s``, wait that long for the broker to accept the login."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.max_queued_messages_set(10_000)
    client.max_inflight_messages_set(1_000)
    if login is not None:
        client.username_pw_set(*login)
    accepted = threading.Event()
    client.on_connect = lambda _c, _u, _f, reason, _p: None if reason.is_failure else accepted.set()
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if wait_s and not accepted.wait(wait_s):
        log.warning(
            "broker has not accepted %s within %.0f s; publishing anyway (queued)", login and login[0], wait_s
        )
    return client


class Fleet:
    """Publishing as the park's data loggers do: one connection per logger, logged in with its own
    credentials (the broker lets a logger write only its own topics). A logger's connection opens with
    its first message. ``credentials``: the file of `outfall broker provision`
    (ingest/mqtt/accounts.py), ``{"<park>/<plant>/<point>": {"mqtt_username", "mqtt_password", ...}}``."""

    def __init__(self, host: str, port: int, park: ParkSpec, credentials: Path) -> None:
        self.host, self.port = host, port
        known: dict[str, dict[str, str]] = orjson.loads(credentials.read_bytes())
        self.logins: dict[str, tuple[str, str]] = {}  # topic -> (username, password)
        for plant in park.plants:
            for point in plant.points:
                entry = known.get(f"{park.id}/{plant.id}/{point.id}")
                if entry is None or "mqtt_username" not in entry:
                    continue  # no MQTT login for this logger: its messages are refused here
                login = (entry["mqtt_username"], entry["mqtt_password"])
                self.logins[f"outfall/v1/{park.id}/{plant.id}/{point.id}"] = login
                if point.mn:
                    self.logins[f"outfall/hj212/{point.mn}"] = login
        self.clients: dict[str, mqtt.Client] = {}

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> mqtt.MQTTMessageInfo:
        login = self.logins.get(topic)
        if login is None:
            raise KeyError(f"no logger credentials for {topic} in the credentials file")
        client = self.clients.get(login[0])
        if client is None:
            client = self.clients[login[0]] = connect(self.host, self.port, login[0], login, wait_s=10)
        return client.publish(topic, payload, qos=qos)


@dataclass
class Pacer:
    """When each message is due: by simulated time (``speed``), messages per second (``rate``) and, in
    ``live`` mode, never before the wall clock reaches its simulated time. Shared by MQTT and TCP."""

    speed: float
    rate: float | None = None
    live: bool = False
    sent: int = 0
    wall0: float = field(default_factory=time.monotonic)
    sim0: datetime | None = None

    def delay(self, msg: Message) -> float:
        """Seconds to wait before sending ``msg`` (<= 0: now); count it with ``sent += 1`` once sent."""
        self.sim0 = self.sim0 or msg.sim_time
        due = 0.0
        if self.speed > 0:
            due = (msg.sim_time - self.sim0).total_seconds() / self.speed
        if self.rate:
            due = max(due, self.sent / self.rate)
        delay = self.wall0 + due - time.monotonic()
        if self.live:
            delay = max(delay, (msg.sim_time - datetime.now(UTC)).total_seconds())
        return delay


Publisher = mqtt.Client | Fleet  # one anonymous or service connection, or one per data logger


def publish(
    client: Publisher,
    stream: Iterator[Message],
    *,
    speed: float,
    count: int | None,
    rate: float | None = None,
    live: bool = False,
    on_sent: Callable[[Message], None] | None = None,
) -> int:
    """Publish at QoS 1, pacing by simulated time (``speed``) and/or messages per second (``rate``)."""
    pacer = Pacer(speed, rate, live)
    for msg in stream:
        if count is not None and pacer.sent >= count:
            break
        delay = pacer.delay(msg)
        if delay > 0:
            time.sleep(delay)
        while True:
            info = client.publish(msg.topic, msg.payload, qos=1)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                break
            time.sleep(0.01)  # local queue full or reconnecting: wait instead of dropping
        pacer.sent += 1
        if on_sent is not None:
            on_sent(msg)
        if pacer.sent % 10_000 == 0:
            log.info("published %d messages", pacer.sent)
    return pacer.sent


def drain(client: Publisher, timeout: float = 60.0) -> None:
    """Wait until every QoS 1 publish has been acknowledged by the broker, then disconnect."""
    clients = list(client.clients.values()) if isinstance(client, Fleet) else [client]
    deadline = time.monotonic() + timeout
    while any(c._out_messages for c in clients) and time.monotonic() < deadline:
        time.sleep(0.02)
    for c in clients:
        c.disconnect()
        c.loop_stop()
