"""The officer's console in real headless Chromium (Debian's, via Playwright): every page in Chinese and
English with screenshots under artifacts/, no missing translation key, no horizontal overflow on a phone
(390 px) or a control-room screen (1,920 px); an incident worked through on its own page; a data mark
declared by the plant's operator and reviewed by an officer; sign-in links and sign-out.

One browser and one running API for the module: data goes in through the broker (an ingest worker with
the real-time rules and the consumer, as `outfall run` wires them); the outcome is read through the page
and the API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import psycopg
import pytest

from api import tokens
from api.auth import ROLES
from compliance import jobs, realtime
from compliance.models import ABNORMAL_DATA_KINDS, ALERT_KINDS, ALERT_STATES
from ingest.core import park as park_file
from ingest.core import repo
from ingest.core.models import FLAGS
from ingest.core.settings import IngestSettings
from ingest.mqtt.worker import IngestWorker
from tests.api.conftest import serve
from tests.api.test_browser import ARGS, ARTIFACTS, CHROMIUM
from tests.compliance.context import RULES, make_context
from tests.support import SMALL_PARK, Publisher, RunningWorker, Services, unique_id, wait_for

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
NI_LIMIT = 0.5  # GB 21900 Table 2, total nickel


@dataclass
class World:
    url: str
    park: str
    officer: str
    operator: str
    alerts: list[dict[str, Any]]

    def get(self, path: str, token: str | None = None, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or self.officer}"}
        r = httpx.get(self.url + path, params=params, headers=headers, timeout=10)
        r.raise_for_status()
        return r.json()

    def alert(self, parameter: str) -> dict[str, Any]:
        return next(a for a in self.alerts if a["parameter"] == parameter and a["kind"] == "exceedance")


@pytest.fixture(scope="module")
def world(services: Services) -> Iterator[World]:
    """A park with half an hour of minute data through the broker: a nickel spike at the workshop
    outlet and a COD breach at the total outlet, judged by the real-time rules."""
    spec = park_file.parse(SMALL_PARK.format(id=unique_id("con")))
    with psycopg.connect(services.database_url) as conn:
        repo.load_park(conn, spec)
    ctx = make_context()
    jobs.run(services.database_url, ctx, "refresh_limits", park=spec.id)
    settings = IngestSettings(client_id=unique_id("ingest"), topic=f"outfall/v1/{spec.id}/+/+")
    worker = RunningWorker(
        IngestWorker(
            settings,
            services.database_url,
            services.mqtt_host,
            services.mqtt_port,
            realtime.ingest_hook(RULES),
        )
    )
    stop = threading.Event()
    consumer = threading.Thread(
        target=realtime.Consumer(services.database_url, ctx.rules, ctx.runtime).run, args=(stop,), daemon=True
    )
    consumer.start()
    pub = Publisher(services.mqtt_host, services.mqtt_port)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for i in range(30, 0, -1):
        at = (now - timedelta(minutes=i)).isoformat()
        ni = 12 * NI_LIMIT if i == 20 else 0.1
        body = {"ts": at, "values": {"ni": ni, "cr_total": 0.2, "cr6": 10.0, "ph": 7.2}}
        pub.publish(f"outfall/v1/{spec.id}/shop-01/workshop", orjson.dumps(body))
        cod = 500.0 if i <= 5 else 40.0
        body = {"ts": at, "values": {"cod": cod, "nh3_n": 2.0, "ph": 7.1, "flow": 3.0}}
        pub.publish(f"outfall/v1/{spec.id}/shop-01/total", orjson.dumps(body))
    pub.flush()
    with serve(services) as url:
        _id, officer = tokens.create(services.database_url, "officer", spec.id, None, None)
        _id, operator = tokens.create(services.database_url, "operator", spec.id, "shop-01", None)
        _id, admin = tokens.create(services.database_url, "admin", None, None, None)
        # a name in both languages, as park files write them: each language shows its part
        r = httpx.patch(
            f"{url}/api/v1/parks/{spec.id}/plants/shop-01",
            json={"name": "电镀一厂 (Plating One)"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert r.status_code == 200, r.text
        w = World(url, spec.id, officer, operator, [])

        def both() -> bool:
            w.alerts = w.get("/api/v1/alerts", park=spec.id, kind="exceedance")
            return {a["parameter"] for a in w.alerts} >= {"ni", "cod"}

        wait_for(both, timeout=30, interval=0.3, message="the nickel and COD breaches as alerts")
        yield w
    pub.close()
    stop.set()
    consumer.join(timeout=10)
    worker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def signed_in(browser: Any, world: World, token: str, lang: str, width: int = 1280) -> Any:
    """A page of a fresh browser context already signed in with ``token``, showing ``lang``; page
    errors are collected in ``page.errors``."""
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    context.add_init_script(
        f"if (!sessionStorage.getItem('seeded')) {{ sessionStorage.setItem('seeded', '1');"
        f" localStorage.setItem('outfall.token', {orjson.dumps(token).decode()});"
        f" localStorage.setItem('outfall.lang', '{lang}'); }}"
    )
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(world.url + "/#/incidents")
    wait_ready(page, "#/incidents")
    return page


def wait_ready(page: Any, route: str) -> None:
    page.wait_for_function(
        "(r) => document.getElementById('view').dataset.ready === r", arg=route, timeout=15_000
    )


def show(page: Any, route: str) -> None:
    page.evaluate("(r) => { location.hash = r; }", route)
    wait_ready(page, route)
    # charts draw as they come into view: bring each into view and wait until it is drawn (the chart
    # module says so in data-state; the server's SVG is there once inserted), and none failed
    for box in page.locator(".chart-box").all():
        box.scroll_into_view_if_needed()
        page.wait_for_function(
            "(e) => e.dataset.state ? e.dataset.state !== 'loading' : e.childElementCount > 0",
            arg=box.element_handle(),
            timeout=15_000,
        )
    assert page.locator(".chart-box[data-state='error']").count() == 0


def pages(world: World) -> dict[str, str]:
    p = world.park
    return {
        "incidents": "#/incidents",
        "incident": f"#/incidents/{world.alert('ni')['id']}",
        "overview": f"#/parks/{p}",
        "plant": f"#/parks/{p}/plants/shop-01",
        "point": f"#/parks/{p}/plants/shop-01/points/workshop",
        "marks": f"#/marks?park={p}",
        "reports": f"#/reports?park={p}",
    }


@pytest.mark.timeout(180)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_in_both_languages_fits_a_phone_and_a_wall_screen(
    browser: Any, world: World, lang: str
) -> None:
    names = {
        "zh": ("总镍", "车间排口", "严重", "电镀一厂"),
        "en": ("total nickel", "workshop outlet", "Critical", "Plating One"),
    }[lang]
    for width in (390, 1920):
        page = signed_in(browser, world, world.officer, lang, width)
        try:
            for name, route in pages(world).items():
                show(page, route)
                overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{name} ({lang}) overflows {width} px by {overflow} px"
                page.screenshot(path=str(ARTIFACTS / f"console-{name}-{lang}-{width}.png"), full_page=True)
                if name == "incident":
                    assert names[0] in page.inner_text("#incident") and names[2] in page.inner_text(
                        "#incident"
                    )
                if name == "plant":
                    assert names[1] in page.inner_text("#plant-status")
                    heading = page.inner_text("#plant-file h2")
                    assert names[3] in heading and "(" not in heading  # the language's part only
            assert page.evaluate("() => [...window.outfallMissing]") == []
            assert page.errors == []
        finally:
            page.context.close()


@pytest.mark.timeout(60)
def test_every_key_and_every_domain_code_has_words_in_both_languages(
    browser: Any, world: World, services: Services
) -> None:
    import re

    from tests.support import ROOT

    page = signed_in(browser, world, world.officer, "zh")
    try:
        words = page.evaluate("() => import('/static/i18n.js').then((m) => m.DICT)")
    finally:
        page.context.close()
    zh, en = words["zh"], words["en"]
    assert sorted(set(zh) ^ set(en)) == [], "keys in one language only"
    assert [k for k in zh if not zh[k] or not en[k]] == []
    folder = ROOT / "api" / "dashboard"
    used = set()
    for f in folder.glob("*.js"):
        used |= set(re.findall(r"\bt\(\"([a-z0-9_.]+)\"\)", f.read_text()))
    used |= set(re.findall(r'data-t="([a-z0-9_]+)"', (folder / "index.html").read_text()))
    assert used and sorted(used - set(zh)) == []
    domain = (
        [f"kind.{k}" for k in ALERT_KINDS]
        + [f"state.{s}" for s in ALERT_STATES]
        + [f"sev.{s}" for s in ("warning", "violation", "critical")]
        + [f"flag.{f}" for f in FLAGS]
        + [f"pkind.{k}" for k in point_kinds(services.database_url)]
        + [f"mstatus.{s}" for s in ("pending", "approved", "rejected", "withdrawn")]
    )
    domain += [f"role.{r}" for r in ROLES] + [f"basis.{b}" for b in ("instant", "hour", "day", "status")]
    assert sorted(set(domain) - set(zh)) == []
    # the console's lists of kinds are compliance's
    source = (folder / "incidents.js").read_text()

    def listed(name: str) -> set[str]:
        found = re.search(rf"const {name} = \[([^\]]*)\]", source)
        assert found, name
        return set(re.findall(r'"([a-z_]+)"', found.group(1)))

    assert listed("KINDS") == set(ALERT_KINDS)
    assert listed("ABNORMAL") == set(ABNORMAL_DATA_KINDS)


def point_kinds(database_url: str) -> list[str]:
    """The point kinds the registry allows (its CHECK constraint)."""
    import re

    with psycopg.connect(database_url) as conn:
        (check,) = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'points'::regclass AND pg_get_constraintdef(oid) LIKE '%%kind%%'"
        ).fetchone()
    kinds = re.findall(r"'([a-z_]+)'", check)
    assert "workshop_outlet" in kinds
    return kinds


def annotate(world: World, alert_id: int, note: str) -> None:
    """A colleague's note, through the API."""
    headers = {"Authorization": f"Bearer {world.officer}"}
    r = httpx.post(f"{world.url}/api/v1/alerts/{alert_id}/annotate", json={"note": note}, headers=headers)
    assert r.status_code == 200, r.text


