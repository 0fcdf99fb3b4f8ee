"""The dashboard in real headless Chromium (Debian's package, driven by Playwright; no browser is ever
downloaded): sign in as an officer, publish a breach through the broker, watch the alert arrive live in
the inbox, acknowledge it with a note, and keep a screenshot under artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from compliance import jobs
from tests.support import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "artifacts"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@pytest.mark.timeout(120)
def test_officer_sees_a_breach_live_and_acknowledges_it(
    live_api,
    services,
    make_park,
    make_token,
    rt_worker,
    consumer,
    ctx,
    publisher,
    client,
):
    from playwright.sync_api import expect, sync_playwright

    spec = make_park()
    jobs.run(services.database_url, ctx, "refresh_limits", park=spec.id)
    rt_worker()
    consumer()
    officer = make_token("officer", spec.id)
    token = officer["Authorization"].removeprefix("Bearer ")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(live_api + "/")
            page.fill("#token", token)
            page.click("#login-form button[type=submit]")
            expect(page.locator("#inbox")).to_be_visible()
            expect(page.locator("#live.on")).to_be_visible(timeout=10_000)  # the stream is connected
            expect(page.locator("#inbox-empty")).to_be_visible()
            body = {"ts": datetime.now(UTC).isoformat(), "values": {"cod": 500.0, "ph": 7.1}}
            publisher.publish(f"outfall/v1/{spec.id}/shop-01/total", orjson.dumps(body))
            row = page.locator("#inbox tbody tr").first
            expect(row).to_contain_text("Shop one", timeout=30_000)  # arrived live, no reload
            expect(row).to_contain_text("化学需氧量")  # by its name, not its code
            expect(row).to_contain_text("未确认")
            row.locator("input.note").fill("已电话通知企业")
            row.locator("button.ack").click()
            expect(page.locator("#inbox tbody tr").first).to_contain_text("已确认")
            page.screenshot(path=str(ARTIFACTS / "dashboard-inbox.png"), full_page=True)
            page.click("#lang")
            expect(page.locator("header nav")).to_contain_text("Incidents")
            expect(page.locator("#inbox tbody tr").first).to_contain_text("COD(Cr)")
        finally:
            browser.close()
    alerts = client.get("/api/v1/alerts", params={"park": spec.id}, headers=officer).json()
    assert len(alerts) == 1 and alerts[0]["state"] == "acknowledged"
    assert alerts[0]["acknowledged_by"].startswith("officer:")
    trail = client.get(f"/api/v1/alerts/{alerts[0]['id']}", headers=officer).json()["audit"]
    assert trail[-1]["note"] == "已电话通知企业"
