"""Helpers for the tests: service handles, a QoS 1 publisher, an in-process worker, polling."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.core import secrets
from ingest.core.localservices import LocalMosquitto, LocalPostgres
from ingest.core.models import ParkSpec
from ingest.mqtt.worker import IngestWorker

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Services:
    database_url: str
    mqtt_host: str
    mqtt_port: int
    postgres: LocalPostgres | None
    mosquitto: LocalMosquitto | None

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://{self.mqtt_host}:{self.mqtt_port}"


def unique_id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


TEST_HJ212_PW = "123456"  # the PW the tests' HJ 212 frames carry (tests/ingest/hj212_support.frame)


def issue_hj212_pws(conn: psycopg.Connection, park: ParkSpec, pw: str = TEST_HJ212_PW) -> None:
    """Register ``pw`` as the HJ 212 PW of every point of ``park`` with an MN (the caller commits)."""
    hashed = secrets.hash_secret(pw)
    for plant in park.plants:
        for point in plant.points:
            if point.mn:
                name = secrets.logger_name(park.id, plant.id, point.id, "hj212-pw")
                secrets.issue(conn, name, "hash", hashed, "test")


SMALL_PARK = """
id: {id}
name: Test park
timezone: Asia/Shanghai
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: workshop
        kind: workshop_outlet
        interval_s: 60
        parameters: {{cr_total: mg/L, cr6: µg/L, ni: mg/L, ph: pH}}
      - id: total
        kind: total_outlet
        interval_s: 60
        parameters: {{cod: mg/L, nh3_n: mg/L, ph: pH, flow: L/s}}
  - id: shop-02
    name: Shop two
    points:
      - id: total
        kind: total_outlet
        interval_s: 60
        parameters: [cod, nh3_n, ph, flow]
"""


class RunningWorker:
    def __init__(self, worker: IngestWorker) -> None:
        self.worker = worker
        self.thread = threading.Thread(target=worker.run, daemon=True)
        self.thread.start()
        assert worker.subscribed.wait(30), "ingest worker did not subscribe"

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "ingest worker did not stop"


class Publisher:
    """A QoS 1 MQTT 5 publisher that, like a data logger, keeps unsent messages across broker
    restarts (paho queues them and resends after reconnecting) and can wait until the broker has
    acknowledged every one."""

    def __init__(
        self,
        host: str,
        port: int,
        login: tuple[str, str] | None = None,
        client_id: str | None = None,
        setup: Callable[[mqtt.Client], None] | None = None,  # e.g. TLS, before connecting
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or unique_id("pub"),
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 1)
        if login is not None:
            self.client.username_pw_set(*login)
        self.published = 0
        self.acked = 0
        self.refused: list[int] = []  # PUBACK reason codes >= 128 (e.g. 135 not authorised)
        self.connects: list[str] = []  # CONNACK reasons, in order
        self.disconnects: list[str] = []
        self.received: list[str] = []  # topics of the messages delivered to this client
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, msg: self.received.append(msg.topic)
        if setup is not None:
            setup(self.client)
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_publish(self, _c: object, _u: object, _mid: int, reason: object, _p: object) -> None:
        with self._lock:
            self.acked += 1
            value = getattr(reason, "value", 0)
            if value >= 128:
                self.refused.append(value)

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        self.connects.append(str(reason))
        if not getattr(reason, "is_failure", False):
            self.connected.set()

    def _on_disconnect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        self.connected.clear()
        self.disconnects.append(str(reason))

    def wait_connected(self, timeout: float = 15) -> None:
        assert self.connected.wait(timeout), f"the broker did not accept the login: {self.connects}"

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        self.published += 1

    def flush(self, timeout: float = 60) -> None:
        wait_for(lambda: self.acked >= self.published, timeout=timeout, message="broker acknowledgements")

    def close(self, timeout: float = 60) -> None:
        self.flush(timeout)
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(
    predicate: Callable[[], object], timeout: float = 30, interval: float = 0.05, message: str = "condition"
) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)
