"""The report's pure frame-building (api/reports.py): periods on the park's calendar, the daily table
from stored windows, what counts as a breach, and the quarter's sums."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from api import reportformats, reports
from compliance.repo.legal import DayWindow, ExceededHours, ParkWindow
from compliance.repo.periods import DayReport, Incident
from ingest.core.reads import ParkRow, PointRow

SH = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 3)
COD, NH3 = 9, 10


def test_periods_are_park_local_calendar_days_months_and_quarters() -> None:
    q = reports.period("quarter", "2026-Q4", "Asia/Shanghai", TODAY)
    assert (len(q.days), q.days[0], q.days[-1]) == (92, date(2026, 10, 1), date(2026, 12, 31))
    assert q.parts == ("2026-10", "2026-11", "2026-12")
    assert q.start == datetime(2026, 9, 30, 16, tzinfo=UTC) and q.end == datetime(
        2026, 12, 31, 16, tzinfo=UTC
    )
    feb = reports.period("month", "2028-02", "Europe/Berlin", date(2028, 3, 1))
    assert len(feb.days) == 29 and feb.start == datetime(2028, 1, 31, 23, tzinfo=UTC)
    day = reports.period("day", "2026-03-29", "Europe/Berlin", TODAY)  # 23 hours long (DST)
    assert day.end - day.start == timedelta(hours=23) and day.parts == ("2026-03-29",)
    for kind, text, needle in [
        ("month", "2026-1", "month must look like"),
        ("quarter", "2026-Q0", "quarter must look like"),
        ("day", "2026-02-30", "day must look like"),
        ("month", "2026-12", None),
        ("month", "2027-01", "between"),  # not begun
        ("quarter", "1999-Q4", "between"),
    ]:
        if needle is None:
            reports.period(kind, text, "Asia/Shanghai", TODAY)  # type: ignore[arg-type]
            continue
        with pytest.raises(ValueError, match=needle):
            reports.period(kind, text, "Asia/Shanghai", TODAY)  # type: ignore[arg-type]


def _point(pid: int, plant: str, params: list[int], active: bool = True) -> PointRow:
    return PointRow(
        pid, "p", plant, "total", "", "total_outlet", "direct", None, None, 60, active, "Asia/Shanghai",
        params, ["mg/L"] * len(params),
    )  # fmt: skip


def _day(d: date, pid: int, param: int, mean: float | None, verdict: str) -> DayWindow:
    start = datetime(d.year, d.month, d.day, tzinfo=SH).astimezone(UTC)
    return DayWindow(start, pid, param, mean, mean, 1440, 1440, 1440, mean is not None, verdict, 80.0)


def _window(pid: int, plant: str, param: int, mass: float | None) -> ParkWindow:
    return ParkWindow(
        plant, "total", "total_outlet", pid, param, 40.0, 1000, 1200, 1440, True, "not_judged", 30, 20, None,
        mass, "flow x concentration", None,
    )  # fmt: skip


def _incident(n: int, kind: str, severity: str, withdrawn: bool, opened: datetime) -> Incident:
    return Incident(
        n, "shop-01", "total", "cod", kind, severity, "resolved", opened, opened, opened, None, None, opened,
        "compliance", 120.0, 80.0, "mg/L", 3, "back under the limit", withdrawn,
    )  # fmt: skip


def _rows(kind: reports.Kind, label: str) -> reports.Rows:
    p = reports.period(kind, label, "Asia/Shanghai", TODAY)
    nov = date(2026, 11, 1)
    days = [_day(nov + timedelta(days=i), 1, COD, 100.0 if i == 4 else 40.0, "exceeded" if i == 4 else "ok")
            for i in range(29)]  # fmt: skip
    days.append(_day(date(2026, 11, 30), 1, COD, None, "insufficient"))
    opened = datetime(2026, 11, 5, 1, tzinfo=SH).astimezone(UTC)
    return reports.Rows(
        park=ParkRow("park", "Park", "Asia/Shanghai", "electroplating", {}, opened, 2),
        plant=None,
        period=p,
        today=TODAY,
        points=[_point(1, "shop-01", [COD, NH3]), _point(2, "shop-02", [COD], active=False)],
        days=days,
        hours=[ExceededHours(date(2026, 11, 5), 1, COD, 7)],
        windows=[
            (part, [_window(1, "shop-01", COD, 2.0 if part == "2026-11" else None)]) for part in p.parts
        ],
        incidents=[
            _incident(1, "exceedance", "violation", False, opened),
            _incident(2, "exceedance", "critical", True, opened),  # withdrawn by a data mark
            _incident(3, "exceedance", "warning", False, opened),  # approaching: no breach
            _incident(4, "offline", "violation", False, opened),
        ],
        marks=[],
        reuse=[DayReport(date(2026, 11, 5), {"reuse_ratio": 0.3, "reuse_target": 0.4})],
        days_closed=30,
        kpi_target=0.9,
    )


def test_the_month_from_stored_days() -> None:
    r = reports.build(_rows("month", "2026-11"))
    d = r.daily
    # every series of the scope every day (NH3 never reported: not closed; shop-02 inactive, nothing
    # on record: left out)
    assert len(d) == 60 and set(d["plant"]) == {"shop-01"}
    assert (d[d.parameter == "nh3_n"]["verdict"] == reports.NOT_CLOSED).all()
    cod = d[d.parameter == "cod"].set_index("date")
    assert cod.loc[date(2026, 11, 5), "exceeded_hours"] == 7 and cod.loc[date(2026, 11, 5), "ratio"] == 1.25
    s = r.series[r.series.parameter == "cod"].iloc[0]
    assert (s["exceeded_days"], s["exceeded_hours"], s["valid_days"], s["days_closed"]) == (1, 7, 29, 30)
    assert (s["mean"], s["max_daily_mean"], s["breach_alerts"]) == (40.0, 100.0, 1)  # one counted
    assert r.summary["incidents"] == 4 and r.summary["breach_alerts"] == 1
    assert r.summary["incidents_withdrawn"] == 1 and r.summary["reuse_days_below_target"] == 1
    assert r.incidents["opened_at"].iloc[0].hour == 1  # park-local
    assert list(r.kpis["level"]) == ["all", "plant"] and r.kpis["received"].iloc[0] == 1200


def test_the_quarter_sums_its_months_and_renders() -> None:
    r = reports.build(_rows("quarter", "2026-Q4"))
    assert len(r.daily) == 2 * (31 + 30 + 3)  # to today
    total = r.mass[r.mass.part == "2026-Q4"]
    assert total["mass_kg"].tolist() == [2.0]  # the months without a figure add nothing
    assert set(r.kpis["part"]) == {"2026-10", "2026-11", "2026-12", "2026-Q4"}
    q = r.kpis[(r.kpis.part == "2026-Q4") & (r.kpis.level == "all")].iloc[0]
    assert (q["received"], q["expected"]) == (3 * 1200, 3 * 1440)
    book = pd.read_excel(__import__("io").BytesIO(reportformats.to_xlsx(r)), sheet_name=None)
    assert len(book["日均值 Daily means"]) == len(r.daily)
    assert book["事件 Incidents"]["开启 Opened"].iloc[0] == pd.Timestamp("2026-11-05 01:00")
    page = reportformats.to_html(r)
    assert page.count("<h3>") == 3 and "style=" not in page
    body = reportformats.to_json(r)
    assert body["incidents"][0]["opened_at"] == "2026-11-05T01:00:00+08:00"


@pytest.mark.parametrize(("kind", "label"), [("day", "2026-11-20"), ("quarter", "2026-Q4")])
def test_a_scope_with_nothing_renders_in_every_format(kind: reports.Kind, label: str) -> None:
    p = reports.period(kind, label, "Asia/Shanghai", TODAY)
    park = ParkRow("park", "Park", "Asia/Shanghai", "electroplating", {}, datetime.now(UTC), 0)
    empty = reports.Rows(park, None, p, TODAY, [], [], [], [(x, []) for x in p.parts], [], [], [], 0, 0.9)
    r = reports.build(empty)
    assert r.summary["series"] == 0 and r.summary["effective_rate"] is None
    for fmt in reportformats.FORMATS:
        assert reportformats.render(r, fmt)
