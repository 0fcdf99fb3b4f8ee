"""API latency with 30 days of minute data for the 57-plant sample park: p50/p99 of plant status, park
overview, alerts and readings, measured over HTTP against `outfall api` in its own process.

Headline: api_p99_ms, the worst p99 of the status, alerts and readings endpoints (target < 50 ms)."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api import tokens
from bench.common import ROOT, Env
from compliance import changes
from compliance import repo as crepo
from compliance.models import AlertChange, AlertState
from ingest.core.localservices import free_port
from outfall.tasks import park_load

DAYS = int(os.environ.get("OUTFALL_BENCH_API_DAYS", "30"))
REQUESTS = int(os.environ.get("OUTFALL_BENCH_API_REQUESTS", "300"))
PARK = "demo-plating"
ALERTS = 300


def _load_readings(env: Env, now: datetime) -> int:
    """Minute readings for every point and parameter of the park, generated inside PostgreSQL one day at a
    time (a realistic pattern: slow daily cycle, noise, 1 % of values flagged D)."""
    start = now.replace(second=0, microsecond=0) - timedelta(days=DAYS)
    total = 0
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        for day in range(DAYS):
            d0 = start + timedelta(days=day)
            cur = conn.execute(
                "INSERT INTO readings (point_id, parameter_id, time, value, flag, source)"
                " SELECT pp.point_id, pp.parameter_id, t,"
                "  greatest(p.plausible_min, 0) + (1 + 0.3 * sin(extract(epoch FROM t) / 13751.0))"
                "  * (2 + random() * 3), CASE WHEN random() < 0.01 THEN 'D' ELSE 'N' END, 'bench'"
                " FROM point_parameters pp JOIN points pt ON pt.id = pp.point_id"
                " JOIN parameters p ON p.id = pp.parameter_id"
                " CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute',"
                "  interval '1 minute') t"
                " WHERE pt.park_id = %s ON CONFLICT DO NOTHING",
                (d0, d0 + timedelta(days=1), PARK),
            )
            total += max(cur.rowcount, 0)
        conn.execute("ANALYZE readings")
    return total


def _open_alerts(env: Env, now: datetime) -> None:
    with psycopg.connect(env.database_url) as conn, conn.transaction():
        pts = list(crepo.points(conn, park_id=PARK).values())
        for n in range(ALERTS):
            pt = pts[n % len(pts)]
            t = now - timedelta(minutes=n)
            kind = ("exceedance", "hourly_mean", "flatline")[n % 3]
            meta = crepo.AlertMeta(
                PARK, pt.plant_id, pt.id, 9 + n % 5, "instant", "mg/L", 80.0, None, "bench"
            )
            state = AlertState(0, kind, "violation", "open", 120.0, 120.0, 1, t, t)
            changes.write_change(conn, meta, kind, AlertChange("open", state, ("opened",)))


def _serve(env: Env) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environ = {
        **os.environ,
        "OUTFALL_DATABASE_URL": env.database_url,
        "OUTFALL_MQTT_URL": env.mqtt_url,
        "OUTFALL_API_PORT": str(port),
        "OUTFALL_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "api"], env=environ, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code in (200, 503):
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the API did not start")


def _measure(client: httpx.Client, urls: list[str]) -> dict[str, float]:
    for url in urls[:20]:  # warm-up: connections, prepared statements, caches
        client.get(url).raise_for_status()
    times = []
    for url in urls:
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    times.sort()
    return {"p50": round(statistics.median(times), 2), "p99": round(times[int(0.99 * (len(times) - 1))], 2)}


def main(env: Env) -> dict[str, Any]:
    from simulators.__main__ import sample_park_path

    path: Path = sample_park_path()
    park_load(env.database_url, path)
    now = datetime.now(UTC)
    t0 = time.monotonic()
    loaded = _load_readings(env, now)
    load_s = time.monotonic() - t0
    from compliance import jobs
    from compliance.settings import RuleSettings, RuntimeSettings, SmtpSettings, WebhookSettings

    ctx = jobs.Context(RuleSettings(), RuntimeSettings(), WebhookSettings(), SmtpSettings())
    jobs.run(env.database_url, ctx, "refresh_limits", park=PARK)
    _open_alerts(env, now)
    _id, token = tokens.create(env.database_url, "officer", PARK, None, "bench")
    proc, base = _serve(env)
    rng = random.Random(7)
    plants = [f"shop-{n:02d}" for n in range(1, 58)]
    since = (now - timedelta(hours=24)).isoformat()
    urls = {
        "status": [f"/api/v1/parks/{PARK}/plants/{rng.choice(plants)}/status" for _ in range(REQUESTS)],
        "park_overview": [f"/api/v1/parks/{PARK}/status" for _ in range(REQUESTS // 3)],
        "alerts": [f"/api/v1/alerts?park={PARK}&state=open&limit=200" for _ in range(REQUESTS)],
        "readings": [
            f"/api/v1/parks/{PARK}/plants/{rng.choice(plants)}/points/total/readings?parameter=cod&from={since}"
            for _ in range(REQUESTS)
        ],
    }
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            figures = {
                name: _measure(client, [u.replace("+", "%2B") for u in us]) for name, us in urls.items()
            }
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    out: dict[str, Any] = {"api_days": DAYS, "api_readings_loaded": loaded, "api_load_s": round(load_s, 1)}
    for name, f in figures.items():
        out[f"api_{name}_p50_ms"], out[f"api_{name}_p99_ms"] = f["p50"], f["p99"]
    out["api_p99_ms"] = max(figures[k]["p99"] for k in ("status", "alerts", "readings"))
    return out
