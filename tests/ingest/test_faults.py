"""Fault tests: kill -9 the worker, restart Mosquitto, restart PostgreSQL, all mid-stream.
Each time every reading is stored exactly once. Also: two workers on one shared subscription."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest

from tests.support import ROOT, Publisher, Services, unique_id, wait_for

pytestmark = pytest.mark.fault

MESSAGES = 4000
PARAMS = ("cod", "nh3_n", "ph", "flow")
FAULT_PARK = """
id: {id}
name: Fault park
industry: electroplating
plants:
""" + "".join(
    f"""  - id: shop-{i:02d}
    name: Shop {i}
    points:
      - id: total
        kind: total_outlet
        parameters: [cod, nh3_n, ph, flow]
"""
    for i in range(10)
)


def stream(park_id: str, count: int = MESSAGES) -> Iterator[tuple[str, bytes]]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(count):
        shop, step = n % 10, n // 10
        ts = (start + timedelta(minutes=step)).isoformat()
        values = {p: round(1 + (n * 7 + i) % 97 / 10, 2) for i, p in enumerate(PARAMS)}
        yield (
            f"outfall/v1/{park_id}/shop-{shop:02d}/total",
            orjson.dumps({"ts": ts, "values": values, "seq": n}),
        )


def stored(database_url: str, park_id: str) -> int:
    # A new connection per look: the test may have just restarted the server under an old one.
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM readings r JOIN points p ON p.id = r.point_id WHERE p.park_id = %s",
            (park_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def wait_all(database_url: str, park_id: str) -> None:
    total = MESSAGES * len(PARAMS)
    wait_for(
        lambda: stored(database_url, park_id) >= total, timeout=120, interval=0.2, message="every reading"
    )


def assert_exact(database_url: str, park_id: str) -> None:
    """Every reading of the stream is stored once, with its value."""
    expected = {}
    for topic, payload in stream(park_id):
        body = orjson.loads(payload)
        for code, value in body["values"].items():
            expected[(topic.split("/")[3], datetime.fromisoformat(body["ts"]), code)] = value
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT p.plant_id, r.time, k.code, r.value FROM readings r JOIN points p ON p.id = r.point_id"
            " JOIN parameters k ON k.id = r.parameter_id WHERE p.park_id = %s",
            (park_id,),
        ).fetchall()
    got = {(plant, time, code): value for plant, time, code, value in rows}
    assert len(rows) == len(expected) == MESSAGES * len(PARAMS)
    assert got == expected


class WorkerProcess:
    """`outfall ingest` (as deployed, with the real-time hook) as a separate process, so it can be killed
    with SIGKILL."""

    def __init__(self, services: Services, client_id: str, topic: str) -> None:
        self.env = {
            **os.environ,
            "OUTFALL_DATABASE_URL": services.database_url,
            "OUTFALL_MQTT_URL": services.mqtt_url,
            "OUTFALL_INGEST_CLIENT_ID": client_id,
            "OUTFALL_INGEST_TOPIC": topic,
            "OUTFALL_INGEST_BATCH_READINGS": "2000",
        }
        self.proc: subprocess.Popen[str] | None = None
        self.subscribed = threading.Event()

    def start(self) -> None:
        self.subscribed.clear()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "outfall", "ingest"],
            env=self.env,
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._watch, args=(self.proc,), daemon=True).start()
        assert self.subscribed.wait(30), "worker did not subscribe"

    def _watch(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "subscribed to" in line:
                self.subscribed.set()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def fault_setup(services: Services, make_park) -> Iterator[tuple[str, WorkerProcess]]:
    if services.postgres is None or services.mosquitto is None:
        pytest.skip("fault tests restart services and need the private ones (OUTFALL_*_URL unset)")
    park = make_park(FAULT_PARK)
    worker = WorkerProcess(services, unique_id("fault"), f"outfall/v1/{park.id}/+/+")
    worker.start()
    yield park.id, worker
    if worker.proc is not None and worker.proc.poll() is None:
        worker.kill()


def run_with_fault(services: Services, park_id: str, fault: Callable[[], None]) -> None:
    publisher = Publisher(services.mqtt_host, services.mqtt_port)
    messages = list(stream(park_id))
    half = len(messages) // 2
    for topic, payload in messages[:half]:
        publisher.publish(topic, payload)
    # Strike while the first half is still being written.
    wait_for(lambda: stored(services.database_url, park_id) > 0, message="first readings")
    fault()
    for topic, payload in messages[half:]:
        publisher.publish(topic, payload)
    publisher.close()
    wait_for(
        lambda: stored(services.database_url, park_id) >= MESSAGES * len(PARAMS),
        timeout=120,
        message="every reading",
    )


def test_kill_9_of_the_worker_mid_stream_loses_and_doubles_nothing(services, fault_setup):
    park_id, worker = fault_setup

    def kill_and_restart() -> None:
        worker.kill()
        worker.start()

    run_with_fault(services, park_id, kill_and_restart)
    assert_exact(services.database_url, park_id)
    assert worker.terminate() == 0, "SIGTERM drains and exits cleanly"


def test_mosquitto_restart_mid_stream_loses_and_doubles_nothing(services, fault_setup):
    park_id, worker = fault_setup
    run_with_fault(services, park_id, services.mosquitto.restart)
    assert_exact(services.database_url, park_id)
    assert worker.terminate() == 0


def test_postgres_restart_mid_stream_loses_and_doubles_nothing(services, fault_setup):
    park_id, worker = fault_setup
    run_with_fault(services, park_id, lambda: services.postgres.restart("fast"))
    assert_exact(services.database_url, park_id)
    assert worker.terminate() == 0


def test_two_workers_on_one_shared_subscription_store_every_reading_once(
    services, db, make_park, start_worker
):
    park = make_park(FAULT_PARK)
    group = unique_id("g")
    workers = [
        start_worker(topic=f"outfall/v1/{park.id}/+/+", share_group=group, batch_readings=500)
        for _ in range(2)
    ]
    publisher = Publisher(services.mqtt_host, services.mqtt_port)
    for topic, payload in stream(park.id):
        publisher.publish(topic, payload)
    publisher.close()
    wait_for(
        lambda: stored(services.database_url, park.id) >= MESSAGES * len(PARAMS),
        timeout=120,
        message="every reading",
    )
    assert_exact(services.database_url, park.id)
    handled = [w.worker.counters.messages for w in workers]
    assert sum(handled) == MESSAGES and min(handled) > 0, handled


def test_memory_stays_bounded_while_the_database_is_down(services, make_park, start_worker):
    if services.postgres is None:
        pytest.skip("needs the private PostgreSQL")
    park = make_park(FAULT_PARK)
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+", receive_maximum=100, batch_readings=80)
    services.postgres.stop()
    try:
        publisher = Publisher(services.mqtt_host, services.mqtt_port)
        for topic, payload in stream(park.id, 1000):
            publisher.publish(topic, payload)
        publisher.flush()
        time.sleep(2)  # ample time for the broker to push whatever it would push
        held = running.worker.held_messages()
        assert 0 < held <= 100, f"worker holds {held} messages; Receive Maximum is 100"
    finally:
        services.postgres.restart()
    publisher.close()
    total = 1000 * len(PARAMS)
    wait_for(lambda: stored(services.database_url, park.id) >= total, timeout=120, message="all readings")
    assert stored(services.database_url, park.id) == total


def test_a_message_the_database_refuses_is_dead_lettered_and_the_rest_stored(
    services, db, make_park, start_worker
):
    park = make_park(FAULT_PARK)
    # A constraint our validation does not know about stands in for any surprise refusal.
    db.execute("ALTER TABLE readings ADD CONSTRAINT test_refuses_666 CHECK (value <> 666.25)")
    try:
        running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
        publisher = Publisher(services.mqtt_host, services.mqtt_port)
        for n, value in enumerate((1.5, 666.25, 2.5)):
            body = {"ts": f"2026-11-01T00:0{n}:00+08:00", "values": {"cod": value}}
            publisher.publish(f"outfall/v1/{park.id}/shop-01/total", orjson.dumps(body))
        publisher.close()
        wait_for(lambda: running.worker.counters.messages >= 3, message="3 messages handled")
    finally:
        db.execute("ALTER TABLE readings DROP CONSTRAINT test_refuses_666")
    assert stored(services.database_url, park.id) == 2
    reason = db.execute(
        "SELECT reason FROM dead_letters WHERE topic = %s", (f"outfall/v1/{park.id}/shop-01/total",)
    ).fetchone()[0]
    assert "database refused the message" in reason and "test_refuses_666" in reason