@pytest.mark.timeout(120)
def test_an_incident_is_worked_through_on_its_page(browser: Any, world: World) -> None:
    from playwright.sync_api import expect

    page = signed_in(browser, world, world.officer, "zh")
    ni, cod = world.alert("ni"), world.alert("cod")
    try:
        # a note being typed in the queue survives a live update of another row
        expect(page.locator("#live.on")).to_be_visible(timeout=10_000)
        page.fill(f"#alert-{ni['id']} input.note", "稍后处理")
        annotate(world, cod["id"], "已通知企业")
        expect(page.locator(f"#alert-{cod['id']}.new")).to_have_count(1, timeout=10_000)
        expect(page.locator(f"#alert-{ni['id']} input.note")).to_have_value("稍后处理")
        # the queue filtered to criticals: the nickel spike only, counted
        page.select_option("#filters select[name=severity]", "critical")
        page.click("#filters button[type=submit]")
        wait_ready(page, f"#/incidents?park={world.park}&severity=critical")
        rows = page.locator("#inbox tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("总镍")
        expect(rows.first).to_contain_text("电镀一厂")
        assert page.inner_text("#count-total") == "1"
        rows.first.locator("a.detail").click()
        wait_ready(page, f"#/incidents/{ni['id']}")
        expect(page.locator("#evidence tr.over")).to_have_count(1)  # the one value over the limit
        expect(page.locator("#incident")).to_contain_text("≤ 0.5 mg/L")
        # a colleague's note arrives live over the event stream; what this officer is typing stays
        expect(page.locator("#live.on")).to_be_visible(timeout=10_000)
        page.fill("#incident-actions textarea", "正在核实")
        annotate(world, ni["id"], "现场已采样")
        expect(page.locator("#audit")).to_contain_text("现场已采样", timeout=10_000)
        expect(page.locator("#incident-actions textarea")).to_have_value("正在核实")
        page.fill("#incident-actions textarea", "")
        form = page.locator("#incident-actions")
        if ni["state"] == "open":
            form.locator("textarea").fill("已电话通知企业")
            form.locator("button.ack").click()
            expect(page.locator("#incident-state")).to_have_text("已确认")
        form = page.locator("#incident-actions")
        form.locator("button.resolve").click()  # closing needs a note
        expect(page.locator("#action-error")).to_have_text("关闭事件请填写备注")
        with page.expect_download() as download:
            form.locator("button.export").click()
        assert download.value.suggested_filename.endswith(".zip")
        expect(page.locator("#exported")).to_contain_text("SHA-256")
        form.locator("textarea").fill("已核实，企业已整改")
        form.locator("button.resolve").click()
        expect(page.locator("#incident-state")).to_have_text("已关闭")
        expect(page.locator("#audit")).to_contain_text("已核实，企业已整改")
        page.screenshot(path=str(ARTIFACTS / "console-incident-closed.png"), full_page=True)
        assert page.errors == []
    finally:
        page.context.close()
    detail = world.get(f"/api/v1/alerts/{ni['id']}")
    assert detail["alert"]["state"] == "resolved" and detail["alert"]["resolved_by"].startswith("officer:")
    assert detail["audit"][-1]["note"] == "已核实，企业已整改"


@pytest.mark.timeout(120)
def test_an_operator_declares_a_mark_and_an_officer_reviews_it(browser: Any, world: World) -> None:
    from playwright.sync_api import expect

    plant = f"#/parks/{world.park}/plants/shop-01"
    page = signed_in(browser, world, world.operator, "en")
    try:
        show(page, plant)
        form = page.locator("#declare-mark")
        form.locator("select[name=point]").select_option("total")
        form.locator("select[name=code]").select_option("calibration")
        form.locator("input[name=note]").fill("monthly calibration of the COD analyser")
        form.locator("button[type=submit]").click()
        expect(page.locator("#plant-marks tbody tr")).to_have_count(1, timeout=10_000)
        expect(page.locator("#plant-marks tbody tr")).to_contain_text("monthly calibration")
        assert page.errors == [] and page.evaluate("() => [...window.outfallMissing]") == []
    finally:
        page.context.close()
    (mark,) = world.get("/api/v1/marks", park=world.park, plant="shop-01")
    page = signed_in(browser, world, world.officer, "en")
    try:
        show(page, f"#/marks?park={world.park}")
        row = page.locator(f"#mark-{mark['id']}")
        expect(row).to_contain_text("monthly calibration")
        row.locator("input.note").fill("checked against the maintenance log")
        row.locator("button.reject").click()
        expect(page.locator(f"#mark-{mark['id']}")).to_have_count(0)  # decided: off the review queue
        page.screenshot(path=str(ARTIFACTS / "console-marks-reviewed.png"), full_page=True)
        assert page.errors == []
    finally:
        page.context.close()
    (done,) = world.get("/api/v1/marks", park=world.park, plant="shop-01")
    assert done["status"] == "rejected" and done["decided_by"].startswith("officer:")
    assert done["decision_note"] == "checked against the maintenance log"


@pytest.mark.timeout(60)
def test_a_page_opened_while_another_loads_is_not_drawn_over(browser: Any, world: World) -> None:
    """The queue's answer held back (a slow network) while the officer opens the park overview: when
    it comes, the overview stays on screen."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    held: list[Any] = []
    context.route("**/api/v1/alerts?*", lambda route: held.append(route))
    page = context.new_page()
    try:
        page.goto(world.url + "/")
        page.evaluate("(t) => { location.hash = '#token=' + t; }", world.officer)
        page.wait_for_function("() => document.getElementById('who').textContent.length > 0")
        page.wait_for_timeout(200)
        assert held, "the queue did not ask for its incidents"
        page.evaluate("(p) => { location.hash = '#/parks/' + p; }", world.park)
        wait_ready(page, f"#/parks/{world.park}")
        page.wait_for_function("() => document.querySelectorAll('.ov-tile').length > 0")
        for route in held:
            route.continue_()
        page.wait_for_timeout(1000)  # the queue's answer arrives and its page finishes, unseen
        assert page.locator(".ov-tile").count() > 0 and page.locator("#inbox").count() == 0
    finally:
        context.close()


@pytest.mark.timeout(60)
def test_sign_out_is_clear_and_reaches_every_tab(browser: Any, world: World) -> None:
    """(Sign-in links, and asking before one replaces a signed-in token: tests/security.)"""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 800})
    first, second = context.new_page(), context.new_page()
    try:
        first.goto(world.url + "/")
        first.evaluate("(t) => { location.hash = '#token=' + t; }", world.officer)
        wait_ready(first, "#/incidents")
        second.goto(world.url + f"/#/parks/{world.park}/plants/shop-01")
        wait_ready(second, f"#/parks/{world.park}/plants/shop-01")
        first.click("#logout")
        for page in (first, second):
            expect(page.locator("#login-error")).to_contain_text("已退出登录")
            expect(page.locator("header nav")).to_be_hidden()
        assert first.evaluate("() => localStorage.getItem('outfall.token')") is None
        first.screenshot(path=str(ARTIFACTS / "console-signed-out-390.png"))
    finally:
        context.close()


@pytest.mark.timeout(120)
def test_the_monthly_report_shows_and_downloads_as_xlsx(browser: Any, world: World, tmp_path: Any) -> None:
    """The reports page asks the API for the month (api/routes/reports.py) and saves its xlsx."""
    from openpyxl import load_workbook
    from playwright.sync_api import expect

    month = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    page = signed_in(browser, world, world.officer, "zh")
    try:
        show(page, f"#/reports?park={world.park}&kind=month&period={month}")
        title = page.frame_locator("#r-frame").locator("h1")
        expect(title).to_contain_text("合规月报", timeout=15_000)  # in the console's language only
        expect(title).to_contain_text(month)
        expect(title).not_to_contain_text("Monthly")
        expect(page.frame_locator("#r-frame").locator("body")).to_contain_text("电镀一厂")
        with page.expect_download() as download:
            page.click("#r-xlsx")
        saved = tmp_path / "report.xlsx"
        download.value.save_as(saved)
        assert download.value.suggested_filename == f"{world.park}_{month}.xlsx"  # the API's name
        assert "日均值 Daily means" in load_workbook(saved).sheetnames
        assert page.errors == []
    finally:
        page.context.close()
    page = signed_in(browser, world, world.officer, "en")
    try:
        show(page, f"#/reports?park={world.park}&kind=month&period={month}")
        frame = page.frame_locator("#r-frame")
        expect(frame.locator("h1")).to_contain_text("Monthly compliance report", timeout=15_000)
        expect(frame.locator("body")).to_contain_text("Plating One")
        expect(frame.locator("body")).not_to_contain_text("电镀一厂")
        page.screenshot(path=str(ARTIFACTS / "console-report-month-en.png"), full_page=True)
        assert page.errors == [] and page.evaluate("() => [...window.outfallMissing]") == []
    finally:
        page.context.close()


@pytest.mark.timeout(90)
def test_an_officer_of_many_parks_filters_the_queue_by_a_quiet_park(
    browser: Any, world: World, services: Services
) -> None:
    """An officer of every park: the queue asks the names of the parks it lists and of the park it is
    filtered by (whose plant filter then lists its plants, with no incident there), not every park's."""
    quiet = []
    with psycopg.connect(services.database_url) as conn:
        for _ in range(5):  # more parks than the queue asks every park's names for
            spec = park_file.parse(SMALL_PARK.format(id=unique_id("quiet")))
            repo.load_park(conn, spec)
            quiet.append(spec.id)
    _id, officer = tokens.create(services.database_url, "officer", None, None, None)
    page = signed_in(browser, world, officer, "en")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/names") else None)
    try:
        show(page, f"#/incidents?park={quiet[0]}")
        plants = page.locator("#filters select[name=plant] option").all_inner_texts()
        assert plants[1:] == ["Shop one", "Shop two"], plants
        assert [u for u in asked if any(f"/parks/{q}/names" in u for q in quiet[1:])] == []
        assert page.errors == []
    finally:
        page.context.close()
