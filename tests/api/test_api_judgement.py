"""The API shows what compliance decided, never a judgement of its own. Data goes in through the broker
and the ingest worker (with its compliance hook); the compliance service runs as its own process (its
scheduler and real-time consumer); everything is checked over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from compliance import jobs
from ingest.core.models import ParkSpec
from tests.compliance.conftest import publish, settle, wait_stored
from tests.compliance.context import make_context
from tests.support import ROOT, Services, wait_for

SH = ZoneInfo("Asia/Shanghai")
CENTRAL_PARK = """
id: {id}
name: Central plant park
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: central
    name: Central plant
    kind: central_plant
    points:
      - id: outlet
        kind: central_outlet
        interval_s: 3600
        parameters: [flow]
      - id: reuse
        kind: reuse_outlet
        interval_s: 3600
        parameters: [flow]
"""


@pytest.fixture
def compliance_process(services: Services, tmp_path: Path) -> Iterator[Callable[[], None]]:
    """Start `python -m compliance` (scheduler leader and real-time consumer) as deployed."""
    procs: list[subprocess.Popen[bytes]] = []

    def _start() -> None:
        env = {
            **os.environ,
            "OUTFALL_DATABASE_URL": services.database_url,
            "OUTFALL_COMPLIANCE_POLL_S": "0.2",
            "OUTFALL_COMPLIANCE_LATE_GRACE_S": "60",
        }
        log = (tmp_path / "compliance.log").open("wb")
        procs.append(
            subprocess.Popen([sys.executable, "-m", "compliance"], cwd=ROOT, env=env, stdout=log, stderr=log)
        )

    yield _start
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _count(db: psycopg.Connection, sql: str, park: str) -> int:
    row = db.execute(sql, (park,)).fetchone()
    return int(row[0]) if row else 0


def limits_effective(db: psycopg.Connection, park: str) -> None:
    sql = "SELECT count(*) FROM compliance_limits l JOIN points p ON p.id = l.point_id WHERE p.park_id = %s"
    wait_for(lambda: _count(db, sql, park) > 0, timeout=60, message="limits resolved by compliance")


def _alerts(client: TestClient, admin: dict[str, str], park: str, kind: str) -> list[dict[str, object]]:
    r = client.get("/api/v1/alerts", params={"park": park, "kind": kind}, headers=admin)
    assert r.status_code == 200, r.text
    found: list[dict[str, object]] = r.json()
    return found


def test_implausible_ph_is_shown_as_implausible_and_never_counted_as_a_breach(
    client, db, make_park, rt_worker, publisher, compliance_process, admin
) -> None:  # type: ignore[no-untyped-def]
    spec: ParkSpec = make_park()
    compliance_process()
    limits_effective(db, spec.id)
    rt_worker()
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=12)
    for i in range(10):
        ph, flags = (0.0, {"ph": "N"}) if i == 9 else (7.2, None)  # a dry probe reads 0.00, flagged N
        publish(publisher, spec.id, "shop-01", "total", t0 + timedelta(minutes=i), {"ph": ph}, flags)
    settle(db, spec.id, 10)
    wait_for(lambda: _alerts(client, admin, spec.id, "implausible"), timeout=30, message="implausible alert")

    r = client.get(f"/api/v1/parks/{spec.id}/plants/shop-01/status", headers=admin)
    assert r.status_code == 200, r.text
    total = next(p for p in r.json()["points"] if p["point"] == "total")
    ph = next(q for q in total["parameters"] if q["parameter"] == "ph")
    assert ph["value"] == 0.0 and ph["level"] == "implausible"
    assert _alerts(client, admin, spec.id, "exceedance") == []

    day = (t0 + timedelta(minutes=9)).astimezone(SH).date()
    report = client.get(f"/api/v1/parks/{spec.id}/plants/shop-01/reports/{day}", headers=admin).json()
    row = next(x for x in report["daily"] if x["point"] == "total" and x["parameter"] == "ph")
    assert row["breach_alerts"] == 0 and row["verdict"] != "exceeded"
    assert report["summary"]["exceeded_days"] == 0 and report["summary"]["breach_alerts"] == 0
    assert [i["kind"] for i in report["incidents"] if i["point"] == "total"] == ["implausible"]


def test_a_single_critical_nickel_spike_counts_as_an_exceeded_parameter(
    client, db, make_park, rt_worker, publisher, compliance_process, admin
) -> None:  # type: ignore[no-untyped-def]
    spec: ParkSpec = make_park()
    compliance_process()
    limits_effective(db, spec.id)
    rt_worker()
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=40)
    for i in range(31):  # 0.1 mg/L, with one reading of 6 mg/L (12x the 0.5 limit) at minute 15
        ni = 6.0 if i == 15 else 0.1
        publish(publisher, spec.id, "shop-01", "workshop", t0 + timedelta(minutes=i), {"ni": ni})
    settle(db, spec.id, 31)
    found = wait_for(
        lambda: _alerts(client, admin, spec.id, "exceedance"), timeout=30, message="exceedance alert"
    )
    assert [(a["parameter"], a["severity"]) for a in found] == [("ni", "critical")]  # type: ignore[union-attr]

    day = (t0 + timedelta(minutes=15)).astimezone(SH).date()
    report = client.get(f"/api/v1/parks/{spec.id}/plants/shop-01/reports/{day}", headers=admin).json()
    # the day is not closed yet (no stored daily mean), but the single breach already counts
    rows = [x for x in report["daily"] if x["point"] == "workshop" and x["parameter"] == "ni"]
    assert [(x["breach_alerts"], x["verdict"]) for x in rows] == [(1, "not_closed")]
    s = report["summary"]
    assert s["breach_alerts"] == 1 and s["plants_with_breaches"] == ["shop-01"]
    assert sum(x["breach_alerts"] for x in report["daily"]) == 1 and len(report["daily"]) > 1
    page = client.get(
        f"/api/v1/parks/{spec.id}/plants/shop-01/reports/{day}", params={"format": "html"}, headers=admin
    )
    assert "超标告警：1 " in page.text and page.text.count('<tr class="bad">') >= 1


def test_reuse_ratio_in_overview_and_report_is_compliances_figure(
    client, db, make_park, rt_worker, publisher, compliance_process, admin, services
) -> None:  # type: ignore[no-untyped-def]
    spec: ParkSpec = make_park(CENTRAL_PARK)
    rt_worker()
    now = datetime.now(UTC)
    yesterday = now.astimezone(SH).date() - timedelta(days=1)
    d0 = datetime(yesterday.year, yesterday.month, yesterday.day, tzinfo=SH)
    sent = 0
    for h in range(24):  # hourly flows: reuse 20 L/s, discharge 60 L/s; one reuse value impossible
        t = d0 + timedelta(hours=h, minutes=30)
        reuse = 500_000.0 if h == 5 else 20.0  # beyond the flow meter's physical range, flagged N
        publish(publisher, spec.id, "central", "reuse", t, {"flow": reuse})
        publish(publisher, spec.id, "central", "outlet", t, {"flow": 60.0})
        sent += 2
    today0 = datetime.combine(now.astimezone(SH).date(), datetime.min.time(), SH)
    for i, (reuse, out) in enumerate([(30.0, 70.0), (900_000.0, 70.0), (30.0, 70.0)]):
        t = max(today0, now - timedelta(minutes=30)) + timedelta(seconds=i)
        publish(publisher, spec.id, "central", "reuse", t, {"flow": reuse})
        publish(publisher, spec.id, "central", "outlet", t, {"flow": out})
        sent += 2
    wait_stored(db, spec.id, sent)
    compliance_process()  # closes yesterday (cron, second 30 of each minute) and stores its report
    stored_sql = (
        "SELECT count(*) FROM compliance_reports WHERE park_id = %s AND body ? 'reuse_ratio'"
        f" AND day = '{yesterday.isoformat()}'"
    )
    wait_for(lambda: _count(db, stored_sql, spec.id) == 1, timeout=150, message="compliance's daily report")
    stored = db.execute(
        "SELECT (body->>'reuse_ratio')::float FROM compliance_reports WHERE park_id = %s AND day = %s",
        (spec.id, yesterday),
    ).fetchone()[0]
    assert stored == pytest.approx(0.25)  # 20 / (20 + 60): the impossible value never counted

    report = client.get(f"/api/v1/parks/{spec.id}/reports/{yesterday}", headers=admin).json()
    (reuse,) = report["reuse"]  # compliance's stored figure for the closed day
    assert (reuse["date"], reuse["reuse_ratio"]) == (yesterday.isoformat(), stored)

    # Today's figures are those of today's closed hours (the legal record): close the current hour now,
    # ahead of the clock, so it is on record whatever the time of day.
    ahead = datetime.now(UTC) + timedelta(hours=1, minutes=5)
    jobs.run(services.database_url, make_context(), "close_windows", now=ahead, park=spec.id)
    overview = client.get(f"/api/v1/parks/{spec.id}/status", headers=admin).json()
    assert overview["central"]["reuse_ratio"] == pytest.approx(0.3)  # 30 / (30 + 70)
    assert overview["central"]["reuse"] == pytest.approx(30.0)
    # today's valid-data rate: valid values over those expected until the end of the last closed hour
    status = client.get(f"/api/v1/parks/{spec.id}/plants/central/status", headers=admin).json()
    hours = datetime.fromisoformat(status["as_of"]).astimezone(SH).hour + 1  # interval 3600 s
    rates = {p["point"]: p["parameters"][0]["valid_rate_today"] for p in status["points"]}
    assert rates == {"reuse": min(1.0, 2 / hours), "outlet": min(1.0, 3 / hours)}  # 900000 is implausible
