"""The officer's inbox in real headless Chromium against the running system: a critical spike that
cleared by itself within the hold time is still listed (as cleared, to close), and the officer closes
it on the incident's own page with a note. Data goes in over MQTT; the outcome is read through the
page and the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.test_browser import ARGS, ARTIFACTS, CHROMIUM
from tests.e2e.harness import System

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
NI_LIMIT = 0.5


@pytest.mark.timeout(180)
def test_a_cleared_critical_stays_in_the_inbox_until_the_officer_closes_it(system: System) -> None:
    from playwright.sync_api import expect, sync_playwright

    park = system.load_park()
    out = system.outfall("token", "create", "--role", "officer", "--park", park)
    officer = out.split(": ", 1)[1].split()[0]
    start = datetime.now(UTC) - timedelta(seconds=40)
    system.publish(park, "shop-01", "workshop", start, {"ni": 12 * NI_LIMIT})
    for i in range(1, 8):
        system.publish(park, "shop-01", "workshop", start + timedelta(seconds=2 * i), {"ni": 0.05})
    system.wait_for(
        lambda: system.alerts(park, state="cleared"), timeout=20, message="the spike cleared by the data"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(system.api_url + "/")
            page.fill("#token", officer)
            page.click("#login-form button[type=submit]")
            # the point went silent afterwards, so its offline alert is listed too: find the nickel row
            # (offline alerts of the point, cleared when its data came, are listed as well)
            row = page.locator("#inbox tbody tr", has_text="已恢复待关闭").filter(has_text="严重")
            expect(row).to_have_count(1, timeout=15_000)
            expect(row).to_contain_text("总镍")
            page.screenshot(path=str(ARTIFACTS / "dashboard-cleared.png"), full_page=True)
            row.locator("a.detail").click()  # the incident's own page: evidence, history, actions
            expect(page.locator("#evidence tr.over")).to_have_count(1)
            page.fill("#incident-actions textarea", "已核实，企业已整改")
            page.click("#incident-actions button.resolve")
            expect(page.locator("#incident-state")).to_have_text("已关闭", timeout=10_000)
            page.click("text=返回待办事件")
            expect(page.locator("#inbox tbody tr", has_text="总镍")).to_have_count(0, timeout=10_000)
        finally:
            browser.close()
    (alert,) = system.alerts(park, parameter="ni", kind="exceedance")
    assert alert["state"] == "resolved" and alert["resolved_by"].startswith("officer:")
