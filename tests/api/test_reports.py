"""The daily report: valid means against limits, exceedance counts and minutes, valid-data and
transmission rates on the park-local day; CSV and printable HTML with charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from compliance import jobs


def test_daily_report_counts_exceedances_on_the_local_day(client, services, db, make_park, admin, ctx):
    spec = make_park()
    jobs.run(services.database_url, ctx, "refresh_limits", park=spec.id)
    point_id = db.execute(
        "SELECT id FROM points WHERE park_id = %s AND plant_id = 'shop-01' AND code = 'total'", (spec.id,)
    ).fetchone()[0]
    # 29 Nov in Shanghai is 28 Nov 16:00 UTC to 29 Nov 16:00 UTC; one reading a minute for 2 hours.
    start = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
    rows = [(point_id, 9, start + timedelta(minutes=i), 100.0 if i < 10 else 40.0, "N") for i in range(120)]
    rows.append((point_id, 9, start - timedelta(minutes=1), 999.0, "N"))  # the day before: not counted
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (point_id, parameter_id, time, value, flag, source)"
            " VALUES (%s, %s, %s, %s, %s, 't')",
            rows,
        )
    r = client.get(f"/api/v1/parks/{spec.id}/plants/shop-01/reports/2026-11-29", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    cod = next(x for x in body["rows"] if x["point"] == "total" and x["parameter"] == "cod")
    assert cod["received"] == 120 and cod["exceedances"] == 10 and cod["exceedance_minutes"] == 10.0
    assert cod["limit_upper"] is not None and abs(cod["mean"] - 45.0) < 1e-9
    assert cod["expected"] == 1440 and cod["verdict"] == "insufficient"  # 120 of 1440 expected values
    assert body["summary"]["exceedances"] == 10
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
