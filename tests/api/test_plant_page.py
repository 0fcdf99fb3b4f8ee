"""The plant page (#/parks/P/plants/X) draws the plant file in real headless Chromium (Debian's, via
Playwright): permits, the limits in force with their source, the data loggers (an HJ 212-2025 logger:
edition configured and seen, clock drift, SM4 key generation, a quirk), KPIs by month from a day closed
on the legal record, and the period's incidents with how each ended; in Chinese and English, at 390 px and
1,920 px, with screenshots kept under artifacts/. The park is test_plant_file.py's, on the real database
and a running API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from api import tokens
from ingest.core import parameters
from tests.api.conftest import open_alert, serve
from tests.api.test_browser import ARTIFACTS, CHROMIUM
from tests.api.test_console import browser, show, signed_in  # noqa: F401  (the module's browser)
from tests.api.test_plant_file import COD, filed_park
from tests.support import Services

NI = parameters.BY_CODE["ni"].id
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@dataclass
class Filed:
    url: str
    park: str
    officer: str
    closed: int  # an incident an officer closed with a note
    month: str  # the month of the closed day


@pytest.fixture
def filed(services: Services, make_park: Any, db: psycopg.Connection, monkeypatch: Any) -> Iterator[Filed]:
    monkeypatch.setenv("OUTFALL_SECRET_KEY", "5e" * 32)
    park, day = filed_park(db, make_park, services)
    open_alert(services.database_url, park, "shop-01", "total", parameter_id=COD, limit=60.0)
    closed = open_alert(
        services.database_url, park, "shop-01", "workshop", parameter_id=NI, limit=0.5, value=6.0
    )
    _id, officer = tokens.create(services.database_url, "officer", park, None, None)
    with serve(services) as url:
        r = httpx.post(
            f"{url}/api/v1/alerts/{closed}/resolve",
            json={"note": "企业已整改 / fixed by the plant"},
            headers={"Authorization": f"Bearer {officer}"},
        )
        assert r.status_code == 200, r.text
        yield Filed(url, park, officer, closed, f"{day:%Y-%m}")


WORDS = {
    "zh": {
        "heading": "电镀一厂",
        "park": "测试园区",
        "total": "总排口 (total)",
        "workshop": "车间排口 (workshop)",
        "permit": "排污许可证 P-0001",
        "standard": "GB 21900-2008 Table 2",
        "ahead": "快 1",
        "sm4": "代次 1",
        "transport": "TCP（HJ 212）",
        "quirk": "数据段长度字段不符（CRC 正确） ×3",
        "below": "低于目标",
        "closed": "已关闭，关闭人 officer:",
        "report": "月报",
    },
    "en": {
        "heading": "Plating One",
        "park": "Test park",
        "total": "total outlet (total)",
        "workshop": "workshop outlet (workshop)",
        "permit": "Discharge permit P-0001",
        "standard": "GB 21900-2008 Table 2",
        "ahead": "ahead by 1",
        "sm4": "generation 1",
        "transport": "TCP (HJ 212)",
        "quirk": "length field does not match the data (CRC intact) ×3",
        "below": "below target",
        "closed": "Closed by officer:",
        "report": "Monthly report",
    },
}


def text(locator: Any) -> str:
    """A locator's text with its white space as one space (a phone's layout stacks a row's cells)."""
    return " ".join(locator.inner_text().split())


@pytest.mark.timeout(180)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_plant_page_draws_the_plant_file(browser: Any, filed: Filed, lang: str) -> None:  # noqa: F811
    w = WORDS[lang]
    route = f"#/parks/{filed.park}/plants/shop-01"
    for width in (390, 1920):
        page = signed_in(browser, filed, filed.officer, lang, width)
        try:
            show(page, route)
            heading = page.inner_text("#plant-file h2")
            assert w["heading"] in heading and "(" not in heading.split("\n")[0]
            crumb = page.inner_text("#view > div > p").split("›")[0].strip()  # the park, in this language
            assert crumb == w["park"], crumb
            assert page.inner_text("#who").endswith(f"· {w['park']})")  # the officer's park, as well
            # a point registered without a name reads as its kind, with its code
            assert w["total"] in text(page.locator("#plant-status"))
            # the limits in force with their source: the permit's where it is stricter, else the standard's
            limits = page.locator("#limit-list tbody tr")
            cod = limits.filter(has_text=f"{w['total']} · ")
            assert w["permit"] in text(cod.filter(has_text="60").first)
            assert w["standard"] in text(limits.filter(has_text="0.5").first)
            assert "P-0001" in page.inner_text("#permit-list") and "P-0002" not in page.inner_text("#view")
            # the 2025 logger: edition configured and seen, transport, clock two minutes ahead, SM4 key
            logger = text(page.locator("#loggers tbody tr").filter(has_text=w["workshop"]))
            for key in ("ahead", "sm4", "transport", "quirk"):
                assert w[key] in logger, (key, logger)
            assert "2025 / 2025" in logger
            # KPIs by month: the closed day's month, below the target and marked so, with its reports
            month = page.locator(f"#kpi-months tr[data-month='{filed.month}']")
            assert "below-row" in (month.get_attribute("class") or "")
            assert w["below"] in text(month) and w["report"] in text(month)
            href = month.locator("a").first.get_attribute("href")
            assert href == f"#/reports?park={filed.park}&plant=shop-01&kind=month&period={filed.month}"
            # the period's incidents with their outcome, each linking to its page
            closed = page.locator(f"a[href='#/incidents/{filed.closed}']")
            row = text(page.locator("#period-incidents tbody tr").filter(has=closed))
            assert w["closed"] in row and "企业已整改 / fixed by the plant" in row
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the plant page ({lang}) overflows {width} px by {overflow} px"
            page.screenshot(path=str(ARTIFACTS / f"plant-file-{lang}-{width}.png"), full_page=True)
            assert page.evaluate("() => [...window.outfallMissing]") == []
            assert page.errors == []
        finally:
            page.context.close()


@pytest.mark.timeout(60)
def test_the_plant_page_asks_for_the_file_once_per_draw(browser: Any, filed: Filed) -> None:  # noqa: F811
    page = signed_in(browser, filed, filed.officer, "en")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/plants/shop-01/" in r.url else None)
    try:
        show(page, f"#/parks/{filed.park}/plants/shop-01")
        paths = [u.split("/plants/shop-01/", 1)[1].split("?")[0] for u in asked]
        assert paths.count("file") == 1 and paths.count("status") == 1
        assert "points" not in paths  # the loggers come from the file
    finally:
        page.context.close()
