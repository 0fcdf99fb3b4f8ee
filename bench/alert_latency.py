"""Breach-to-alert latency at half the headline ingest rate.

Real processes, as deployed: `outfall ingest` (with the compliance hook) and `outfall compliance`
(leader: scheduler + real-time consumer). A background publisher feeds normal readings at the target
rate; meanwhile every 100 ms a probe message carries one breaching value for a (point, parameter) that
has no alert yet. Latency = from just before the probe is published to the moment the bench receives
the alert's NOTIFY (the alert row is committed and visible to the API then).

    OUTFALL_BENCH_ALERT_RATE      background readings/s (default 50000 = half of 100,000)
    OUTFALL_BENCH_ALERT_SECONDS   duration of the probing (default 20)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench.common import PARAMS, ROOT, Env, environment, load
from bench.rawpub import RawPublisher
from ingest.core import park
from ingest.core.models import ParkSpec

RATE = int(os.environ.get("OUTFALL_BENCH_ALERT_RATE", "50000"))
SECONDS = float(os.environ.get("OUTFALL_BENCH_ALERT_SECONDS", "20"))
LOAD_PLANTS, PROBE_PLANTS = 250, 50
NORMAL = {
    "cod": 30.0,
    "nh3_n": 2.0,
    "tn": 5.0,
    "tp": 0.2,
    "ph": 7.2,
    "flow": 2.0,
    "cn_total": 0.05,
    "ss": 10.0,
}
BREACH = {"cod": 200.0, "nh3_n": 50.0, "tn": 60.0, "tp": 5.0, "ph": 3.0, "cn_total": 2.0, "ss": 200.0}


def _park(park_id: str) -> ParkSpec:
    plants = "".join(
        f"  - id: {name}\n    name: {name}\n    points:\n      - id: total\n        kind: total_outlet\n"
        f"        parameters: [{', '.join(PARAMS)}]\n"
        for name in [f"p{i:03d}" for i in range(LOAD_PLANTS)] + [f"q{i:03d}" for i in range(PROBE_PLANTS)]
    )
    return park.parse(
        f"id: {park_id}\nname: Alert bench\nindustry: electroplating\n"
        f"standard: GB21900-2008-T2\nplants:\n{plants}"
    )


def _spawn(env: Env, *args: str) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "OUTFALL_DATABASE_URL": env.database_url,
        "OUTFALL_MQTT_URL": env.mqtt_url,
        "OUTFALL_INGEST_CLIENT_ID": "bench-alert-ingest",
        "OUTFALL_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "outfall", *args], env=environ, cwd=ROOT)


def _client(env: Env) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.max_inflight_messages_set(5000)
    client.max_queued_messages_set(0)
    client.connect(env.mqtt_host, env.mqtt_port)
    client.loop_start()
    return client


def _background(env: Env, park_id: str, stop: threading.Event, sent: list[int]) -> None:
    """Normal readings at RATE readings/s (8 per message), paced in 10 ms slices. Raw pre-encoded
    QoS 1 packets keep the load generator off the core that ingest and the database need."""
    publisher = RawPublisher(env.mqtt_host, env.mqtt_port, f"bench-load-{os.getpid()}")
    per_slice = max(1, RATE // len(PARAMS) // 100)
    n, t0 = 0, time.monotonic()
    while not stop.is_set():
        now = datetime.now(UTC)
        batch = []
        for k in range(per_slice):
            plant = f"p{(n + k) % LOAD_PLANTS:03d}"
            # real-time data: measurement time = now (distinct per point within the slice)
            ts = (now + timedelta(microseconds=k)).isoformat()
            batch.append((f"outfall/v1/{park_id}/{plant}/total", orjson.dumps({"ts": ts, "values": NORMAL})))
        n += publisher.publish(batch)
        sent[0] = n
        ahead = t0 + n / (RATE / len(PARAMS)) - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    publisher.close()


def _wait_ready(env: Env, park_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM compliance_limits l JOIN points p ON p.id = l.point_id"
                " WHERE p.park_id = %s",
                (park_id,),
            ).fetchone()
            if row and row[0] > 0:
                return
            time.sleep(0.2)
    raise RuntimeError("the compliance process did not resolve the bench park's limits in time")


def _committed(env: Env) -> int:
    with psycopg.connect(env.database_url) as conn:
        row = conn.execute(
            "SELECT readings FROM ingest_counters WHERE worker = 'bench-alert-ingest'"
        ).fetchone()
    return int(row[0]) if row else 0


def measure(env: Env) -> dict[str, Any]:
    park_id = f"bench-alerts-{int(time.time())}"
    load(env, _park(park_id))
    ingest, compliance = _spawn(env, "ingest"), _spawn(env, "compliance")
    try:
        _wait_ready(env, park_id)
        time.sleep(2.0)  # ingest subscribed, consumer listening
        return _probe(env, park_id)
    finally:
        for proc in (ingest, compliance):
            proc.send_signal(signal.SIGTERM)
        for proc in (ingest, compliance):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _probe(env: Env, park_id: str) -> dict[str, Any]:
    listen = psycopg.connect(env.database_url, autocommit=True)
    listen.execute("LISTEN outfall_alerts")
    stop, sent = threading.Event(), [0]
    bg = threading.Thread(target=_background, args=(env, park_id, stop, sent), daemon=True)
    bg.start()
    time.sleep(2.0)  # reach the steady load first
    client = _client(env)
    keys = [(f"q{q:03d}", p) for p in BREACH for q in range(PROBE_PLANTS)]
    published: dict[tuple[str, str], float] = {}
    received: dict[int, float] = {}
    bg_start, t_start, committed_start = sent[0], time.monotonic(), _committed(env)
    next_probe = time.monotonic()
    i = 0
    while time.monotonic() - t_start < SECONDS and i < len(keys):
        if time.monotonic() >= next_probe:
            plant, param = keys[i]
            values = {**NORMAL, param: BREACH[param]}
            payload = orjson.dumps({"ts": datetime.now(UTC).isoformat(), "values": values})
            published[(plant, param)] = time.time()
            client.publish(f"outfall/v1/{park_id}/{plant}/total", payload, qos=1)
            i += 1
            next_probe += 0.1
        for note in listen.notifies(timeout=0.01, stop_after=50):
            received.setdefault(int(note.payload), time.time())
    deadline = time.monotonic() + 10
    while len(received) < len(published) and time.monotonic() < deadline:
        for note in listen.notifies(timeout=0.2, stop_after=50):
            received.setdefault(int(note.payload), time.time())
    window = time.monotonic() - t_start
    load_rate = (sent[0] - bg_start) * len(PARAMS) / window
    committed_rate = (_committed(env) - committed_start) / window
    stop.set()
    bg.join(timeout=10)
    client.disconnect()
    client.loop_stop()
    rows = listen.execute(
        "SELECT a.id, a.plant_id, pa.code FROM alerts a JOIN parameters pa ON pa.id = a.parameter_id"
        " WHERE a.park_id = %s AND a.kind = 'exceedance'",
        (park_id,),
    ).fetchall()
    # where the time goes: publish -> ingest transaction start (received_at) -> alert row created
    parts = listen.execute(
        "SELECT a.plant_id, pa.code, extract(epoch FROM r.received_at), extract(epoch FROM a.created_at)"
        " FROM alerts a JOIN parameters pa ON pa.id = a.parameter_id"
        " JOIN readings r ON r.point_id = a.point_id"
        " AND r.parameter_id = a.parameter_id AND r.time = a.opened_at WHERE a.park_id = %s",
        (park_id,),
    ).fetchall()
    ingest_ms = sorted(
        (float(rcv) - published[(p, c)]) * 1000 for p, c, rcv, _cr in parts if (p, c) in published
    )
    engine_ms = sorted((float(cr) - float(rcv)) * 1000 for _p, _c, rcv, cr in parts)
    listen.close()
    lat = sorted(
        (received[aid] - published[(plant, code)]) * 1000
        for aid, plant, code in rows
        if aid in received and (plant, code) in published
    )
    if not lat:
        raise RuntimeError("no alert was observed")
    if os.environ.get("OUTFALL_BENCH_DEBUG"):
        order = sorted(
            (published[(p, c)], round((received[a] - published[(p, c)]) * 1000))
            for a, p, c in rows
            if a in received
        )
        print([ms for _t, ms in order], file=sys.stderr)

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 1)

    return {
        "alert_latency_p50_ms": pct(0.50),
        "alert_latency_p99_ms": pct(0.99),
        "alert_latency_max_ms": round(lat[-1], 1),
        "alert_probes": len(published),
        "alert_probes_seen": len(lat),
        "alert_unexpected": len(rows) - len(published),
        "alert_ingest_part_p50_ms": round(ingest_ms[len(ingest_ms) // 2], 1) if ingest_ms else None,
        "alert_ingest_part_p99_ms": round(ingest_ms[int(0.99 * len(ingest_ms))], 1) if ingest_ms else None,
        "alert_engine_part_p50_ms": round(engine_ms[len(engine_ms) // 2], 1) if engine_ms else None,
        "alert_engine_part_p99_ms": round(engine_ms[int(0.99 * len(engine_ms))], 1) if engine_ms else None,
        "alert_bench_load_readings_per_s": round(load_rate),
        "alert_bench_committed_readings_per_s": round(committed_rate),
        "alert_bench_target_readings_per_s": RATE,
    }


def main(env: Env | None = None) -> dict[str, Any]:
    """With an Env (bench/__main__.py), return the figures; standalone, also print them."""
    if env is not None:
        return measure(env)
    with environment() as own:
        result = measure(own)
    print(orjson.dumps({"bench": "bench.alert_latency", **result}).decode(), flush=True)
    print(
        f"summary: alert_latency_p50_ms={result['alert_latency_p50_ms']}, "
        f"alert_latency_p99_ms={result['alert_latency_p99_ms']} at "
        f"{result['alert_bench_load_readings_per_s']} readings/s background load",
        flush=True,
    )
    return result


if __name__ == "__main__":
    main()
