"""The dashboard's chart and park overview modules (`api/dashboard/chart.js`, `overview.js`) in real
headless Chromium (Debian's, via Playwright), against the API on the test services with data that came
in over the broker and was judged by compliance. The modules are mounted through their interface on a
bare page of the API's origin, under the API's own Content-Security-Policy; screenshots go to
artifacts/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from api.guard import CONTENT_SECURITY_POLICY
from compliance import jobs
from tests.api.test_browser import ARGS, ARTIFACTS, CHROMIUM

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")

PARK = """
id: {id}
name: 图表测试园区
timezone: Asia/Shanghai
industry: electroplating
standard: GB21900-2008-T2
config: {{reuse_target: 0.5}}
plants:
  - id: shop-01
    name: 电镀01号车间
    position: [20, 30]
    points:
      - id: total
        kind: total_outlet
        interval_s: 600
        parameters: {{cod: mg/L, ph: pH, flow: L/s}}
  - id: shop-02
    name: 电镀02号车间
    position: [40, 30]
    points:
      - id: total
        kind: total_outlet
        interval_s: 600
        parameters: {{cod: mg/L, ph: pH, flow: L/s}}
  - id: central
    name: 园区集中污水处理厂
    kind: central_plant
    position: [85, 60]
    points:
      - {{id: inlet, kind: central_inlet, interval_s: 600, parameters: [flow, cod]}}
      - {{id: outlet, kind: central_outlet, discharge_mode: direct, interval_s: 600, parameters: [flow, cod]}}
      - {{id: reuse, kind: reuse_outlet, discharge_mode: direct, standard: GBT19923-2005, interval_s: 600,
          parameters: [flow]}}
"""
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/app.css"><link rel="stylesheet" href="/static/chart.css"></head>
<body><main><div id="mount"></div></main></body></html>"""
# What the console's api() does: the token as a bearer, JSON back, an error on a refused request.
MOUNT = """async ([module, fn, opts, token]) => {
  const m = await import(module);
  opts.api = async (path) => {
    const r = await fetch(path, { headers: { Authorization: "Bearer " + token } });
    if (!r.ok) throw new Error(r.status + " " + path);
    return r.json();
  };
  opts.t = (key) => key;
  const dates = (r) => ({ from: new Date(r.from), to: new Date(r.to) });
  if (opts.range && opts.range.from) opts.range = dates(opts.range);
  if (opts.highlight) opts.highlight = dates(opts.highlight);
  window.mounted = m[fn](document.getElementById("mount"), opts);
}"""
OPTION = """async () => {
  const echarts = await import("/vendor/echarts/echarts.esm.min.js");
  const o = echarts.getInstanceByDom(document.querySelector(".oc-canvas")).getOption();
  const series = o.series.map((s) => ({ id: s.id, name: s.name, n: (s.data || []).length,
    areas: s.markArea && s.markArea.data ? s.markArea.data.length : 0, first: (s.data || [])[0] || null }));
  return { legend: o.legend[0].data, series, xmin: o.xAxis[0].min, xmax: o.xAxis[0].max };
}"""
NO_OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def fed_park(
    services: Any,
    make_park: Callable[..., Any],
    rt_worker: Any,
    consumer: Any,
    ctx: jobs.Context,
    publisher: Any,
    client: Any,
    make_token: Callable[..., dict[str, str]],
) -> tuple[str, str, datetime]:
    """The test park fed over MQTT: 26 hours of COD and pH at shop-01 every 10 minutes with one breach
    3 hours ago, flows at the central plant for 3 hours; hours closed by compliance's own job.
    Returns the park, an officer's token and the breach time."""
    spec = make_park(PARK)
    jobs.run(services.database_url, ctx, "refresh_limits", park=spec.id)
    rt_worker()
    consumer()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start, breach = now - timedelta(hours=26), now - timedelta(hours=3)
    sent = 0
    t = start
    while t < now:
        cod = 150.0 if t == breach else 40.0 + (t.minute % 30) / 10
        flags = {"cod": "D"} if t == breach - timedelta(minutes=60) else {}
        body = {"ts": t.isoformat(), "values": {"cod": cod, "ph": 7.2, "flow": 1.5}, "flags": flags}
        publisher.publish(f"outfall/v1/{spec.id}/shop-01/total", orjson.dumps(body))
        sent += 1
        if t >= now - timedelta(hours=3):
            for point, flow in (("inlet", 10.0), ("outlet", 8.0), ("reuse", 2.0)):
                msg = {"ts": t.isoformat(), "values": {"flow": flow}}
                publisher.publish(f"outfall/v1/{spec.id}/central/{point}", orjson.dumps(msg))
        t += timedelta(minutes=10)
    officer = make_token("officer", spec.id)
    url = f"/api/v1/parks/{spec.id}/plants/shop-01/points/total/readings"
    params = {"parameter": "cod", "from": start.isoformat(), "raw": "true"}

    def arrived() -> bool:
        return len(client.get(url, params=params, headers=officer).json()["items"]) == sent

    _wait(arrived, "the readings to be stored")
    _wait(lambda: client.get("/api/v1/alerts", params={"park": spec.id}, headers=officer).json(), "the alert")
    jobs.run(services.database_url, ctx, "close_windows", park=spec.id)
    operator = make_token("operator", spec.id, "shop-01")
    mark = {
        "park": spec.id,
        "plant": "shop-01",
        "point": "total",
        "code": "calibration",
        "from": (now - timedelta(hours=10)).isoformat(),
        "to": (now - timedelta(hours=9)).isoformat(),
        "note": "校准 COD 仪",
    }
    assert client.post("/api/v1/marks", json=mark, headers=operator).status_code == 201
    return spec.id, officer["Authorization"].removeprefix("Bearer "), breach


