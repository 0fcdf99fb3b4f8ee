"""Abnormal data through the API, by role: who may explain and who decides, what an officer's list,
detail, review queue and live stream show of an alert that is still the plant operator's, and that a
breach is never explained away."""

from __future__ import annotations

import pytest

from tests.api.conftest import open_alert
from tests.api.test_events import read_events

ROLES = ("admin", "officer", "operator_in", "operator_out")
# an officer does not see an abnormal-data alert the plant has not explained yet: not found
EXPLAIN = {"admin": 200, "officer": 404, "operator_in": 200, "operator_out": 404}
DECIDE = {"admin": 200, "officer": 200, "operator_in": 403, "operator_out": 404}
WHY = {"note": "停产，分析仪空测", "kind": "explanation"}


@pytest.fixture
def park_and_callers(make_park, make_token):
    spec, other = make_park(), make_park()
    return spec, {
        "admin": make_token("admin"),
        "officer": make_token("officer", spec.id),
        "operator_in": make_token("operator", spec.id, "shop-01"),
        "operator_out": make_token("operator", other.id, "shop-01"),
    }


def zero_alert(services, park: str, parameter_id: int = 9) -> int:
    """A new zero-value alert (one per parameter: a second one of a key would merge into the first)."""
    db = services.database_url
    return open_alert(db, park, "shop-01", "total", parameter_id, value=0.0, kind="zero_value")


def test_the_plant_explains_and_an_officer_decides(client, services, park_and_callers):
    spec, headers = park_and_callers
    for parameter_id, role in enumerate(ROLES, start=20):
        alert = zero_alert(services, spec.id, parameter_id)
        r = client.post(f"/api/v1/alerts/{alert}/annotate", json=WHY, headers=headers[role])
        assert r.status_code == EXPLAIN[role], f"{role}: {r.text}"
        if r.status_code == 200:
            assert r.json()["explanation"] == "pending"
            again = client.post(f"/api/v1/alerts/{alert}/annotate", json=WHY, headers=headers[role])
            assert again.status_code == 409 and "already waiting" in again.json()["detail"]
    for parameter_id, role in enumerate(ROLES, start=26):
        alert = zero_alert(services, spec.id, parameter_id)
        client.post(f"/api/v1/alerts/{alert}/annotate", json=WHY, headers=headers["operator_in"])
        r = client.post(f"/api/v1/alerts/{alert}/explanation/reject", headers=headers[role])
        assert r.status_code == DECIDE[role], f"{role}: {r.text}"
        if r.status_code == 200:
            assert r.json()["explanation"] == "rejected" and r.json()["officer_visible_at"] is not None
            # before the officer now, who still does not explain the plant's data
            r = client.post(f"/api/v1/alerts/{alert}/annotate", json=WHY, headers=headers["officer"])
            assert r.status_code == 403


def test_a_breach_is_not_explained_away(client, services, park_and_callers):
    spec, headers = park_and_callers
    breach = open_alert(services.database_url, spec.id, "shop-01", "total")
    r = client.post(f"/api/v1/alerts/{breach}/annotate", json=WHY, headers=headers["operator_in"])
    assert r.status_code == 409 and "abnormal-data" in r.json()["detail"]
    none_pending = client.post(f"/api/v1/alerts/{breach}/explanation/accept", headers=headers["officer"])
    assert none_pending.status_code == 409


def test_an_officer_sees_abnormal_data_only_as_compliance_routed_it(
    client, services, park_and_callers, live_api
):
    spec, headers = park_and_callers
    officer, operator = headers["officer"], headers["operator_in"]
    _none, start = read_events(live_api, officer, 0)
    hidden = zero_alert(services, spec.id)
    breach = open_alert(services.database_url, spec.id, "shop-01", "total")

    def listed(h: dict[str, str], **params: str) -> set[int]:
        found = client.get("/api/v1/alerts", params={"park": spec.id, **params}, headers=h).json()
        return {a["id"] for a in found}

    assert listed(operator) == {hidden, breach}
    assert listed(officer) == {breach}
    # the officer's live stream skips the abnormal-data alert opened first
    got, last = read_events(live_api, officer, 1, start)
    assert [(d["alert"]["id"], d["action"]) for _e, d in got] == [(breach, "open")]
    assert client.get(f"/api/v1/alerts/{hidden}", headers=officer).status_code == 404
    counts = client.get(f"/api/v1/parks/{spec.id}/status", headers=officer).json()["plants"]
    assert sum(p["open_alerts"] for p in counts) == 1  # the breach only
    # explained: in the officer's review queue and open to the officer by id, still not in the inbox
    client.post(f"/api/v1/alerts/{hidden}/annotate", json=WHY, headers=operator)
    assert listed(officer, explanation="pending") == {hidden}
    assert client.get(f"/api/v1/alerts/{hidden}", headers=officer).status_code == 200
    assert listed(officer) == {breach}
    client.post(f"/api/v1/alerts/{hidden}/explanation/reject", headers=officer)
    assert listed(officer) == {hidden, breach}
    # once before the officer, its changes reach the officer's stream
    got, _ = read_events(live_api, officer, 3, last)
    assert [(d["alert"]["id"], d["action"]) for _e, d in got] == [
        (hidden, "explain"),
        (hidden, "explanation_reject"),
        (hidden, "refer"),
    ]
