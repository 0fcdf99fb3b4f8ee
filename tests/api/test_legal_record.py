"""The legal record against the real database: a day of readings with gaps and invalid flags, closed by
compliance's close_windows job, read back through the API as stored means, KPIs and discharged mass;
then a re-judged hour (what a data mark or late data does) changes the stored day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from compliance import days, jobs
from compliance.settings import RuleSettings
from tests.compliance.context import make_context

SH = ZoneInfo("Asia/Shanghai")
D0 = datetime(2026, 11, 20, tzinfo=SH)  # the day on record
CLOSED_BY = datetime(2026, 11, 21, 12, tzinfo=SH)  # when close_windows runs: the 19th and 20th close
COD, FLOW, CR = 9, 1, 14


def _point(db: psycopg.Connection, park: str, plant: str, code: str) -> int:
    row = db.execute(
        "SELECT id FROM points WHERE park_id = %s AND plant_id = %s AND code = %s", (park, plant, code)
    ).fetchone()
    assert row is not None
    return int(row[0])


def _minutes(point: int, parameter: int, hour: int, n: int, value: float, flag: str = "N") -> list[tuple]:  # type: ignore[type-arg]
    start = D0 + timedelta(hours=hour)
    return [(point, parameter, start + timedelta(minutes=i), value, flag) for i in range(n)]


def _insert(db: psycopg.Connection, rows: list[tuple]) -> None:  # type: ignore[type-arg]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (point_id, parameter_id, time, value, flag, source) VALUES (%s, %s, %s, %s,"
            " %s, 'test')",
            rows,
        )


@pytest.fixture
def park(db, make_park, services, client, admin) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """shop-01's total outlet: COD 40 mg/L for 20 full hours, half an hour at 20:00, an hour flagged D
    at 21:00, nothing after; flow 10 L/s until 22:00. Its workshop outlet: Cr 0.1 mg/L all day, no flow
    meter, the logger's hourly Cou totals. shop-02: silent."""
    spec = make_park()
    total, workshop = _point(db, spec.id, "shop-01", "total"), _point(db, spec.id, "shop-01", "workshop")
    rows = [r for h in range(20) for r in _minutes(total, COD, h, 60, 40.0)]
    rows += _minutes(total, COD, 20, 30, 40.0) + _minutes(total, COD, 21, 60, 999.0, "D")
    rows += [r for h in range(22) for r in _minutes(total, FLOW, h, 60, 10.0)]
    rows += [r for h in range(24) for r in _minutes(workshop, CR, h, 60, 0.1)]
    _insert(db, rows)
    # the workshop's logger sends hourly records (HJ 212 CN 2061) with its own Cou totals: 10 g of Cr an
    # hour, one hour flagged D
    cou = [
        (workshop, CR, D0 + timedelta(hours=h), 0.01 if h != 5 else 5.0, "D" if h == 5 else "N")
        for h in range(24)
    ]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO logger_statistics (point_id, parameter_id, period, time, cou, flag, source)"
            " VALUES (%s, %s, 'hour', %s, %s, %s, 'test')",
            cou,
        )
    jobs.run(services.database_url, make_context(), "refresh_limits", park=spec.id)
    jobs.run(services.database_url, make_context(), "close_windows", now=CLOSED_BY, park=spec.id)
    client.headers.update(admin)
    yield spec.id


def _by(items: list[dict], key: str = "parameter") -> dict:  # type: ignore[type-arg]
    return {i[key]: i for i in items}


def test_the_stored_day_and_its_hours(client, park) -> None:  # type: ignore[no-untyped-def]
    base = f"/api/v1/parks/{park}/plants/shop-01/points/total"
    window = {"from": D0.isoformat(), "to": (D0 + timedelta(days=1)).isoformat()}
    day = _by(client.get(base + "/record", params={**window, "span": "day"}).json()["items"])
    cod, flow, nh3 = day["cod"], day["flow"], day["nh3_n"]
    assert (cod["mean"], cod["valid"], cod["total"], cod["expected"]) == (40.0, 1230, 1290, 1440)
    assert (cod["parts"], cod["parts_valid"], cod["sufficient"]) == (24, 20, True)
    assert cod["flags"] == {"N": 1230, "D": 60} and "0.75 x 24 hours valid" in cod["rule"]
    assert (cod["verdict"], cod["limit_upper"]) == ("ok", 80.0)  # GB 21900-2008 Table 2
    assert cod["mass_kg"] == pytest.approx(20 * 40 * 36 / 1000)  # hours valid for both: 28.8 kg
    assert "20 hours valid for both" in cod["mass_method"]
    assert (flow["mean"], flow["volume_m3"], flow["parts_valid"]) == (10.0, pytest.approx(792.0), 22)
    assert (nh3["total"], nh3["expected"], nh3["sufficient"], nh3["verdict"]) == (
        0,
        1440,
        False,
        "insufficient",
    )
    hours = client.get(base + "/record", params={**window, "span": "hour", "parameter": "cod"}).json()[
        "items"
    ]
    assert len(hours) == 22 and [h["sufficient"] for h in hours[19:]] == [True, False, False]
    assert (hours[21]["mean"], hours[21]["flags"]) == (None, {"D": 60})
    # the readings API's daily bucket is the same stored day, in its own shape
    bucket = client.get(base + "/readings", params={**window, "parameter": "cod", "bucket": "1d"}).json()
    assert [(i["mean"], i["valid"], i["total"]) for i in bucket["items"]] == [(40.0, 1230, 1290)]


