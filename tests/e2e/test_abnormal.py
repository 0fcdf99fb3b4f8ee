"""Abnormal data through the running system: a logger publishes a stuck COD, an NH3-N of zero, a
negative flow and a jump in pH over MQTT; the alerts reach the plant operator's list and not the
officer's; the operator explains two of them with its own token, the officer rejects one (it comes
before the officer at once) and accepts the other (it never does); the two left unexplained come
before the officer once the referral delay (20 s in E2E_SETTINGS) has passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.harness import System

ABNORMAL = {"flatline": "cod", "zero_value": "nh3_n", "negative_value": "flow", "rate_of_change": "ph"}
REFER_AFTER = timedelta(seconds=20)  # OUTFALL_COMPLIANCE_ABNORMAL_REFER_AFTER_S in E2E_SETTINGS


def _token(system: System, *scope: str) -> str:
    out = system.outfall("token", "create", *scope)
    return out.split(": ", 1)[1].split()[0]


def _call(system: System, token: str, method: str, path: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.request(method, system.api_url + path, headers=headers, timeout=10, **kw)


def _abnormal(system: System, token: str, park: str, **params: Any) -> dict[str, dict[str, Any]]:
    """The caller's abnormal-data alerts of the park, by kind (one each here)."""
    answer = _call(system, token, "GET", "/api/v1/alerts", params={"park": park, **params})
    assert answer.is_success, answer.text
    return {a["kind"]: a for a in answer.json() if ABNORMAL.get(a["kind"]) == a["parameter"]}


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_abnormal_data_goes_to_the_operator_first(system: System) -> None:
    park = system.load_park()
    operator = _token(system, "--role", "operator", "--park", park, "--plant", "shop-01")
    officer = _token(system, "--role", "officer", "--park", park)
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=41)
    for i in range(21):  # 40 s of data, one message every 2 s (the point's interval)
        values = {"cod": 42.0, "nh3_n": 0.0, "flow": 1.0 + i % 2 / 10, "ph": 7.0 + i % 2 / 10}
        if i == 0:
            values["flow"] = -1.0
        if i == 20:
            values["ph"] = 13.2  # a step of 6.2 against a range 6-9 (3 wide): a jump of over 2x
        system.publish(park, "shop-01", "total", t + timedelta(seconds=2 * i), values)

    seen = system.wait_for(
        lambda: (found := _abnormal(system, operator, park)).keys() == ABNORMAL.keys() and found,
        timeout=20,
        message="the four abnormal-data alerts in the operator's list",
    )
    assert all(a["officer_visible_at"] is None for a in seen.values())
    assert _abnormal(system, officer, park) == {}  # the officer's list: none of them yet

    neg, flat = seen["negative_value"], seen["flatline"]
    for a, note in ((neg, "流量计检修，零点漂移"), (flat, "COD分析仪待机，保持上次值")):
        path = f"/api/v1/alerts/{a['id']}/annotate"
        answer = _call(system, operator, "POST", path, json={"note": note, "kind": "explanation"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["explanation"] == "pending"
    explain_as_officer = {"note": "x", "kind": "explanation"}
    path = f"/api/v1/alerts/{neg['id']}/annotate"
    assert _call(system, officer, "POST", path, json=explain_as_officer).status_code == 403
    accept = f"/api/v1/alerts/{flat['id']}/explanation/accept"
    assert _call(system, operator, "POST", accept).status_code == 403  # only an officer decides
    # the officer's review queue holds both; the officer's inbox neither
    assert _abnormal(system, officer, park, explanation="pending").keys() == {"negative_value", "flatline"}
    assert _abnormal(system, officer, park) == {}

    reject = f"/api/v1/alerts/{neg['id']}/explanation/reject"
    answer = _call(system, officer, "POST", reject, json={"note": "流量与用电记录不符"})
    assert answer.status_code == 200 and answer.json()["explanation"] == "rejected", answer.text
    assert _call(system, officer, "POST", accept).json()["explanation"] == "accepted"
    assert _call(system, officer, "POST", accept).status_code == 409  # decided already
    inbox = _abnormal(system, officer, park)
    assert inbox.keys() == {"negative_value"}  # rejected: before the officer at once
    assert _t(inbox["negative_value"]["officer_visible_at"]) - _t(neg["created_at"]) < REFER_AFTER

    # the two left unexplained come before the officer once the delay has passed
    inbox = system.wait_for(
        lambda: (
            (found := _abnormal(system, officer, park)).keys()
            == {"negative_value", "zero_value", "rate_of_change"}
            and found
        ),
        timeout=40,
        message="the unexplained alerts referred to the officer",
    )
    for kind in ("zero_value", "rate_of_change"):
        a = inbox[kind]
        assert a["explanation"] is None
        assert _t(a["officer_visible_at"]) - _t(a["created_at"]) >= REFER_AFTER
    assert "flatline" not in _abnormal(system, officer, park)  # explained and accepted: never referred

    detail = _call(system, operator, "GET", f"/api/v1/alerts/{neg['id']}").json()
    trail = [(e["action"], e["actor"].split(":")[0]) for e in detail["audit"]]
    assert trail[0] == ("open", "compliance")
    assert [e for e in trail if e[0] != "clear" and e[0] != "resolve"][1:] == [
        ("explain", "operator"),
        ("explanation_reject", "officer"),
        ("refer", "compliance"),
    ]
