"""The daily report: valid means against limits, exceedance counts and minutes, valid-data and
transmission rates on the park-local day; CSV and printable HTML with charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from compliance import jobs
from tests.compliance.conftest import publish, settle


def test_daily_report_counts_exceedances_on_the_local_day(  # type: ignore[no-untyped-def]
    client, services, db, make_park, admin, ctx, rt_worker, consumer, publisher
):
    spec = make_park()
    jobs.run(services.database_url, ctx, "refresh_limits", park=spec.id)
    rt_worker()
    consumer()
    # 29 Nov in Shanghai is 28 Nov 16:00 UTC to 29 Nov 16:00 UTC; one reading a minute for 2 hours,
    # the first 10 over the 80 mg/L limit: compliance opens one alert counting those 10 values.
    start = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
    for i in range(120):
        publish(
            publisher,
            spec.id,
            "shop-01",
            "total",
            start + timedelta(minutes=i),
            {"cod": 100 if i < 10 else 40},
        )
    publish(
        publisher, spec.id, "shop-01", "total", start - timedelta(minutes=1), {"cod": 30}
    )  # the day before
    settle(db, spec.id, 121)
    r = client.get(f"/api/v1/parks/{spec.id}/plants/shop-01/reports/2026-11-29", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    cod = next(x for x in body["rows"] if x["point"] == "total" and x["parameter"] == "cod")
    assert cod["received"] == 120 and cod["exceedances"] == 10 and cod["exceedance_minutes"] == 10.0
    assert cod["limit_upper"] is not None and abs(cod["mean"] - 45.0) < 1e-9
    # 120 of 1440 expected values are too few for a daily mean, but compliance alerted on the breaches
    assert cod["expected"] == 1440 and cod["verdict"] == "exceeded"
    assert body["summary"]["exceedances"] == 10 and body["summary"]["exceeded"] == 1
    csv = client.get(
        f"/api/v1/parks/{spec.id}/plants/shop-01/reports/2026-11-29", params={"format": "csv"}, headers=admin
    )
    assert csv.headers["content-type"].startswith("text/csv") and "exceedance_minutes" in csv.text
    page = client.get(
        f"/api/v1/parks/{spec.id}/plants/shop-01/reports/2026-11-29", params={"format": "html"}, headers=admin
    )
    assert page.text.count("<svg") >= 4 and 'class="limit"' in page.text
    park = client.get(f"/api/v1/parks/{spec.id}/reports/2026-11-29", params={"format": "html"}, headers=admin)
    assert park.status_code == 200 and "<svg" in park.text
    bad = client.get(f"/api/v1/parks/{spec.id}/reports/1999-01-01", headers=admin)
    assert bad.status_code == 422