def test_kpis_of_point_plant_and_park(client, park, make_token) -> None:  # type: ignore[no-untyped-def]
    q = {"day": "2026-11-20"}
    point = client.get(f"/api/v1/parks/{park}/plants/shop-01/points/total/kpis", params=q).json()
    k = point["kpi"]  # cod, nh3_n, ph and flow, 1440 values expected each
    assert (k["received"], k["valid"], k["expected"]) == (1290 + 1320, 1230 + 1320, 4 * 1440)
    assert k["effective_rate"] == pytest.approx(2550 / 5760) and k["warning"] is True
    assert point["period"]["closed"] is True and point["period"]["days_closed"] == 1
    cod = _by(point["items"], "id")["cod"]["kpi"]
    assert cod["transmission_rate"] == pytest.approx(1290 / 1440)
    assert cod["validity_rate"] == pytest.approx(1230 / 1290)
    park_kpis = client.get(f"/api/v1/parks/{park}/kpis", params=q).json()
    plants = _by(park_kpis["items"], "id")
    assert plants["shop-02"]["kpi"]["effective_rate"] == 0.0 and plants["shop-02"]["kpi"]["warning"]
    assert any("plant shop-02" in w for w in park_kpis["warnings"])
    assert park_kpis["kpi"]["expected"] == (4 + 4 + 4) * 1440  # three points, four parameters each
    # a plant operator sees their own plant only
    own = client.get(f"/api/v1/parks/{park}/kpis", params=q, headers=make_token("operator", park, "shop-02"))
    assert [i["id"] for i in own.json()["items"]] == ["shop-02"]
    month = client.get(f"/api/v1/parks/{park}/plants/shop-01/points/total/kpis", params={"month": "2026-11"})
    assert month.json()["period"]["days_closed"] == 2  # the 19th (silent) and the 20th
    assert month.json()["kpi"]["expected"] == 2 * 4 * 1440


def test_discharged_mass_of_the_plant(client, park) -> None:  # type: ignore[no-untyped-def]
    body = client.get(f"/api/v1/parks/{park}/plants/shop-01/mass", params={"day": "2026-11-20"}).json()
    (plant,) = body["plants"]
    out = _by(plant["discharged"])
    assert out["cod"]["mass_kg"] == pytest.approx(28.8) and out["cod"]["points"] == ["total"]
    assert out["cr_total"]["mass_kg"] == pytest.approx(0.23) and out["cr_total"]["points"] == ["workshop"]
    assert out["ni"]["mass_kg"] is None  # measured at the workshop, nothing received
    points = _by(plant["points"], "point")
    assert points["total"]["volume_m3"] == pytest.approx(792.0)
    workshop = _by(points["workshop"]["parameters"])
    cr, ni = workshop["cr_total"], workshop["ni"]
    assert cr["method"].startswith("HJ 212 Cou") and cr["logger_cou_kg"] == pytest.approx(0.23)
    assert cr["mean"] == pytest.approx(0.1)  # 23 records flagged N: 0.23 kg; the D one does not count
    assert ni["method"] == "no flow measured and no HJ 212 Cou sent"
    month = client.get(f"/api/v1/parks/{park}/mass", params={"month": "2026-11"}).json()
    assert _by(_by(month["plants"], "plant")["shop-01"]["discharged"])["cod"]["mass_kg"] == pytest.approx(
        28.8
    )


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({}, 422, "exactly one of day"),
        ({"day": "2026-11-20", "month": "2026-11"}, 422, "exactly one of day"),
        ({"month": "2026-13"}, 422, "month must look like"),
        ({"day": "1999-01-01"}, 422, "between"),
    ],
)
def test_bad_periods_get_a_422(client, park, params, status, needle) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/parks/{park}/kpis", params=params)
    assert r.status_code == status and needle in r.text
    assert (
        client.get(
            f"/api/v1/parks/{park}/plants/shop-01/points/nowhere/kpis", params={"day": "2026-11-20"}
        ).status_code
        == 404
    )


def test_a_rejudged_hour_rewrites_its_day_and_month(client, park, db, services) -> None:  # type: ignore[no-untyped-def]
    total = _point(db, park, "shop-01", "total")
    _insert(db, _minutes(total, COD, 22, 60, 100.0))  # a data mark lifted, or data arriving late
    with psycopg.connect(services.database_url) as conn, conn.transaction():
        hours = days.rejudge_period(
            conn, total, D0 + timedelta(hours=22), D0 + timedelta(hours=23), RuleSettings()
        )
    assert hours == 1
    window = {"from": D0.isoformat(), "to": (D0 + timedelta(days=1)).isoformat(), "parameter": "cod"}
    base = f"/api/v1/parks/{park}/plants/shop-01/points/total/record"
    (day,) = client.get(base, params={**window, "span": "day"}).json()["items"]
    assert (day["parts_valid"], day["mean"]) == (21, pytest.approx((20 * 40 + 100) / 21))
    assert day["mass_kg"] == pytest.approx(28.8)  # no flow at 22:00: no mass from that hour
    (month,) = client.get(
        base, params={**window, "span": "month", "from": "2026-11-01T00:00:00+08:00"}
    ).json()["items"]
    assert month["valid"] == 1230 + 60
    queued = db.execute(
        "SELECT count(*) FROM compliance_park_days_due WHERE park_id = %s", (park,)
    ).fetchone()
    assert queued == (1,)  # its park rules and report are made again by the next close_windows
