"""Reports against the real database: three park-local days of readings (one over the COD limit, one with
implausible values, one with an instrument fault) closed by compliance's close_windows job, then the daily,
monthly and quarterly reports read through the API as JSON, CSV, xlsx and HTML, their numbers checked
against the stored ``compliance_windows`` rows."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import pytest
from openpyxl import load_workbook

from compliance import jobs
from tests.api.test_legal_record import _insert, _point
from tests.compliance.context import make_context

SH = ZoneInfo("Asia/Shanghai")
D19 = datetime(2026, 11, 19, tzinfo=SH)
CLOSED_BY = datetime(2026, 11, 22, 12, tzinfo=SH)  # the 19th, 20th and 21st are closed
COD = 9


def _day(point: int, d0: datetime, value: float, flag: str = "N", hours: range = range(24)) -> list[tuple]:  # type: ignore[type-arg]
    return [(point, COD, d0 + timedelta(hours=h, minutes=m), value, flag) for h in hours for m in range(60)]


@pytest.fixture
def park(db, make_park, services, client, admin) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """shop-01's total outlet, COD (limit 80 mg/L): the 19th at 40 with an hour of implausible negative
    values flagged N; the 20th at 100 all day (an exceeded day, 24 hours over); the 21st at 40 but for
    18 hours flagged D at 999 (not enough valid hours for a daily mean). shop-02 sends nothing."""
    spec = make_park()
    total = _point(db, spec.id, "shop-01", "total")
    d20, d21 = D19 + timedelta(days=1), D19 + timedelta(days=2)
    rows = _day(total, D19, 40.0, hours=range(23)) + _day(total, D19, -5.0, hours=range(23, 24))
    rows += _day(total, d20, 100.0)
    rows += _day(total, d21, 40.0, hours=range(6)) + _day(total, d21, 999.0, "D", hours=range(6, 24))
    _insert(db, rows)
    jobs.run(services.database_url, make_context(), "refresh_limits", park=spec.id)
    for back in (2, 1, 0):  # day by day, as the running scheduler does
        now = CLOSED_BY - timedelta(days=back)
        jobs.run(services.database_url, make_context(), "close_windows", now=now, park=spec.id)
    client.headers.update(admin)
    yield spec.id


def _stored_days(db: psycopg.Connection, park: str) -> pd.DataFrame:
    """The stored day windows of the park's series, as compliance wrote them."""
    rows = db.execute(
        "SELECT (w.start_at AT TIME ZONE 'Asia/Shanghai')::date AS date, p.plant_id, p.code, pa.code,"
        " w.mean, w.verdict, w.n_valid, w.n_expected FROM compliance_windows w"
        " JOIN points p ON p.id = w.point_id JOIN parameters pa ON pa.id = w.parameter_id"
        " WHERE p.park_id = %s AND w.span = 'day'",
        (park,),
    ).fetchall()
    cols = ["date", "plant", "point", "parameter", "mean", "verdict", "valid", "expected"]
    return pd.DataFrame(rows, columns=cols)