def _wait(check: Callable[[], Any], what: str, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _page(browser: Any, base: str, width: int, errors: list[str]) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CONTENT_SECURITY_POLICY}
    page.route(base + "/test-mount", lambda route: route.fulfill(status=200, headers=headers, body=PAGE))
    page.goto(base + "/test-mount")
    return page


@pytest.mark.timeout(180)
def test_the_chart_draws_the_series_with_limit_alerts_and_legend_and_its_range_picker_changes_it(
    browser: Any, live_api: str, fed_park: tuple[str, str, datetime], client: Any
) -> None:
    from playwright.sync_api import expect

    park, token, breach = fed_park
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    page = _page(browser, live_api, 1920, errors)
    opts = {
        "park": park,
        "plant": "shop-01",
        "point": "total",
        "parameter": "cod",
        "range": "24h",
        "lang": "zh",
        "tz": "Asia/Shanghai",
    }
    page.evaluate(MOUNT, ["/static/chart.js", "mountSeriesChart", opts, token])
    chart = page.locator("#mount")
    expect(chart).to_have_attribute("data-state", "ready", timeout=15_000)
    assert chart.get_attribute("data-bucket") == "raw"
    day = page.evaluate(OPTION)
    by_id = {s["id"]: s for s in day["series"]}
    # the last 24 h of 10-minute values, valid ones on the line, the D-flagged one apart
    assert by_id["value"]["n"] == 24 * 6 - 2 and by_id["invalid"]["n"] == 1
    assert by_id["hourly"]["n"] >= 20  # the stored hourly means overlay
    assert by_id["limit"]["first"][1] == 80.0  # GB 21900-2008 Table 2, COD at a total outlet
    assert by_id["alerts"]["areas"] == 1  # the breach's alert period, shaded
    assert by_id["marks"]["areas"] == 1  # the operator's calibration mark
    assert {"实测值", "无效数据", "小时均值", "限值", "告警时段", "数据标记"} <= set(day["legend"])
    assert day["xmax"] - day["xmin"] == 24 * 3600e3  # the whole range, not squeezed to the data
    expect(page.locator(".oc-title")).to_contain_text("化学需氧量")
    assert page.evaluate(NO_OVERFLOW)
    assert page.locator(".oc-canvas").bounding_box()["width"] > 1800  # full width
    # the tooltip: exact value, its flag and the park-local time of the breach
    breach_index = page.evaluate(
        """async (t) => { const echarts = await import("/vendor/echarts/echarts.esm.min.js");
        const c = echarts.getInstanceByDom(document.querySelector(".oc-canvas"));
        const data = c.getOption().series.find((s) => s.id === "value").data;
        const i = data.findIndex((d) => d[0] === t);
        c.dispatchAction({ type: "showTip", seriesIndex: 0, dataIndex: i }); return i; }""",
        breach.timestamp() * 1000,
    )
    assert breach_index >= 0
    tip = page.locator(".oc-tip")
    local = breach.astimezone(ZoneInfo("Asia/Shanghai"))
    expect(tip).to_contain_text("150", timeout=5_000)
    expect(tip).to_contain_text("N 正常")
    expect(tip).to_contain_text(local.strftime("%H:%M:00"))
    page.screenshot(path=str(ARTIFACTS / "chart-24h-1920.png"), full_page=True)

    page.click(".oc-picker button[data-range='1h']")  # the range picker changes the series
    expect(page.locator(".oc-picker button[data-range='1h']")).to_have_attribute("aria-pressed", "true")
    expect(chart).to_have_attribute("data-points", "5", timeout=10_000)
    hour = page.evaluate(OPTION)
    assert hour["xmax"] - hour["xmin"] == 3600e3
    page.click(".oc-picker button[data-range='7d']")
    expect(chart).to_have_attribute("data-points", str(26 * 6), timeout=10_000)
    week = {s["id"]: s for s in page.evaluate(OPTION)["series"]}
    assert "daily" in week  # the daily means overlay on multi-day ranges
    page.click(".oc-picker button[data-range='1y']")  # long ranges: the stored means, not raw values
    expect(chart).to_have_attribute("data-bucket", "1d", timeout=10_000)
    # a custom range in park-local time
    page.click(".oc-picker button[data-range='custom']")
    start_local = (breach - timedelta(hours=1)).astimezone(local.tzinfo).strftime("%Y-%m-%dT%H:%M")
    end_local = (breach + timedelta(hours=1)).astimezone(local.tzinfo).strftime("%Y-%m-%dT%H:%M")
    page.fill(".oc-custom input[name=from]", start_local)
    page.fill(".oc-custom input[name=to]", end_local)
    page.click(".oc-custom button[type=submit]")
    custom_from = (breach - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    expect(chart).to_have_attribute("data-from", custom_from)
    expect(chart).to_have_attribute("data-points", "12", timeout=10_000)

    # a phone: no horizontal overflow, the chart still the page's width; English words
    page.evaluate("() => window.mounted.destroy()")
    page.set_viewport_size({"width": 390, "height": 844})
    opts = {
        **opts,
        "parameter": "ph",
        "lang": "en",
        "range": "24h",
        "highlight": {"from": (breach - timedelta(minutes=30)).isoformat(), "to": breach.isoformat()},
    }
    page.evaluate(MOUNT, ["/static/chart.js", "mountSeriesChart", opts, token])
    expect(chart).to_have_attribute("data-state", "ready", timeout=15_000)
    ph = page.evaluate(OPTION)
    limits = {s["id"]: s for s in ph["series"] if s["id"].startswith("limit")}
    assert limits["limit"]["first"][1] == 9.0 and limits["limit-lower"]["first"][1] == 6.0  # pH: its band
    assert limits["limit"]["areas"] == 1
    assert {"Measured", "Limit", "Evidence window"} <= set(ph["legend"])
    assert page.evaluate(NO_OVERFLOW)
    assert page.locator(".oc-canvas").bounding_box()["width"] > 330
    page.screenshot(path=str(ARTIFACTS / "chart-ph-390.png"), full_page=True)
    page.close()
    assert not errors, errors  # nothing refused by the CSP, no script error


@pytest.mark.timeout(180)
def test_the_park_overview_colours_plants_places_them_and_shows_the_central_plant(
    browser: Any, live_api: str, fed_park: tuple[str, str, datetime], client: Any
) -> None:
    from playwright.sync_api import expect

    park, token, _ = fed_park
    status = client.get(f"/api/v1/parks/{park}/status", headers={"Authorization": f"Bearer {token}"}).json()
    shop1 = next(p for p in status["plants"] if p["plant"] == "shop-01")
    assert shop1["position"] == [20.0, 30.0] and shop1["worst_severity"] in ("violation", "critical")
    errors: list[str] = []
    for width, lang in ((1920, "zh"), (390, "en")):
        page = _page(browser, live_api, width, errors)
        opts = {"park": park, "lang": lang, "tz": "Asia/Shanghai"}
        page.evaluate(MOUNT, ["/static/overview.js", "mountParkOverview", opts, token])
        view = page.locator("#mount")
        expect(view).to_have_attribute("data-state", "ready", timeout=15_000)
        tiles = page.locator(".ov-tile")
        expect(tiles).to_have_count(3)
        tile = page.locator(".ov-tile[data-plant='shop-01']")
        expect(tile).to_have_class(f"ov-tile ov-sev-{shop1['worst_severity']}")
        assert tile.get_attribute("href") == f"#/parks/{park}/plants/shop-01"
        # shop-02 sends nothing: offline, no incident
        expect(page.locator(".ov-tile[data-plant='shop-02']")).to_have_class("ov-tile ov-sev-none ov-offline")
        expect(page.locator("svg.ov-plan a.ov-site")).to_have_count(3)  # the site plan from the park file
        central = page.locator("[data-kpi='central']")
        c = status["central"]
        if c["reuse_ratio"] is not None:  # today has a closed hour (not so just after local midnight)
            assert c["reuse_ratio"] < c["reuse_target"]
            expect(central).to_have_class("ov-kpi ov-central ov-below")
            expect(central.locator(".ov-ratio")).to_have_text("20.0%")
        expect(page.locator("[data-kpi='online']")).to_contain_text("4/5")
        assert page.evaluate(NO_OVERFLOW)
        page.screenshot(path=str(ARTIFACTS / f"overview-{width}-{lang}.png"), full_page=True)
        page.close()
    assert not errors, errors
