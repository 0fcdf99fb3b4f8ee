"""The simulator publishes as each data logger, with its own login (`outfall simulate --credentials`), on a
broker with accounts and an ACL as `outfall run` starts it: every message is accepted and arrives."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from ingest.core import park as park_file
from ingest.core import secrets
from ingest.core.localservices import LocalMosquitto, free_port
from ingest.core.models import ParkSpec
from ingest.core.reads import LoggerPoint
from ingest.mqtt import accounts
from simulators import feed
from tests.support import SMALL_PARK, Publisher, wait_for

READER_PASSWORD = "reader-password"


@pytest.fixture
def park_and_broker(tmp_path: Path) -> Iterator[tuple[ParkSpec, LocalMosquitto, Path]]:
    spec = park_file.parse(SMALL_PARK.format(id="fleet"))
    found = [accounts.Account("reader", secrets.hash_secret(READER_PASSWORD), "read", ("outfall/#",))]
    creds: dict[str, dict[str, str]] = {}
    for plant in spec.plants:
        for point in plant.points:
            username, password = accounts.logger_username(spec.id, plant.id, point.id), secrets.new_password()
            topics = accounts.logger_topics(LoggerPoint(spec.id, plant.id, point.id, point.mn))
            found.append(accounts.Account(username, secrets.hash_secret(password), "write", topics))
            key = accounts.credentials_key(spec.id, plant.id, point.id)
            creds[key] = {"mqtt_username": username, "mqtt_password": password, "hj212_pw": "unused"}
    accounts.write_files(tmp_path / "auth", *accounts.render(found))
    (tmp_path / "credentials.json").write_bytes(orjson.dumps(creds))
    broker = LocalMosquitto(tmp_path / "mosquitto", free_port(), auth=tmp_path / "auth")
    broker.start()
    yield spec, broker, tmp_path / "credentials.json"
    broker.stop()


def test_every_logger_publishes_with_its_own_login(
    park_and_broker: tuple[ParkSpec, LocalMosquitto, Path],
) -> None:
    spec, broker, creds = park_and_broker
    reader = Publisher("127.0.0.1", broker.port, ("reader", READER_PASSWORD))
    reader.wait_connected()
    reader.client.subscribe("outfall/#", 1)
    time.sleep(0.3)
    start = datetime.now(UTC) - timedelta(hours=1)
    stream = feed.messages(spec, start, seed=1, until=start + timedelta(minutes=10))
    fleet = feed.Fleet("127.0.0.1", broker.port, spec, creds)
    sent = feed.publish(fleet, stream, speed=0, count=None)
    feed.drain(fleet)
    assert sent > 0 and len(fleet.clients) == 3  # one connection per logger
    wait_for(lambda: len(reader.received) >= sent, timeout=20, message=f"{sent} messages")
    assert sorted(set(reader.received)) == sorted(
        f"outfall/v1/fleet/{p}" for p in ("shop-01/total", "shop-01/workshop", "shop-02/total")
    )
    reader.close()