def _hours_exceeded(db: psycopg.Connection, park: str) -> int:
    row = db.execute(
        "SELECT count(*) FROM compliance_windows w JOIN points p ON p.id = w.point_id WHERE p.park_id = %s"
        " AND w.span = 'hour' AND w.verdict = 'exceeded'",
        (park,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_monthly_report_as_xlsx_is_the_stored_record(client, park, db) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/parks/{park}/reports/month/2026-11", params={"format": "xlsx"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert f'filename="{park}_2026-11.xlsx"' in r.headers["content-disposition"]
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == [
        "概要 Summary", "汇总 Series", "日均值 Daily means", "事件 Incidents", "数据标记 Marks", "指标 KPIs",
        "排放量 Mass", "回用 Reuse",
    ]  # fmt: skip
    daily = pd.read_excel(io.BytesIO(r.content), sheet_name="日均值 Daily means")
    stored = _stored_days(db, park)
    assert len(stored) > 0
    got = daily.rename(columns=lambda c: c.split(" ", 1)[1])  # "日期 Date" -> "Date"
    got = got.dropna(subset=["Mean of valid values"])
    merged = got.merge(
        stored.dropna(subset=["mean"]).assign(date=lambda d: pd.to_datetime(d["date"])),
        left_on=["Date", "Plant", "Point", "Parameter"],
        right_on=["date", "plant", "point", "parameter"],
        validate="one_to_one",
    )
    assert len(merged) == len(got) == stored["mean"].notna().sum()  # every stored mean, none other
    assert (merged["Mean of valid values"] - merged["mean"]).abs().max() < 1e-9
    assert (merged["Verdict"] == merged["verdict"]).all()
    cod = got[(got["Point"] == "total") & (got["Parameter"] == "cod")].set_index("Date")
    assert (
        cod.loc["2026-11-19", "Mean of valid values"] == 40.0
    )  # the negative values are set aside, not counted
    assert cod.loc["2026-11-19", "Valid"] == 23 * 60
    assert cod.loc["2026-11-20", "Verdict"] == "exceeded" and cod.loc["2026-11-20", "Hours exceeded"] == 24
    # 6 valid hours are too few for a valid daily mean; the values flagged D never count
    assert (cod.loc["2026-11-21", "Verdict"], cod.loc["2026-11-21", "Valid"]) == ("insufficient", 360)
    assert cod.loc["2026-11-21", "Mean of valid values"] == 40.0
    series = pd.read_excel(io.BytesIO(r.content), sheet_name="汇总 Series")
    series = series.rename(columns=lambda c: c.split(" ", 1)[1])
    s = series[(series["Point"] == "total") & (series["Parameter"] == "cod")].iloc[0]
    stored_cod = stored[(stored["point"] == "total") & (stored["parameter"] == "cod")]
    assert s["Days exceeded"] == (stored_cod["verdict"] == "exceeded").sum() == 1
    assert s["Hours exceeded"] == _hours_exceeded(db, park) == 24
    assert s["Highest daily mean"] == 100.0
    summary = dict(pd.read_excel(io.BytesIO(r.content), sheet_name="概要 Summary").values.tolist())
    assert summary["时区 Time zone"] == "Asia/Shanghai" and summary["超标日数 Days exceeded"] == 1
    incidents = pd.read_excel(io.BytesIO(r.content), sheet_name="事件 Incidents")
    opened = incidents["开启 Opened"]
    assert len(incidents) >= 1 and opened.min() >= pd.Timestamp("2026-11-20")  # local wall-clock times


def test_json_csv_html_and_the_day_and_quarter(client, park, db) -> None:  # type: ignore[no-untyped-def]
    month = client.get(f"/api/v1/parks/{park}/plants/shop-01/reports/month/2026-11").json()
    s = month["summary"]
    assert (s["label"], s["timezone"], s["days"], s["exceeded_days"]) == ("2026-11", "Asia/Shanghai", 30, 1)
    assert s["plants_exceeded"] == ["shop-01"] and s["exceeded_hours"] == 24
    assert s["start"] == "2026-11-01T00:00:00+08:00" and s["days_closed"] >= 3
    kpis = client.get(f"/api/v1/parks/{park}/plants/shop-01/kpis", params={"month": "2026-11"}).json()
    whole = next(k for k in month["kpis"] if k["level"] == "all")
    assert whole["effective_rate"] == pytest.approx(kpis["kpi"]["effective_rate"])  # /kpis' figures
    mass = client.get(f"/api/v1/parks/{park}/plants/shop-01/mass", params={"month": "2026-11"}).json()
    cod_mass = next(d for d in mass["plants"][0]["discharged"] if d["parameter"] == "cod")
    got = next(m for m in month["mass"] if m["parameter"] == "cod")
    assert got["mass_kg"] == cod_mass["mass_kg"]
    csv = client.get(f"/api/v1/parks/{park}/reports/2026-11-20", params={"format": "csv"})
    assert csv.text.startswith("\ufeffdate,plant,point")
    day = pd.read_csv(io.StringIO(csv.text.lstrip("\ufeff")))
    cod = day[(day.point == "total") & (day.parameter == "cod")].iloc[0]
    assert (cod["mean"], cod["verdict"], cod["exceeded_hours"], cod["valid"]) == (100.0, "exceeded", 24, 1440)
    page = client.get(f"/api/v1/parks/{park}/plants/shop-01/reports/2026-11-20", params={"format": "html"})
    assert page.status_code == 200 and page.text.count("<svg") >= 4 and "style=" not in page.text
    # a day's page shows its daily rows once (the series table repeats them with less)
    assert "<h2>日均值</h2>" in page.text and "<h2>汇总</h2>" not in page.text
    monthly_page = client.get(f"/api/v1/parks/{park}/reports/month/2026-11", params={"format": "html"})
    assert '<td class="bad">100</td>' in monthly_page.text  # the exceeded day in the month's grid
    quarter = client.get(f"/api/v1/parks/{park}/reports/quarter/2026-Q4").json()
    assert quarter["summary"]["days"] == 92 and quarter["summary"]["exceeded_days"] == 1
    parts = {r["part"] for r in quarter["series"]}
    assert parts == {"2026-11"} | ({"2026-12"} if datetime.now(SH).date().month == 12 else set()) | {
        "2026-10"
    }


def test_the_html_report_in_the_readers_language_with_names(client, park) -> None:  # type: ignore[no-untyped-def]
    """``lang`` picks the page's language: headers, words and names in it only, codes small beside."""
    import re

    renamed = client.patch(f"/api/v1/parks/{park}/plants/shop-01", json={"name": "电镀一厂 (Plating One)"})
    assert renamed.status_code == 200, renamed.text
    path = f"/api/v1/parks/{park}/reports/month/2026-11"
    en = client.get(path, params={"format": "html", "lang": "en"}).text
    headers = " ".join(re.findall(r"<(?:th|h1|h2)>([^<]*)<", en))
    assert "Monthly compliance report" in headers and "Days exceeded" in headers
    assert not re.search(r"[\u3400-\u9fff]", headers)  # no Chinese header
    assert "Plating One <small class='code'>shop-01</small>" in en and "电镀一厂" not in en
    assert "Shop two <small class='code'>shop-02</small>" in en  # an English-only name, in both
    assert "total outlet <small class='code'>total</small>" in en  # a point without a name: its kind
    assert "COD(Cr) <small class='code'>cod</small>" in en  # the catalogue's name
    assert "<td>Daily mean over limit</td><td>Violation</td>" in en and ">daily_mean<" not in en
    zh = client.get(path, params={"format": "html", "lang": "zh"}).text
    assert "合规月报" in zh and "超标日数" in zh and "Days exceeded" not in zh and "Monthly" not in zh
    assert "电镀一厂 <small class='code'>shop-01</small>" in zh and "Plating One" not in zh
    assert "总排口 <small class='code'>total</small>" in zh and "化学需氧量" in zh
    assert client.get(path, params={"format": "html"}).text == zh  # Chinese by default
    day = client.get(
        f"/api/v1/parks/{park}/plants/shop-01/reports/2026-11-20", params={"format": "html", "lang": "en"}
    ).text
    assert "Plating One · Daily compliance report 2026-11-20" in day and "总排口" not in day
    # the park's day: its daily rows a section per plant, the plant's name the heading (report.css has the
    # browser lay out only the sections near the screen)
    park_day = client.get(
        f"/api/v1/parks/{park}/reports/2026-11-20", params={"format": "html", "lang": "en"}
    ).text
    daily = park_day.split("<h2>Daily means</h2>")[1].split("<h2>")[0]
    assert re.findall(r"<section class='part'><h3>(.*?)</h3>", daily) == [
        "Plating One <small class='code'>shop-01</small>", "Shop two <small class='code'>shop-02</small>"
    ]  # fmt: skip
    assert "<th>Plant</th>" not in daily and daily.count("<table>") == 2
    assert "total outlet · COD(Cr) · hourly means" in day  # the charts' titles
    for bad in ("fr", "EN", ""):
        r = client.get(path, params={"format": "html", "lang": bad})
        assert r.status_code == 422 and "lang" in r.text
    # the files that travel keep their bilingual headers
    csv = client.get(path, params={"format": "csv", "lang": "en"})
    assert csv.status_code == 200 and csv.text.startswith("\ufeffdate,plant,point")


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("reports/month/2026-13", 422, "month must look like"),
        ("reports/quarter/2026-Q5", 422, "quarter must look like"),
        ("reports/quarter/1999-Q1", 422, "between"),
        ("reports/1999-01-01", 422, "between"),
        ("plants/nowhere/reports/month/2026-11", 404, "not found"),
    ],
)
def test_bad_periods_and_places(client, park, path, status, needle) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/parks/{park}/{path}")
    assert r.status_code == status and needle in r.text


