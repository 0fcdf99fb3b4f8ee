"""The browser side of the API's hardening, in Debian's headless Chromium (driven by Playwright, as in
tests/e2e/test_dashboard.py) against the running system:

- /docs renders Swagger UI from the API's own files: no request leaves 127.0.0.1, nothing breaks the
  Content-Security-Policy;
- a `#token=` link asks before it replaces the token already signed in, and works in a tab that is
  already on the sign-in page;
- the dashboard's pages (inbox, park, point with its charts, report) break no rule of the policy, and
  the report is shown in a sandboxed frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.api.test_browser import ARGS, ARTIFACTS, CHROMIUM
from tests.e2e.harness import System

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


class Watched:
    """A page whose requests to anywhere but 127.0.0.1 are recorded and aborted, and whose console
    reports of Content-Security-Policy violations are recorded."""

    def __init__(self, page: Any) -> None:
        self.page, self.outside, self.violations = page, [], []
        page.route("**/*", self._route)
        page.on("console", self._console)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(message.text)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def token(system: System, name: str, *scope: str) -> str:
    out = system.outfall("token", "create", "--name", name, *scope)
    return out.split(": ", 1)[1].split()[0]


@pytest.mark.timeout(120)
def test_the_api_docs_render_from_the_apis_own_files(system: System, browser: Any) -> None:
    from playwright.sync_api import expect

    watched = Watched(browser.new_page(viewport={"width": 1280, "height": 900}))
    page = watched.page
    page.goto(system.api_url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Outfall", timeout=15_000)
    expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
    assert page.locator(".swagger-ui .opblock").count() > 20  # every operation is listed
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    assert watched.outside == [], f"/docs asked other origins: {watched.outside}"
    assert watched.violations == [], watched.violations


@pytest.mark.timeout(120)
def test_a_token_link_asks_before_it_replaces_the_signed_in_token(system: System, browser: Any) -> None:
    from playwright.sync_api import expect

    alice, bob = token(system, "alice", "--role", "officer"), token(system, "bob", "--role", "admin")
    watched = Watched(browser.new_page(viewport={"width": 1280, "height": 800}))
    page = watched.page
    page.goto(system.api_url + "/")
    expect(page.locator("#login-form")).to_be_visible()
    # a link opened in the tab that is already on the sign-in page: no reload, only the fragment changes
    page.evaluate("t => { location.hash = '#token=' + t; }", alice)
    expect(page.locator("#who")).to_contain_text("alice", timeout=10_000)
    assert "token=" not in page.url  # the token leaves the address bar at once
    # (the queue of an officer of every park of the shared system: many alerts, many parks' names)
    expect(page.locator("#inbox")).to_be_visible(timeout=20_000)
    # another token's link while alice is signed in: asked, and kept when declined
    page.evaluate("t => { location.hash = '#token=' + t; }", bob)
    expect(page.locator("#switch-offered")).to_contain_text("bob", timeout=30_000)
    expect(page.locator("#switch-current")).to_contain_text("alice")
    page.click("#switch-no")
    expect(page.locator("#inbox")).to_be_visible(timeout=20_000)
    expect(page.locator("#who")).to_contain_text("alice")
    assert page.evaluate("localStorage.getItem('outfall.token')") == alice
    # a fresh page load with a link asks too; accepted, bob is signed in
    page.goto(system.api_url + "/#token=" + bob)
    expect(page.locator("#switch-offered")).to_contain_text("bob", timeout=30_000)
    page.click("#switch-yes")
    expect(page.locator("#who")).to_contain_text("bob", timeout=10_000)
    assert "token=" not in page.url
    assert watched.outside == [] and watched.violations == [], (watched.outside, watched.violations)


@pytest.mark.timeout(120)
def test_every_dashboard_page_keeps_the_policy_and_the_report_is_sandboxed(
    system: System, browser: Any
) -> None:
    from playwright.sync_api import expect

    park = system.load_park()
    officer = token(system, "reporter", "--role", "officer", "--park", park)
    watched = Watched(browser.new_page(viewport={"width": 1280, "height": 900}))
    page = watched.page
    page.goto(system.api_url + "/#token=" + officer)
    expect(page.locator("#who")).to_contain_text("reporter", timeout=30_000)
    page.goto(system.api_url + f"/#/park/{park}")
    # the overview module's plant tiles (or, without it, the console's own)
    expect(page.locator(".ov-tile, .grid .tile")).to_have_count(1, timeout=30_000)
    page.goto(system.api_url + f"/#/point/{park}/shop-01/workshop")
    # the chart, drawn by script (the chart module's, or the API's own SVG) when it comes into view
    page.locator("[data-parameter='ni']").scroll_into_view_if_needed(timeout=30_000)
    chart = page.locator("[data-parameter='ni'] svg, [data-parameter='ni'] canvas").first
    expect(chart).to_be_visible(timeout=30_000)
    page.goto(system.api_url + "/#/reports")
    frame = page.locator("#r-frame")
    expect(frame).to_have_attribute("sandbox", "allow-same-origin allow-modals", timeout=30_000)
    expect(page.frame_locator("#r-frame").locator("h1")).to_contain_text("日报", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "report-sandboxed.png"), full_page=True)
    assert watched.outside == [] and watched.violations == [], (watched.outside, watched.violations)
