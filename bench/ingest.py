"""Ingest throughput: N messages of 8 readings pre-loaded into the worker's persistent session while it
is stopped; then the worker starts and we time until every reading is committed (acks after commit).
The same run times a naive baseline (one INSERT per reading, commit per message) for the ratio."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.common import PARAMS, ROOT, Env, bench_park, counter, load, payloads, publish_all
from ingest.core import parameters

MESSAGES = int(os.environ.get("OUTFALL_BENCH_MESSAGES", "200000"))
NAIVE_MESSAGES = int(os.environ.get("OUTFALL_BENCH_NAIVE_MESSAGES", "4000"))


def _worker(env: Env, client_id: str, topic: str) -> subprocess.Popen[str]:
    environ = {
        **os.environ,
        "OUTFALL_DATABASE_URL": env.database_url,
        "OUTFALL_MQTT_URL": env.mqtt_url,
        "OUTFALL_INGEST_CLIENT_ID": client_id,
        "OUTFALL_INGEST_TOPIC": topic,
        "OUTFALL_LOG_LEVEL": "WARNING",
    }
    # Through the CLI, so the compliance real-time hook runs inside every batch ("rules on").
    return subprocess.Popen([sys.executable, "-m", "outfall", "ingest"], env=environ, cwd=ROOT, text=True)


def _session_exists(env: Env, client_id: str, topic: str) -> None:
    """Start and stop the worker once so the broker holds its persistent session and subscription.
    It stops only once it has stored a probe (a dead letter, no reading): on a busy machine a fixed
    sleep could stop it before it subscribed, and the preloaded messages would never reach it."""
    proc = _worker(env, client_id, topic)
    probe = (topic.replace("+", "probe"), b"session probe")
    deadline = time.monotonic() + 120
    while _dead_letters(env, probe[0]) == 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("ingest worker did not subscribe")
        publish_all(env, iter([probe]))
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def _dead_letters(env: Env, topic: str) -> int:
    with psycopg.connect(env.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM dead_letters WHERE topic = %s", (topic,)).fetchone()
    return int(row[0]) if row else 0


def _profile(pid: int) -> subprocess.Popen[bytes] | None:
    """With OUTFALL_BENCH_PROFILE=FILE, sample the worker with py-spy into FILE (collapsed stacks)."""
    target = os.environ.get("OUTFALL_BENCH_PROFILE")
    if not target:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--threads",
            "--nonblocking",
            "--rate",
            "200",
            "--output",
            target,
        ],
        stdout=subprocess.DEVNULL,
    )


def measure_outfall(env: Env) -> dict[str, Any]:
    spec = bench_park("bench-ingest", 250)
    load(env, spec)
    client_id, topic = "bench-ingest-worker", f"outfall/v1/{spec.id}/+/+"
    _session_exists(env, client_id, topic)
    sent, pub_s = publish_all(env, payloads(spec, MESSAGES))
    expected = sent * len(PARAMS)
    proc = _worker(env, client_id, topic)
    profiler = _profile(proc.pid)
    t0 = time.monotonic()
    while counter(env, client_id) < expected:
        if proc.poll() is not None:
            raise RuntimeError("ingest worker exited during the benchmark")
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(timeout=30)
    proc.send_signal(signal.SIGTERM)
    _, _, usage = os.wait4(proc.pid, 0)
    return {
        **_raw_message_bytes(env),
        "ingest_readings_per_s": round(expected / elapsed),
        "ingest_messages": sent,
        "ingest_readings": expected,
        "ingest_seconds": round(elapsed, 2),
        "ingest_worker_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "ingest_worker_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "preload_publish_msgs_per_s": round(sent / pub_s),
    }


def _raw_message_bytes(env: Env) -> dict[str, Any]:
    """What keeping the messages' bytes costs: table and index bytes per stored message (the payloads
    here are JSON v1 messages of 8 values)."""
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE raw_messages")
        row = conn.execute(
            "SELECT hypertable_size('raw_messages'), count(*), avg(length(payload)) FROM raw_messages"
        ).fetchone()
    assert row is not None
    size, count, payload = row
    if not count:
        return {"ingest_raw_messages": 0}
    return {
        "ingest_raw_messages": count,
        "ingest_raw_bytes_per_message": round(size / count, 1),
        "ingest_raw_payload_bytes_avg": round(float(payload), 1),
    }


class NaiveConsumer:
    """One INSERT per reading and a commit per message, acknowledging after each commit."""

    def __init__(self, env: Env, topic: str, points: dict[str, int]) -> None:
        self.conn = psycopg.connect(env.database_url)
        self.points, self.done = points, 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="bench-naive",
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect(env.mqtt_host, env.mqtt_port, clean_start=False, properties=props)
        self.client.subscribe(topic, qos=1)
        self.ready = threading.Event()
        self.client.on_subscribe = lambda *_a: self.ready.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        import orjson

        body = orjson.loads(msg.payload)
        point = self.points[msg.topic.split("/")[3]]
        for code, value in body["values"].items():
            self.conn.execute(
                "INSERT INTO readings (point_id, parameter_id, time, value, flag, source)"
                " VALUES (%s, %s, %s, %s, 'N', 'bench-naive') ON CONFLICT DO NOTHING",
                (point, parameters.BY_CODE[code].id, body["ts"], value),
            )
        self.conn.commit()
        self.client.ack(msg.mid, msg.qos)
        self.done += 1


def measure_naive(env: Env) -> dict[str, Any]:
    spec = bench_park("bench-naive", 250)
    load(env, spec)
    with psycopg.connect(env.database_url) as conn:
        rows = conn.execute("SELECT plant_id, id FROM points WHERE park_id = %s", (spec.id,)).fetchall()
        points: dict[str, int] = dict(rows)
    consumer = NaiveConsumer(env, f"outfall/v1/{spec.id}/+/+", points)
    consumer.client.loop_start()
    consumer.ready.wait(10)
    consumer.client.loop_stop()
    consumer.client.disconnect()
    sent, _ = publish_all(env, payloads(spec, NAIVE_MESSAGES))
    consumer.client.reconnect()
    t0 = time.monotonic()
    consumer.client.loop_start()
    while consumer.done < sent:
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    consumer.client.loop_stop()
    consumer.conn.close()
    return {"naive_readings_per_s": round(sent * len(PARAMS) / elapsed), "naive_messages": sent}


def main(env: Env) -> dict[str, Any]:
    result = measure_outfall(env)
    result.update(measure_naive(env))
    result["ingest_vs_naive"] = round(result["ingest_readings_per_s"] / result["naive_readings_per_s"], 1)
    return result