def test_an_operator_sees_only_its_plant(client, park, make_token) -> None:  # type: ignore[no-untyped-def]
    own = make_token("operator", park, "shop-02")
    body = client.get(f"/api/v1/parks/{park}/reports/month/2026-11", headers=own).json()
    assert {r["plant"] for r in body["daily"]} == {"shop-02"} and body["summary"]["exceeded_days"] == 0
    other = client.get(f"/api/v1/parks/{park}/plants/shop-01/reports/month/2026-11", headers=own)
    assert other.status_code in (403, 404)


def test_the_command_line_writes_the_same_report(  # type: ignore[no-untyped-def]
    client, park, services, tmp_path, monkeypatch, capsys
) -> None:
    """`outfall report` reads the same database through the same code as the API."""
    from outfall.cli import main

    monkeypatch.setenv("OUTFALL_DATABASE_URL", services.database_url)
    out = tmp_path / "november.xlsx"
    assert main(["report", "--park", park, "--month", "2026-11", "--format", "xlsx", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    api = client.get(f"/api/v1/parks/{park}/reports/month/2026-11", params={"format": "xlsx"}).content
    for sheet in ("汇总 Series", "日均值 Daily means", "指标 KPIs", "排放量 Mass"):
        pd.testing.assert_frame_equal(
            pd.read_excel(out, sheet_name=sheet), pd.read_excel(io.BytesIO(api), sheet_name=sheet)
        )
    assert main(["report", "--park", park, "--quarter", "2026-Q5", "-o", str(out)]) == 2
    assert "quarter must look like" in capsys.readouterr().err
    assert main(["report", "--park", "nowhere", "--day", "2026-11-20", "-o", str(out)]) == 2


def test_the_report_and_the_console_share_their_domain_words() -> None:
    """Alert kinds, states and severities, point kinds and marks' statuses have one wording, in
    api/dashboard/words.json (the console imports it; the browser test checks the console's side)."""
    import json

    from api import reporthtml
    from compliance.models import ALERT_KINDS, ALERT_STATES
    from tests.support import ROOT

    shared = json.loads((ROOT / "api" / "dashboard" / "words.json").read_text(encoding="utf-8"))
    codes = (
        [f"kind.{k}" for k in ALERT_KINDS]
        + [f"state.{s}" for s in ALERT_STATES]
        + [f"sev.{s}" for s in ("warning", "violation", "critical")]
        + [f"mstatus.{s}" for s in ("pending", "approved", "rejected", "withdrawn")]
    )
    for lang in reporthtml.LANGS:
        assert [c for c in codes if not shared[lang].get(c)] == []
        assert {c: reporthtml.WORDS[lang][c] for c in codes} == {c: shared[lang][c] for c in codes}
