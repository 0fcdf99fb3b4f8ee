"""Smoke tests of the running system: the processes of the process table, driven over MQTT and observed
through the HTTP API only (no job or rule function is called, no table is read)."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.harness import System

NI_LIMIT = 0.5  # mg/L, GB 21900-2008 Table 2 at the workshop outlet


def _breach(system: System, park: str, kind: str = "exceedance") -> list[dict[str, Any]]:
    return [
        a
        for a in system.alerts(park, kind=kind)
        if (a["plant"], a["point"], a["parameter"]) == ("shop-01", "workshop", "ni")
    ]


def test_breach_over_mqtt_becomes_an_alert(system: System) -> None:
    park = system.load_park()
    now = datetime.now(UTC)
    system.publish(park, "shop-01", "workshop", now - timedelta(seconds=4), {"ni": 0.1, "cr_total": 0.2})
    system.publish(park, "shop-01", "workshop", now, {"ni": 4 * NI_LIMIT, "cr_total": 0.2})
    alerts = system.wait_for(lambda: _breach(system, park), timeout=10, message="a nickel alert")
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["severity"] == "violation"
    assert alert["value"] == 4 * NI_LIMIT
    assert alert["limit"] == NI_LIMIT
    assert alert["state"] == "open"


def test_breach_right_after_park_load_is_judged(system: System) -> None:
    """Issue 9 item 7: the park's limits are effective in the transaction that loads it, so a breach
    published at once is judged (refresh_limits runs only every 30 s here)."""
    park = system.load_park()
    system.publish(park, "shop-01", "workshop", datetime.now(UTC), {"ni": 3 * NI_LIMIT})
    alerts = system.wait_for(lambda: _breach(system, park), timeout=10, message="a nickel alert")
    assert alerts[0]["limit"] == NI_LIMIT


def test_point_that_stops_reporting_goes_offline(system: System) -> None:
    """The offline sweep runs in the started compliance process (jobs were once added paused)."""
    park = system.load_park()
    start = datetime.now(UTC)
    for i in range(3):
        system.publish(park, "shop-01", "total", start + timedelta(seconds=2 * i), {"cod": 40.0, "ph": 7.2})
    last = start + timedelta(seconds=4)

    def went_offline() -> list[dict[str, Any]]:
        # A point never heard from is offline from the first sweep after loading: only an alert opened
        # after the last reading shows that silence was noticed.
        return [
            a
            for a in system.alerts(park, kind="offline", state="open")
            if a["point"] == "total" and datetime.fromisoformat(a["opened_at"]) > last
        ]

    offline = system.wait_for(went_offline, timeout=30, message="an offline alert for shop-01/total")
    assert offline[0]["plant"] == "shop-01"


def test_standby_takes_over_when_the_leader_is_killed(system: System) -> None:
    park = system.load_park()
    system.publish(park, "shop-01", "workshop", datetime.now(UTC), {"ni": 2 * NI_LIMIT})
    system.wait_for(lambda: _breach(system, park), timeout=10, message="a first nickel alert")
    leader = system.wait_for(system.compliance_leader, timeout=10, message="a compliance leader")
    standby = "compliance-2" if leader == "compliance-1" else "compliance-1"
    system.stop_process(leader, signal.SIGKILL)
    try:
        other = system.load_park()
        system.publish(other, "shop-01", "workshop", datetime.now(UTC), {"ni": 2 * NI_LIMIT})
        alerts = system.wait_for(
            lambda: _breach(system, other), timeout=30, message="an alert judged by the standby"
        )
        assert alerts[0]["severity"] == "violation"
        assert system.compliance_leader() == standby
    finally:
        system.start_process(leader)  # back as the standby, for the tests that follow
