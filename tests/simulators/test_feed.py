"""Publishing: pacing, the live rule (never ahead of the wall clock), the shipped demo scenarios."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from ingest.core import park
from simulators import feed, scenario
from simulators.__main__ import sample_park_path
from simulators.records import Message

SCENARIOS = Path(__file__).resolve().parents[2] / "simulators" / "scenarios"


@dataclass
class _Info:
    rc: int = mqtt.MQTT_ERR_SUCCESS


@dataclass
class FakeClient:
    """Records when each message was handed to the broker client."""

    sent: list[tuple[float, Message]] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, qos: int) -> _Info:
        self.sent.append((time.time(), Message(topic, payload, datetime.now(UTC))))
        return _Info()


def _stream(times: list[datetime]) -> list[Message]:
    return [Message("outfall/v1/p/a/b", b"{}", t) for t in times]


def test_live_catches_up_at_speed_then_never_publishes_ahead_of_the_wall_clock():
    now = datetime.now(UTC)
    past = [now - timedelta(hours=3) + timedelta(minutes=m) for m in range(0, 180, 10)]
    future = [now + timedelta(seconds=0.6), now + timedelta(seconds=1.2)]
    client = FakeClient()
    t0 = time.time()
    sent = feed.publish(client, iter(_stream(past + future)), speed=0, count=None, live=True)  # type: ignore[arg-type]
    assert sent == len(past) + len(future)
    catch_up = client.sent[len(past) - 1][0] - t0
    assert catch_up < 0.5  # three hours of history went out at once
    for (wall, _), due in zip(client.sent[len(past) :], future, strict=True):
        assert wall >= due.timestamp() - 0.01


def test_without_live_speed_zero_does_not_wait():
    now = datetime.now(UTC)
    client = FakeClient()
    feed.publish(client, iter(_stream([now + timedelta(hours=1)])), speed=0, count=None)  # type: ignore[arg-type]
    assert len(client.sent) == 1


def test_on_sent_sees_every_message_and_count_stops_early():
    now = datetime.now(UTC)
    seen: list[Message] = []
    client = FakeClient()
    stream = iter(_stream([now] * 5))
    assert feed.publish(client, stream, speed=0, count=3, on_sent=seen.append) == 3  # type: ignore[arg-type]
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("name", "park_name"), [("plating-demo", "electroplating"), ("dyeing-demo", "dyeing")]
)
def test_shipped_demo_scenarios_resolve_against_their_parks(name, park_name):
    spec = park.parse(sample_park_path(park_name).read_text(encoding="utf-8"))
    path = SCENARIOS / f"{name}.yaml"
    events = scenario.resolve(
        scenario.parse(path.read_text(encoding="utf-8"), str(path)), spec, datetime.now(UTC)
    )
    assert len(events) >= 10
    assert len({e.type for e in events}) >= 8
