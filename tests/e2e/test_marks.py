"""Data marks through the running system (tests/e2e/harness.py): breaches over MQTT, marks through the
API with an operator's token, reviews with an officer's, alerts read back from the API.

- A plant marks the period of a breach: its alert is withdrawn with an audit entry naming the mark; the
  officer rejects the mark: the alert is back, judged again.
- A mark whose correction window is over is locked: withdrawing it or adding evidence is refused (409).
- A plant's operator cannot mark, see or withdraw another plant's marks.
- A plant marked stopped whose flow shows it running gets a stopped_running alert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api import tokens
from tests.e2e.harness import System

COD_LIMIT = 80.0  # mg/L, GB 21900-2008 Table 2 at the total outlet
S = timedelta(seconds=1)
PARK = """
id: {id}
name: Marks park
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: total
        kind: total_outlet
        interval_s: 2
        parameters: {{cod: mg/L, flow: L/s}}
  - id: shop-02
    name: Shop two
    points:
      - id: total
        kind: total_outlet
        interval_s: 2
        parameters: {{cod: mg/L, flow: L/s}}
"""


@pytest.fixture(scope="module")
def park(system: System) -> str:
    """One park for the module: each test marks its own plant or period."""
    return system.load_park(PARK)


def _token(system: System, role: str, park: str, plant: str | None = None) -> dict[str, str]:
    _id, token = tokens.create(system.database_url, role, park, plant, None)  # as `outfall token create`
    return {"Authorization": f"Bearer {token}"}


def _call(system: System, who: dict[str, str], method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(
        method, system.api_url + path, headers={**who, **kw.pop("headers", {})}, timeout=15, **kw
    )


def _mark(
    park: str, plant: str, code: str, start: datetime, end: datetime, point: str | None = "total"
) -> Any:
    return {
        "park": park,
        "plant": plant,
        "point": point,
        "code": code,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "note": "marked in the e2e test",
    }


def _cod_alerts(system: System, park: str) -> list[dict[str, Any]]:
    return [a for a in system.alerts(park, kind="exceedance", plant="shop-01") if a["parameter"] == "cod"]


def test_a_marked_breach_is_withdrawn_and_comes_back_when_the_officer_rejects_the_mark(
    system: System, park: str
) -> None:
    operator = _token(system, "operator", park, "shop-01")
    officer = _token(system, "officer", park)
    t = datetime.now(UTC).replace(microsecond=0) - 60 * S
    system.publish(park, "shop-01", "total", t, {"cod": 5 * COD_LIMIT, "flow": 1.0})
    system.publish(park, "shop-01", "total", t + 2 * S, {"cod": 4 * COD_LIMIT, "flow": 1.0})

    # both breaches in the alert (the second may be judged in a later batch than the first)
    def both() -> list[dict[str, Any]]:
        return [a for a in _cod_alerts(system, park) if a["count"] == 2]

    (alert,) = system.wait_for(both, timeout=20, message="the COD alert with both breaches")
    assert alert["state"] == "open"
    made = _call(
        system,
        operator,
        "POST",
        "/api/v1/marks",
        json=_mark(park, "shop-01", "calibration", t - S, t + 10 * S),
    )
    assert made.status_code == 201, made.text
    mark = made.json()
    # compliance withdrew it in the mark's transaction, and says why
    (withdrawn,) = _cod_alerts(system, park)
    assert withdrawn["state"] == "resolved" and withdrawn["resolved_by"] == "compliance"
    trail = system.api_get(f"/api/v1/alerts/{alert['id']}")["audit"]
    (withdraw,) = [e for e in trail if e["action"] == "withdraw"]
    assert withdraw["actor"] == "compliance" and f"(mark {mark['id']})" in withdraw["note"]
    assert [a["alert_id"] for a in system.api_get(f"/api/v1/marks/{mark['id']}")["alerts"]] == [alert["id"]]
    # the officer finds no calibration in the O&M ledger and rejects the mark: judged again
    rejected = _call(
        system, officer, "POST", f"/api/v1/marks/{mark['id']}/reject", json={"note": "no record"}
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected" and rejected.json()["decided_by"].startswith("officer:")
    (back,) = _cod_alerts(system, park)
    assert (back["id"], back["state"], back["count"], back["peak"]) == (alert["id"], "open", 2, 5 * COD_LIMIT)
    trail = system.api_get(f"/api/v1/alerts/{alert['id']}")["audit"]
    assert [e["action"] for e in trail if e["action"] in ("withdraw", "reinstate")] == [
        "withdraw",
        "reinstate",
    ]
    audit = [
        (m["action"], m["actor"].split(":")[0])
        for m in system.api_get(f"/api/v1/marks/{mark['id']}")["audit"]
    ]
    assert audit == [("create", "operator"), ("reject", "officer")]


def test_a_mark_is_locked_after_its_correction_window(system: System, park: str) -> None:
    operator = _token(system, "operator", park, "shop-01")
    # a correction window of 6 s instead of 10 days, through the setting `outfall db upgrade` writes
    system.outfall("db", "upgrade", env={"OUTFALL_MARKS_CORRECTION_DAYS": str(6 / 86_400)})
    try:
        now = datetime.now(UTC)
        made = _call(
            system,
            operator,
            "POST",
            "/api/v1/marks",
            json=_mark(park, "shop-01", "fault", now - 3 * S, now - 2 * S),
        )
        assert made.status_code == 201, made.text
        mark = made.json()
        locked_at = datetime.fromisoformat(mark["locked_at"])
        system.wait_for(lambda: datetime.now(UTC) > locked_at + S, timeout=15, message="the lock")
        refused = _call(system, operator, "POST", f"/api/v1/marks/{mark['id']}/withdraw")
        assert refused.status_code == 409 and f"mark {mark['id']} is locked" in refused.json()["detail"]
        evidence = _call(
            system,
            operator,
            "POST",
            f"/api/v1/marks/{mark['id']}/evidence",
            params={"name": "late.txt"},
            content=b"too late",
            headers={"Content-Type": "text/plain"},
        )
        assert evidence.status_code == 409 and "correction window" in evidence.json()["detail"]
        assert system.api_get(f"/api/v1/marks/{mark['id']}")["status"] == "approved"  # it stands
    finally:
        system.outfall("db", "upgrade")


def test_a_plant_operator_cannot_mark_another_plant(system: System, park: str) -> None:
    mine = _token(system, "operator", park, "shop-01")
    neighbour = _token(system, "operator", park, "shop-02")
    now = datetime.now(UTC) + 7200 * S  # ahead, clear of the other tests' periods
    body = _mark(park, "shop-01", "maintenance", now, now + 3600 * S, point=None)
    refused = _call(system, neighbour, "POST", "/api/v1/marks", json=body)
    assert refused.status_code == 404 and "not found" in refused.json()["detail"]
    made = _call(system, mine, "POST", "/api/v1/marks", json=body).json()
    assert _call(system, neighbour, "GET", f"/api/v1/marks/{made['id']}").status_code == 404
    assert _call(system, neighbour, "POST", f"/api/v1/marks/{made['id']}/withdraw").status_code == 404
    assert _call(system, neighbour, "GET", "/api/v1/marks", params={"park": park}).json() == []


def test_a_plant_marked_stopped_whose_flow_runs_raises_an_abnormal_data_alert(
    system: System, park: str
) -> None:
    operator = _token(system, "operator", park, "shop-02")
    t = datetime.now(UTC).replace(microsecond=0) - 30 * S
    for i in range(4):
        system.publish(park, "shop-02", "total", t + 2 * i * S, {"cod": 20.0, "flow": 5.0})
    body = _mark(park, "shop-02", "production_stopped", t - 10 * S, t + 3600 * S, point=None)
    made = _call(system, operator, "POST", "/api/v1/marks", json=body)
    assert made.status_code == 201, made.text

    def running() -> list[dict[str, Any]]:
        return [a for a in system.alerts(park, kind="stopped_running") if a["plant"] == "shop-02"]

    (alert,) = system.wait_for(running, timeout=30, message="the stopped_running alert")
    assert (alert["parameter"], alert["severity"], alert["peak"]) == ("flow", "violation", 5.0)
    assert alert["detail"]["mark"] == made.json()["id"]
