"""Console page loads in Debian's Chromium with 30 days of minute data for the 57-plant sample park (the
API benchmark's data, loaded here when missing, with the legal record close_windows would have stored:
the charted point's hourly means and the park's days and months). Each page is the console itself at
its own URL (`/#/incidents`, `/#/parks/P/plants/X`, ...) against `outfall api` in its own process,
signed in as a park officer.

A load is timed in the page from the start of navigation until the console says the page is drawn: the
view's `data-ready` set (its data fetched and rendered), every chart in it `data-state="ready"`, and a
report's frame loaded. It includes the shell, its modules, ECharts, sign-in (`/me`, `/parks`, the
park's names) and the page's own requests.

Each page is loaded in a browser that has opened the console before (the static files in its HTTP
cache, revalidated by ETag, as for an officer coming back) and cold, in a fresh browser context.

Keys: console_page_load_ms (the slowest page's median, cached; goal < 1,000), console_<page>_p50_ms and
console_<page>_max_ms, and the same for cold loads (console_<page>_cold_...).
OUTFALL_DATABASE_URL and OUTFALL_MQTT_URL (bench/common.py) measure again on data already loaded."""

from __future__ import annotations

import json
import os
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg

from api import tokens
from bench import api as api_bench
from bench import history
from bench.common import Env
from outfall.tasks import park_load

LOADS = int(os.environ.get("OUTFALL_BENCH_CONSOLE_LOADS", "10"))
CHROMIUM = Path(os.environ.get("OUTFALL_BENCH_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PARK = api_bench.PARK
PLANT, POINT = "shop-07", "total"
# Drawn: the time since navigation began, once the view is ready and everything in it has loaded.
DRAWN = """() => {
  const v = document.getElementById("view");
  if (!v || !v.dataset.ready) return false;
  if (v.dataset.ready === "error") return -1;
  const states = [...v.querySelectorAll("[data-state]")].map((e) => e.dataset.state);
  if (states.includes("error")) return -1;
  if (states.some((s) => s !== "ready")) return false;
  const loaded = (f) => f.contentDocument && f.contentDocument.readyState === "complete"
    && f.contentDocument.body && f.contentDocument.body.childElementCount;
  if (![...v.querySelectorAll("iframe")].every(loaded)) return false;
  return performance.now();
}"""

STATE = """() => { const v = document.getElementById("view");
  const states = [...document.querySelectorAll("[data-state]")].map((e) => e.dataset.state);
  return { ready: v && v.dataset.ready, states, text: v && v.innerText.slice(0, 300) }; }"""


def _prepare(env: Env, now: datetime) -> dict[str, Any]:
    """The API benchmark's month of data and alerts (when not there yet), the stored hourly means of
    the charted point and the park's stored days and months, as close_windows stores them."""
    out: dict[str, Any] = {}
    from simulators.__main__ import sample_park_path

    park_load(env.database_url, sample_park_path())
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        present = history._month_present(conn, now)
    if not present:
        out["console_readings_loaded"] = api_bench._load_readings(env, now)
        api_bench._open_alerts(env, now)
        from compliance import jobs
        from compliance.settings import RuleSettings, RuntimeSettings, SmtpSettings, WebhookSettings

        ctx = jobs.Context(RuleSettings(), RuntimeSettings(), WebhookSettings(), SmtpSettings())
        jobs.run(env.database_url, ctx, "refresh_limits", park=PARK)
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        series = conn.execute(
            "SELECT pp.point_id, pp.parameter_id FROM point_parameters pp JOIN points p ON p.id = pp.point_id"
            " WHERE p.park_id = %s AND p.plant_id = %s AND p.code = %s",
            (PARK, PLANT, POINT),
        ).fetchall()
        days = api_bench.DAYS
        history._store_hours(conn, [(r[0], r[1]) for r in series], now - timedelta(days=days), days)
        history._store_days(conn, now)
    return out


def _routes(base: str, token: str, now: datetime) -> dict[str, str]:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        incident = _incident(client)
    yesterday = (now.astimezone(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date().isoformat()
    plant = f"#/parks/{PARK}/plants/{PLANT}"
    return {
        "queue": f"#/incidents?park={PARK}",
        "incident": f"#/incidents/{incident}",
        "overview": f"#/parks/{PARK}",
        "plant": plant,
        "point_24h": f"{plant}/points/{POINT}",
        "point_30d": f"{plant}/points/{POINT}?range=30d",
        "marks": f"#/marks?park={PARK}",
        "report_day": f"#/reports?park={PARK}&kind=day&period={yesterday}",
        "report_month": f"#/reports?park={PARK}&kind=month&period={yesterday[:7]}",
    }


def _incident(client: httpx.Client) -> int:
    """An open incident of the benchmark's on a parameter its point measures (so it has a chart)."""
    alerts = client.get("/api/v1/alerts", params={"park": PARK, "state": "open", "limit": 500})
    alerts.raise_for_status()
    measured: dict[str, set[str]] = {}
    for a in alerts.json():
        where = f"/api/v1/parks/{a['park']}/plants/{a['plant']}/points/{a['point']}"
        if where not in measured:
            point = client.get(where)
            point.raise_for_status()
            measured[where] = {p["code"] for p in point.json()["parameters"]}
        if a["parameter"] in measured[where]:
            return int(a["id"])
    raise RuntimeError("no open incident on a measured parameter")


def _load_once(context: Any, base: str, route: str) -> float:
    page = context.new_page()
    page.goto(f"{base}/{route}")
    try:
        drawn = page.wait_for_function(DRAWN, polling="raf", timeout=60_000).json_value()
    except Exception as exc:  # what the page shows, to say why
        shown = page.evaluate(STATE)
        raise RuntimeError(f"{route} was not drawn in 60 s: {shown}") from exc
    page.close()
    if drawn < 0:
        raise RuntimeError(f"{route} did not load: {page.evaluate(STATE)}")
    return float(drawn)


def _signed_in(browser: Any, token: str) -> Any:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.add_init_script(
        f"localStorage.setItem('outfall.token', {json.dumps(token)});"
        " localStorage.setItem('outfall.lang', 'zh');"
    )
    return context


def _load_times(base: str, token: str, routes: dict[str, str]) -> dict[str, list[float]]:
    """Per page: loads in a browser that has opened the console before (its HTTP cache holds the
    static files, as for an officer coming back), and cold loads in a fresh browser context."""
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            for name, route in routes.items():
                context = _signed_in(browser, token)
                _load_once(context, base, route)  # the first visit; it also warms the API
                times[name] = [_load_once(context, base, route) for _ in range(LOADS)]
                context.close()
                cold = []
                for _ in range(max(1, LOADS // 2)):
                    context = _signed_in(browser, token)
                    cold.append(_load_once(context, base, route))
                    context.close()
                times[f"{name}_cold"] = cold
        finally:
            browser.close()
    return times


def main(env: Env) -> dict[str, Any]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    out = _prepare(env, now)
    _id, token = tokens.create(env.database_url, "officer", PARK, None, "bench")
    proc, base = api_bench._serve(env)
    try:
        routes = _routes(base, token, now)
        times = _load_times(base, token, routes)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    for name, ms in times.items():
        out[f"console_{name}_p50_ms"] = round(statistics.median(ms), 1)
        out[f"console_{name}_max_ms"] = round(max(ms), 1)
    out["console_days"] = api_bench.DAYS
    out["console_page_load_ms"] = max(out[f"console_{name}_p50_ms"] for name in routes)
    return out
