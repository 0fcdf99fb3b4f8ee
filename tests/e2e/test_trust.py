"""Alerts an officer can trust, driven through the running processes: what the database refused as a
duplicate is never judged, a second value for a stored key is kept and flagged, pH above and below its
range are two conditions, a violation that cleared by itself stays with the officer, one bad input
never stops judging, and /healthz turns red when a component stops."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.harness import System

NI_LIMIT = 0.5  # mg/L, GB 21900-2008 Table 2 at the workshop outlet


def _alerts(system: System, park: str, parameter: str, kind: str = "exceedance") -> list[dict[str, Any]]:
    return [a for a in system.alerts(park, kind=kind) if a["parameter"] == parameter]


def _post(system: System, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        system.api_url + path, json=body, headers={"Authorization": f"Bearer {system.token}"}, timeout=10
    )


def _judged_up_to_now(system: System, park: str) -> None:
    """A sentinel breach on another parameter, published last: once its alert exists, every message
    published before it has been stored and judged (one broker session, in order)."""
    system.publish(park, "shop-01", "workshop", datetime.now(UTC), {"cr_total": 5.0})
    system.wait_for(lambda: _alerts(system, park, "cr_total"), timeout=15, message="the sentinel alert")


def test_a_resent_breach_is_not_judged_again(system: System) -> None:
    park = system.load_park()
    t = datetime.now(UTC) - timedelta(seconds=30)
    system.publish(park, "shop-01", "workshop", t, {"ni": 4 * NI_LIMIT})
    (first,) = system.wait_for(lambda: _alerts(system, park, "ni"), timeout=15, message="a nickel alert")
    # a logger re-sends its history (a restart, a replay): same keys, same values, beside new readings
    for _ in range(3):
        system.publish(park, "shop-01", "workshop", t, {"ni": 4 * NI_LIMIT})
    system.publish(park, "shop-01", "workshop", t + timedelta(seconds=2), {"ni": 0.1})
    _judged_up_to_now(system, park)
    (again,) = _alerts(system, park, "ni")
    assert again["id"] == first["id"]
    assert again["count"] == 1 and again["peak"] == 4 * NI_LIMIT


def test_a_second_value_for_a_stored_key_is_kept_and_flagged(system: System) -> None:
    park = system.load_park()
    t = datetime.now(UTC) - timedelta(seconds=20)
    system.publish(park, "shop-01", "workshop", t, {"ni": 0.1})
    system.publish(park, "shop-01", "workshop", t, {"ni": 9.0})  # the same key, another value
    (alert,) = system.wait_for(
        lambda: _alerts(system, park, "ni", kind="integrity"), timeout=15, message="an integrity alert"
    )
    assert alert["state"] == "open" and alert["severity"] == "violation"
    assert alert["detail"]["stored"] == 0.1 and alert["detail"]["received"] == 9.0
    # the stored reading stands, and the second value was not judged as a breach
    assert _alerts(system, park, "ni") == []
    readings = system.api_get(
        f"/api/v1/parks/{park}/plants/shop-01/points/workshop/readings",
        parameter="ni",
        from_=(t - timedelta(seconds=1)).isoformat(),
        to=(t + timedelta(seconds=1)).isoformat(),
    )
    assert [r["value"] for r in readings["items"]] == [0.1]


def test_ph_above_then_below_its_range_are_two_alerts(system: System) -> None:
    park = system.load_park()
    t = datetime.now(UTC) - timedelta(seconds=10)
    system.publish(park, "shop-01", "total", t, {"ph": 9.5, "cod": 20.0})
    system.publish(park, "shop-01", "total", t + timedelta(minutes=1), {"ph": 5.5, "cod": 20.0})

    def both() -> list[dict[str, Any]] | None:
        found = _alerts(system, park, "ph")
        return found if len(found) == 2 else None

    found = system.wait_for(both, timeout=15, message="two pH alerts")
    by_peak = {a["peak"]: a for a in found}
    assert set(by_peak) == {9.5, 5.5}
    assert by_peak[9.5]["state"] == "cleared" and by_peak[5.5]["state"] == "open"


def test_a_violation_that_cleared_stays_until_an_officer_closes_it(system: System) -> None:
    park = system.load_park()
    start = datetime.now(UTC) - timedelta(seconds=40)
    system.publish(park, "shop-01", "workshop", start, {"ni": 12 * NI_LIMIT})  # a critical spike
    for i in range(1, 8):  # back to normal for longer than the hold time (5 s here)
        system.publish(park, "shop-01", "workshop", start + timedelta(seconds=2 * i), {"ni": 0.05})

    def cleared() -> list[dict[str, Any]]:
        return [a for a in _alerts(system, park, "ni") if a["state"] == "cleared"]

    (alert,) = system.wait_for(cleared, timeout=30, message="the spike's alert cleared by the data")
    assert alert["severity"] == "critical" and alert["peak"] == 12 * NI_LIMIT
    # (an offline alert of the point, cleared when its data came, may be listed beside it)
    assert [a["id"] for a in system.alerts(park, state="cleared", kind="exceedance")] == [alert["id"]]
    closed = _post(system, f"/api/v1/alerts/{alert['id']}/resolve", {"note": "called the plant"})
    assert closed.status_code == 200 and closed.json()["state"] == "resolved"
    trail = system.api_get(f"/api/v1/alerts/{alert['id']}")["audit"]
    # (on a busy machine an escalation or a repeat may come between: only the state changes count here)
    changes = [(e["action"], e["to_state"]) for e in trail if e["action"] in ("open", "clear", "resolve")]
    assert changes == [
        ("open", "open"),
        ("clear", "cleared"),
        ("resolve", "resolved"),
    ]


def test_a_window_ending_in_year_9999_does_not_stop_judging(system: System) -> None:
    park = system.load_park()
    now = datetime.now(UTC)
    window = {
        "park": park,
        "plant": "shop-01",
        "point": "total",
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": "9999-12-31T00:00:00+00:00",
        "reason": "an open-ended window",
    }
    answer = _post(system, "/api/v1/maintenance", window)
    assert answer.status_code in (201, 422), answer.text  # refusing it at the edge is fine too
    system.publish(park, "shop-01", "total", now, {"cod": 400.0, "ph": 7.0})
    system.publish(park, "shop-01", "workshop", now, {"ni": 18 * NI_LIMIT})
    (alert,) = system.wait_for(lambda: _alerts(system, park, "ni"), timeout=15, message="the nickel alert")
    assert alert["severity"] == "critical"
    if answer.status_code == 201:
        assert _alerts(system, park, "cod") == []  # silenced by the window
    assert system.healthy()


def test_healthz_turns_red_when_a_component_stops(system: System) -> None:
    assert system.healthy()
    system.stop_process("ingest-2", signal.SIGKILL)
    began = time.monotonic()
    try:

        def red() -> dict[str, Any] | None:
            answer = httpx.get(system.api_url + "/healthz", timeout=5)
            return answer.json() if answer.status_code == 503 else None

        body = system.wait_for(red, timeout=60, message="/healthz 503")
        assert time.monotonic() - began < 60
        assert any("outfall-ingest-2" in p for p in body["problems"]), body["problems"]
    finally:
        system.start_process("ingest-2")
    system.wait_for(system.healthy, timeout=30, message="/healthz 200 again")


def test_metrics_report_every_component(system: System) -> None:
    text = httpx.get(system.api_url + "/metrics", timeout=10).text
    lines = text.splitlines()
    leaders = [line for line in lines if line.startswith("outfall_compliance_leader{")]
    assert sorted(line.rsplit(" ", 1)[1] for line in leaders) == ["0", "1"]  # a leader and a standby
    assert any(
        line.startswith("outfall_compliance_consumer_alive{") and line.endswith(" 1") for line in lines
    )
    beats = {
        line.split('name="')[1].split('"')[0]
        for line in lines
        if line.startswith("outfall_component_heartbeat")
    }
    assert {"outfall-ingest-1", "outfall-ingest-2", "compliance-1", "compliance-2"} <= beats
    assert any(
        line.startswith('outfall_job_last_success_timestamp_seconds{job="offline_sweep"}') for line in lines
    )
    assert "outfall_rules_backlog " in text and "outfall_rules_lag_seconds " in text
