"""Publishing to the broker: simulated records as MQTT messages, paced on a simulated clock.

With ``speed`` S one simulated second takes 1/S wall seconds (speed 0 = as fast as the broker takes them).
In ``live`` mode a message is never published before the wall clock reaches its simulated time, as a real
data logger cannot report the future: a run started hours back catches up at ``speed``, then goes on in
real time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.core.models import ParkSpec
from simulators import encode
from simulators.engine import Engine
from simulators.records import Message

log = logging.getLogger(__name__)

__all__ = ["Message", "Pacer", "connect", "drain", "messages", "publish"]


def messages(park: ParkSpec, start: datetime, seed: int, until: datetime | None = None) -> Iterator[Message]:
    """Every point's JSON v1 messages in simulated-time order (infinite unless ``until`` is given)."""
    for record in Engine(park, start, seed, until=until).records():
        yield encode.json_v1(park.id, record)


def connect(host: str, port: int, client_id: str = "") -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.max_queued_messages_set(10_000)
    client.max_inflight_messages_set(1_000)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    return client


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


def publish(
    client: mqtt.Client,
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


def drain(client: mqtt.Client, timeout: float = 60.0) -> None:
    """Wait until every QoS 1 publish has been acknowledged by the broker, then disconnect."""
    deadline = time.monotonic() + timeout
    while client._out_messages and time.monotonic() < deadline:
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()
