"""The legal record, end to end (issues 13 items 3-4, 15 item 1): a park-local hour of yesterday published
over MQTT, with a gap and values flagged D, and flow in m³/h; the running compliance leader closes the
hour and the day (or re-judges them when the data arrives after the close), and the API serves the stored
means, the KPIs and the discharged mass, checked against what was published."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.harness import System

PARK = """
id: {id}
name: Record park
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
        parameters: {{cod: mg/L, flow: m3/h}}
"""
SH = ZoneInfo("Asia/Shanghai")


def test_an_hour_published_over_mqtt_is_on_record_with_kpis_and_mass(system: System) -> None:
    import time

    t0 = time.monotonic()
    park = system.load_park(PARK)
    print("load", time.monotonic() - t0)
    day = (datetime.now(SH) - timedelta(days=1)).date()
    d0 = datetime(day.year, day.month, day.day, tzinfo=SH)
    h10 = d0 + timedelta(hours=10)
    for m in range(60):  # minutes 50-54 never sent; 55-59 flagged D (instrument fault)
        if 50 <= m < 55:
            continue
        flags = {"cod": "D"} if m >= 55 else None
        cod = 999.0 if m >= 55 else 40.0
        system.publish(
            park, "shop-01", "total", h10 + timedelta(minutes=m), {"cod": cod, "flow": 36.0}, flags
        )
    base = f"/api/v1/parks/{park}/plants/shop-01/points/total"
    window = {"from_": d0.isoformat(), "to": (d0 + timedelta(days=1)).isoformat()}

    def day_on_record() -> dict[str, Any] | None:
        items = system.api_get(base + "/record", span="day", **window)["items"]
        found = {i["parameter"]: i for i in items}
        cod, flow = found.get("cod"), found.get("flow")
        ready = cod and flow and cod["total"] == 55 and flow["total"] == 55 and cod["mass_kg"] is not None
        return found if ready else None

    days = system.wait_for(day_on_record, timeout=120, message="yesterday closed with the published hour")
    cod, flow = days["cod"], days["flow"]
    assert (cod["valid"], cod["total"], cod["expected"], cod["flags"]) == (50, 55, 1440, {"N": 50, "D": 5})
    assert (cod["mean"], cod["parts_valid"], cod["sufficient"]) == (40.0, 1, False)  # 1 valid hour of 24
    assert flow["mean"] == pytest.approx(10.0)  # 36 m³/h is 10 L/s
    assert flow["volume_m3"] == pytest.approx(36.0)
    assert cod["mass_kg"] == pytest.approx(40 * 36 / 1000)  # 1.44 kg from the one hour valid for both

    (hour,) = system.api_get(base + "/readings", parameter="cod", bucket="1h", **window)["items"]
    assert (hour["mean"], hour["valid"], hour["total"]) == (40.0, 50, 55)
    assert datetime.fromisoformat(hour["time"]) == h10  # the park-local hour 10:00

    kpis = system.api_get(base + "/kpis", day=day.isoformat())
    k = kpis["kpi"]
    assert (k["received"], k["valid"], k["expected"]) == (110, 105, 2880)
    assert k["effective_rate"] == pytest.approx(105 / 2880) and k["warning"] is True
    items = {i["id"]: i["kpi"] for i in kpis["items"]}
    assert items["cod"]["validity_rate"] == pytest.approx(50 / 55)

    mass = system.api_get(f"/api/v1/parks/{park}/plants/shop-01/mass", day=day.isoformat())
    (discharged,) = mass["plants"][0]["discharged"]
    assert (discharged["parameter"], discharged["points"]) == ("cod", ["total"])
    assert discharged["mass_kg"] == pytest.approx(1.44)
    month = system.api_get(f"/api/v1/parks/{park}/kpis", month=day.strftime("%Y-%m"))
    assert month["period"]["days_closed"] >= 1 and month["kpi"]["valid"] == 105
