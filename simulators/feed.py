"""Simulator v0: JSON v1 messages for every point of a park, on a simulated clock.

Simulated time starts at ``start`` and advances by each point's reporting interval; with ``speed`` S
one simulated second takes 1/S wall seconds (speed 0 = as fast as the broker takes them).
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest import parameters, units
from ingest.models import ParkSpec, PointSpec
from simulators import signals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    sim_time: datetime


def messages(park: ParkSpec, start: datetime, seed: int, until: datetime | None = None) -> Iterator[Message]:
    """Every point's messages in simulated-time order (infinite unless ``until`` is given)."""
    rng = random.Random(seed)
    tz = ZoneInfo(park.timezone)
    queue: list[tuple[datetime, int, str, PointSpec, float]] = []
    for plant in park.plants:
        bias = rng.uniform(0.6, 1.4)
        for point in plant.points:
            heapq.heappush(queue, (start, len(queue), plant.id, point, bias))
    seq = 0
    while queue:
        when, order, plant_id, point, bias = heapq.heappop(queue)
        if until is not None and when >= until:
            continue
        local = when.astimezone(tz)
        values = {}
        for code, unit in point.parameters.items():
            param = parameters.BY_CODE[code]
            v = signals.value(code, point.kind, local, rng, bias)
            values[code] = round(v * units.factor(param.unit, unit), 4)
        seq += 1
        body = {"ts": local.isoformat(), "values": values, "seq": seq}
        yield Message(f"outfall/v1/{park.id}/{plant_id}/{point.id}", orjson.dumps(body), when)
        heapq.heappush(queue, (when + timedelta(seconds=point.interval_s), order, plant_id, point, bias))


def connect(host: str, port: int, client_id: str = "") -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.max_queued_messages_set(10_000)
    client.max_inflight_messages_set(1_000)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    return client


def publish(
    client: mqtt.Client,
    stream: Iterator[Message],
    *,
    speed: float,
    count: int | None,
    rate: float | None = None,
) -> int:
    """Publish at QoS 1, pacing by simulated time (``speed``) and/or messages per second (``rate``)."""
    sent = 0
    wall0 = time.monotonic()
    sim0: datetime | None = None
    for msg in stream:
        if count is not None and sent >= count:
            break
        sim0 = sim0 or msg.sim_time
        due = 0.0
        if speed > 0:
            due = (msg.sim_time - sim0).total_seconds() / speed
        if rate:
            due = max(due, sent / rate)
        delay = wall0 + due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        while True:
            info = client.publish(msg.topic, msg.payload, qos=1)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                break
            time.sleep(0.01)  # local queue full or reconnecting: wait instead of dropping
        sent += 1
        if sent % 10_000 == 0:
            log.info("published %d messages", sent)
    return sent


def drain(client: mqtt.Client, timeout: float = 60.0) -> None:
    """Wait until every QoS 1 publish has been acknowledged by the broker, then disconnect."""
    deadline = time.monotonic() + timeout
    while client._out_messages and time.monotonic() < deadline:
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()
