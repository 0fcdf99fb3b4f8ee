"""The read API against the real database: raw readings, park-local hourly/daily means (the legal record
compliance stores when it closes the hours and days), errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from compliance import jobs
from tests.compliance.context import make_context


@pytest.fixture
def client(client, admin):
    client.headers.update(admin)
    return client


@pytest.fixture
def park_with_readings(db, make_park, services):
    spec = make_park()
    point_id = db.execute(
        "SELECT id FROM points WHERE park_id = %s AND plant_id = 'shop-01' AND code = 'total'", (spec.id,)
    ).fetchone()[0]
    # 15:30 and 16:30 UTC on 29 Nov are 23:30 on the 29th and 00:30 on the 30th in Shanghai.
    rows = [
        (datetime(2026, 11, 29, 15, 10, tzinfo=UTC), 40.0, "N"),
        (datetime(2026, 11, 29, 15, 30, tzinfo=UTC), 60.0, "N"),
        (datetime(2026, 11, 29, 15, 40, tzinfo=UTC), 999.0, "D"),  # invalid: not in the mean
        (datetime(2026, 11, 29, 16, 30, tzinfo=UTC), 20.0, "S"),
    ]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (point_id, parameter_id, time, value, flag, source)"
            " VALUES (%s, 9, %s, %s, %s, 'test')",
            [(point_id, t, v, f) for t, v, f in rows],
        )
    # compliance closes the hours and days (the legal record the means are read from)
    jobs.run(services.database_url, make_context(), "close_windows", now=CLOSED_BY, park=spec.id)
    return spec


CLOSED_BY = datetime(2026, 12, 1, 4, tzinfo=UTC)  # noon on 1 Dec in Shanghai: the 29th and 30th closed


def url(spec, point="total", plant="shop-01"):
    return f"/api/v1/parks/{spec.id}/plants/{plant}/points/{point}/readings"


WINDOW = {"from": "2026-11-29T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00"}


def test_raw_readings_in_utc_with_flags(client, park_with_readings):
    r = client.get(url(park_with_readings), params={**WINDOW, "parameter": "cod"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["units"] == {"cod": "mg/L"} and body["timezone"] == "Asia/Shanghai"
    assert [(i["time"], i["value"], i["flag"]) for i in body["items"]] == [
        ("2026-11-29T15:10:00Z", 40.0, "N"),
        ("2026-11-29T15:30:00Z", 60.0, "N"),
        ("2026-11-29T15:40:00Z", 999.0, "D"),
        ("2026-11-29T16:30:00Z", 20.0, "S"),
    ]


def test_daily_means_follow_the_park_local_calendar_and_skip_invalid_flags(client, park_with_readings):
    r = client.get(url(park_with_readings), params={**WINDOW, "parameter": "w01018", "bucket": "1d"})
    assert r.status_code == 200, r.text
    items = [(i["time"], i["mean"], i["valid"], i["total"]) for i in r.json()["items"]]
    # Shanghai days start at 16:00 UTC the day before.
    assert items == [("2026-11-28T16:00:00Z", 50.0, 2, 3), ("2026-11-29T16:00:00Z", 20.0, 1, 1)]


def test_hourly_means(client, park_with_readings):
    r = client.get(url(park_with_readings), params={**WINDOW, "parameter": "cod", "bucket": "1h"})
    items = [(i["time"], i["mean"]) for i in r.json()["items"]]
    assert items == [("2026-11-29T15:00:00Z", 50.0), ("2026-11-29T16:00:00Z", 20.0)]


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"parameter": "cr6"}, 422, "not measured here; this point measures"),
        ({"parameter": "nonsense"}, 422, "not measured here"),
        ({"from": "2026-11-29T00:00:00"}, 422, "from needs a UTC offset"),
        (
            {"from": "2026-11-30T00:00:00+08:00", "to": "2026-11-29T00:00:00+08:00"},
            422,
            "from must be before to",
        ),
        ({"bucket": "5m"}, 422, "bucket"),
        ({"from": "not-a-date"}, 422, "from"),
    ],
)
def test_bad_requests_get_a_4xx_that_says_what_to_fix(client, park_with_readings, params, status, needle):
    r = client.get(url(park_with_readings), params=params)
    assert r.status_code == status
    assert needle in r.text


def test_unknown_point_is_404(client, park_with_readings):
    r = client.get(url(park_with_readings, point="nowhere"))
    assert r.status_code == 404
    assert "not found" in r.json()["detail"]


def test_healthz_checks_database_and_broker(client):
    # The API alone, with no ingest or compliance process running: the database and broker are fine,
    # and the missing components make it degraded (the end-to-end tests see it green).
    r = client.get("/healthz")
    body = r.json()
    assert body["database"] == "ok" and body["broker"] == "ok"
    assert r.status_code == 503 and "compliance: no leader" in " ".join(body["problems"])


def test_healthz_reports_a_dead_broker(services):
    from ingest.core.localservices import free_port

    app = create_app(ApiSettings(), services.database_url, ("127.0.0.1", free_port()))
    with TestClient(app) as c:
        r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["broker"] == "unavailable"
