"""Shared set-up for the benchmarks: services (private unless OUTFALL_*_URL are set), a park, a feed."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg

from ingest.core import park, repo
from ingest.core.localservices import free_port, local_services
from ingest.core.models import ParkSpec
from outfall.tasks import db_upgrade

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ("cod", "nh3_n", "tn", "tp", "ph", "flow", "cn_total", "ss")  # 8 readings per message


@dataclass(frozen=True)
class Env:
    database_url: str
    mqtt_host: str
    mqtt_port: int

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://{self.mqtt_host}:{self.mqtt_port}"


@contextlib.contextmanager
def environment() -> Iterator[Env]:
    db_url, mqtt_url = os.environ.get("OUTFALL_DATABASE_URL"), os.environ.get("OUTFALL_MQTT_URL")
    if db_url and mqtt_url:
        from ingest.core.settings import MqttSettings

        host, port = MqttSettings(mqtt_url=mqtt_url).host_port()
        db_upgrade(db_url)
        yield Env(db_url, host, port)
        return
    with local_services(
        ROOT / ".local" / "bench",
        need_db=True,
        need_mqtt=True,
        pg_port=free_port(),
        mqtt_port=free_port(),
        fresh=True,
    ) as svc:
        assert svc.postgres is not None and svc.mosquitto is not None
        db_upgrade(svc.postgres.url)
        yield Env(svc.postgres.url, "127.0.0.1", svc.mosquitto.port)


def bench_park(park_id: str, points: int) -> ParkSpec:
    plants = "".join(
        f"  - id: p{i:03d}\n    name: P{i}\n    points:\n      - id: total\n        kind: total_outlet\n"
        f"        parameters: [{', '.join(PARAMS)}]\n"
        for i in range(points)
    )
    return park.parse(f"id: {park_id}\nname: Bench\nindustry: electroplating\nplants:\n{plants}")


def load(env: Env, spec: ParkSpec) -> None:
    with psycopg.connect(env.database_url) as conn:
        repo.load_park(conn, spec)


def payloads(spec: ParkSpec, count: int, start: datetime | None = None) -> Iterator[tuple[str, bytes]]:
    start = start or datetime(2026, 10, 1, tzinfo=UTC)
    points = [p.id for p in spec.plants]
    for n in range(count):
        plant = points[n % len(points)]
        ts = (start + timedelta(minutes=n // len(points))).isoformat()
        values = {p: round(1.0 + ((n * 31 + i * 7) % 1000) / 100, 2) for i, p in enumerate(PARAMS)}
        yield f"outfall/v1/{spec.id}/{plant}/total", orjson.dumps({"ts": ts, "values": values, "seq": n})


def publish_all(env: Env, messages: Iterator[tuple[str, bytes]]) -> tuple[int, float]:
    """Publish at QoS 1 as fast as the broker acknowledges; returns (count, seconds)."""
    from bench.rawpub import RawPublisher

    publisher = RawPublisher(env.mqtt_host, env.mqtt_port, f"bench-pub-{os.getpid()}")
    t0 = time.monotonic()
    sent = publisher.publish(messages)
    publisher.close()
    return sent, time.monotonic() - t0


def counter(env: Env, worker: str) -> int:
    with psycopg.connect(env.database_url) as conn:
        row = conn.execute(
            "SELECT readings + duplicates FROM ingest_counters WHERE worker = %s", (worker,)
        ).fetchone()
    return int(row[0]) if row else 0
