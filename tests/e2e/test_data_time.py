"""Data time, end to end (issue 9 items 8, 10, 12): readings published over MQTT with timestamps in the
past — a replayed morning with a 40-minute dropout and a 2-hour stuck pH, and late flow data for a day
that has already closed — judged by the running processes and observed only through the HTTP API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.harness import System

# Minute data, so the replay is short to send: offline after 3 x 60 s (E2E_SETTINGS), flatline after
# 40 s over at least 5 readings.
REPLAY_PARK = """
id: {id}
name: Replay park
timezone: Asia/Shanghai
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: total
        kind: total_outlet
        interval_s: 60
        parameters: {{cod: mg/L, ph: pH}}
"""
CENTRAL_PARK = """
id: {id}
name: Reuse park
timezone: Asia/Shanghai
industry: dyeing
standard: GB4287-2012-T2
config: {{reuse_target: 0.4}}
plants:
  - id: central
    name: Central plant
    kind: central_plant
    points:
      - {{id: outlet, kind: central_outlet, discharge_mode: direct, interval_s: 3600, parameters: [flow]}}
      - {{id: reuse, kind: reuse_outlet, interval_s: 3600, parameters: [flow]}}
"""


def _t(a: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(str(a[key]).replace("Z", "+00:00"))


def test_replayed_day_with_a_dropout_and_a_stuck_ph(system: System) -> None:
    park = system.load_park(REPLAY_PARK)
    t0 = (datetime.now(UTC) - timedelta(days=1)).replace(second=0, microsecond=0)

    def at(m: int) -> datetime:
        return t0 + timedelta(minutes=m)

    def reading(m: int) -> dict[str, float]:
        ph = 7.05 if 110 <= m <= 230 else 7.0 + (m % 5) / 10  # stuck from 110 to 230: two hours
        return {"cod": 30.0 + m % 7, "ph": ph}

    for m in range(240):
        if not 60 <= m < 100:  # no data from minute 60 to 99: last reading at 59, first after at 100
            system.publish(park, "shop-01", "total", at(m), reading(m))

    def episodes() -> dict[str, dict[str, Any]] | None:
        found = {
            a["kind"]: a
            for a in system.alerts(park)
            if a["kind"] in ("offline", "flatline") and _t(a, "first_time") < at(240)
        }
        ended = all(a["state"] in ("cleared", "resolved") for a in found.values())
        return found if len(found) == 2 and ended else None

    found = system.wait_for(episodes, timeout=60, message="the dropout and the stuck pH, in data time")
    off, flat = found["offline"], found["flatline"]
    assert (_t(off, "first_time"), _t(off, "last_time"), off["parameter"]) == (at(59), at(100), "")
    assert (off["state"], off["severity"]) == ("cleared", "violation")  # stays with the officer
    assert (_t(flat, "first_time"), _t(flat, "last_time"), flat["parameter"]) == (at(110), at(230), "ph")
    assert flat["value"] == 7.05 and flat["count"] == 121 and flat["state"] == "resolved"
    assert _t(flat, "resolved_at") == at(231)  # the first reading that moved: a warning closes itself
    # The same history sent again (a restarted logger) is the same record: no twins.
    for m in (58, 59, 100, 101, 229, 230, 231):
        system.publish(park, "shop-01", "total", at(m), reading(m))
    resent = datetime.now(UTC)
    system.wait_for(lambda: _job_ran_since(system, "data_quality", resent), timeout=30, message="a scan")
    again = [
        a
        for a in system.alerts(park)
        if a["kind"] in ("offline", "flatline") and _t(a, "first_time") < at(240)
    ]
    assert sorted(a["id"] for a in again) == sorted(a["id"] for a in found.values())


def _job_ran_since(system: System, job: str, since: datetime) -> bool:
    """The job started after ``since`` and its last run succeeded, from GET /metrics."""
    text = httpx.get(system.api_url + "/metrics", timeout=10).text
    start = re.search(rf'outfall_job_last_start_timestamp_seconds{{job="{job}"}} (\S+)', text)
    ok = re.search(rf'outfall_job_last_success{{job="{job}"}} (\S+)', text)
    return bool(start and ok and float(start[1]) > since.timestamp() and float(ok[1]) == 1)


def test_late_flow_data_for_a_closed_day_raises_the_reuse_alert(system: System) -> None:
    park = system.load_park(CENTRAL_PARK)
    loaded = datetime.now(UTC)
    # close_windows (every minute) closes yesterday, with no flow data: no ratio, no alert
    system.wait_for(lambda: _job_ran_since(system, "close_windows", loaded), timeout=120, message="a close")
    assert [a for a in system.alerts(park) if a["kind"] == "reuse_ratio"] == []
    tz = ZoneInfo("Asia/Shanghai")
    day = (datetime.now(tz) - timedelta(days=1)).date()
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    for h in range(24):  # the day's flows arrive late: 20 % reused, the target is 40 %
        system.publish(park, "central", "outlet", start + timedelta(hours=h), {"flow": 80.0})
        system.publish(park, "central", "reuse", start + timedelta(hours=h), {"flow": 20.0})

    def reuse_alert() -> list[dict[str, Any]]:
        return [a for a in system.alerts(park) if a["kind"] == "reuse_ratio"]

    (alert,) = system.wait_for(reuse_alert, timeout=120, message="a reuse-ratio alert for the late day")
    assert (alert["point"], alert["severity"]) == ("reuse", "violation")
    assert alert["value"] == pytest.approx(0.2) and alert["limit"] == pytest.approx(0.4)
    report = system.api_get(f"/api/v1/parks/{park}/reports/{day.isoformat()}")
    (reuse,) = report["reuse"]  # compliance's stored figure for the closed day
    assert reuse["reuse_ratio"] == pytest.approx(0.2) and reuse["below_target"] is True
