"""Console page loads in Debian's Chromium with 30 days of minute data for the 57-plant sample park (the
API benchmark's data, loaded here when missing): the park overview and a point's chart over 24 hours
(raw minute values), 7 days (raw) and 30 days (stored hourly means), each loaded in a fresh browser
context (nothing cached) against `outfall api` in its own process.

A load is timed in the page from the start of navigation to the module's `data-state="ready"` (its
data fetched and drawn): the page, the module and ECharts' code, the API's answers, the drawing. The
modules are mounted on a bare page of the API's origin (the console's shell routes to the same calls).

Each page is loaded in a browser that has opened the console before (the static files in its HTTP
cache, revalidated by ETag, as for an officer coming back) and cold, in a fresh browser context.

Keys: console_page_load_ms (the slowest page's median, cached; goal < 1,000), console_<page>_p50_ms
and console_<page>_max_ms, the same for cold loads (console_<page>_cold_...), and where a cached load's
time goes (console_<page>_phases_ms: the median time after navigation began at which the page was
ready ("page"), ECharts was compiled ("oc-library"), the data had come ("oc-data", "ov-data")).
OUTFALL_DATABASE_URL and OUTFALL_MQTT_URL (bench/common.py) measure again on data already loaded."""

from __future__ import annotations

import os
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from api import tokens
from api.guard import CONTENT_SECURITY_POLICY
from bench import api as api_bench
from bench import history
from bench.common import Env
from outfall.tasks import park_load

LOADS = int(os.environ.get("OUTFALL_BENCH_CONSOLE_LOADS", "10"))
CHROMIUM = Path(os.environ.get("OUTFALL_BENCH_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PARK = api_bench.PARK
PLANT, POINT, PARAMETER = "shop-07", "total", "cod"
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/app.css"><link rel="stylesheet" href="/static/chart.css"></head>
<body><main><div id="mount"></div></main></body></html>"""
# Mount a module as the console does and return the time since navigation started when it is drawn.
LOAD = """async ([module, fn, opts, token]) => {
  performance.mark("page");
  const m = await import(module);
  opts.api = async (path) => {
    const r = await fetch(path, { headers: { Authorization: "Bearer " + token } });
    if (!r.ok) throw new Error(r.status + " " + path);
    return r.json();
  };
  opts.t = (key) => key;
  const el = document.getElementById("mount");
  m[fn](el, opts);
  await new Promise((done) => {
    const check = () => { if (el.dataset.state === "ready" || el.dataset.state === "error") done(); };
    new MutationObserver(check).observe(el, { attributes: true });
    check();
  });
  const marks = Object.fromEntries(performance.getEntriesByType("mark").map((e) => [e.name, e.startTime]));
  return { ms: performance.now(), marks, state: el.dataset.state, points: el.dataset.points || null };
}"""


def _prepare(env: Env, now: datetime) -> dict[str, Any]:
    """The API benchmark's month of data and alerts (when not there yet) and the stored hourly means of
    the charted series, as close_windows stores them."""
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
            " JOIN parameters q ON q.id = pp.parameter_id"
            " WHERE p.park_id = %s AND p.plant_id = %s AND p.code = %s AND q.code = %s",
            (PARK, PLANT, POINT, PARAMETER),
        ).fetchall()
        days = api_bench.DAYS
        history._store_hours(conn, [(r[0], r[1]) for r in series], now - timedelta(days=days), days)
    return out


def _pages() -> dict[str, tuple[str, str, dict[str, Any]]]:
    chart = {"park": PARK, "plant": PLANT, "point": POINT, "parameter": PARAMETER, "lang": "zh"}
    return {
        "overview": ("/static/overview.js", "mountParkOverview", {"park": PARK, "lang": "zh"}),
        "chart_24h": ("/static/chart.js", "mountSeriesChart", {**chart, "range": "24h"}),
        "chart_7d": ("/static/chart.js", "mountSeriesChart", {**chart, "range": "7d"}),
        "chart_30d": ("/static/chart.js", "mountSeriesChart", {**chart, "range": "30d"}),
    }


Load = dict[str, float]  # "ms": the whole load; then when each phase ended, ms after navigation began


def _load_once(context: Any, base: str, token: str, page_def: tuple[str, str, dict[str, Any]]) -> Load:
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CONTENT_SECURITY_POLICY}
    module, fn, opts = page_def
    page = context.new_page()
    page.route(base + "/console", lambda r: r.fulfill(status=200, headers=headers, body=PAGE))
    page.goto(base + "/console")
    got = page.evaluate(LOAD, [module, fn, opts, token])
    page.close()
    if got["state"] != "ready":
        raise RuntimeError(f"{module} did not load: {got}")
    return {"ms": float(got["ms"]), **{k: float(v) for k, v in got["marks"].items()}}


def _load_times(base: str, token: str) -> dict[str, list[Load]]:
    """Per page: loads in a browser that has opened the console before (its HTTP cache holds the
    static files, as for an officer coming back), and cold loads in a fresh browser context."""
    from playwright.sync_api import sync_playwright

    times: dict[str, list[Load]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            for name, page_def in _pages().items():
                context = browser.new_context(viewport={"width": 1920, "height": 1080})
                _load_once(context, base, token, page_def)  # the first visit; it also warms the API
                times[name] = [_load_once(context, base, token, page_def) for _ in range(LOADS)]
                context.close()
                cold = []
                for _ in range(max(1, LOADS // 2)):
                    context = browser.new_context(viewport={"width": 1920, "height": 1080})
                    cold.append(_load_once(context, base, token, page_def))
                    context.close()
                times[f"{name}_cold"] = cold
        finally:
            browser.close()
    return times


def _figures(times: dict[str, list[Load]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, loads in times.items():
        ms = [x["ms"] for x in loads]
        out[f"console_{name}_p50_ms"] = round(statistics.median(ms), 1)
        out[f"console_{name}_max_ms"] = round(max(ms), 1)
        if not name.endswith("_cold"):  # median end of each phase: page ready, ECharts ready, data, drawn
            phases = sorted(
                {k for x in loads for k in x} - {"ms"},
                key=lambda k: statistics.median(x[k] for x in loads if k in x),
            )
            out[f"console_{name}_phases_ms"] = {
                k: round(statistics.median(x[k] for x in loads if k in x)) for k in phases
            }
    return out


def main(env: Env) -> dict[str, Any]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    out = _prepare(env, now)
    _id, token = tokens.create(env.database_url, "officer", PARK, None, "bench")
    proc, base = api_bench._serve(env)
    try:
        times = _load_times(base, token)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    out.update(_figures(times))
    out["console_days"] = api_bench.DAYS
    out["console_page_load_ms"] = max(out[f"console_{name}_p50_ms"] for name in _pages())
    return out
