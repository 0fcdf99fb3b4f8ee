"""Role x endpoint matrix: every endpoint with an admin, an officer of the park, an operator of the plant
(in scope) and an operator of another park (out of scope: 404 for every object, never 403)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import open_alert

ROLES = ("admin", "officer", "operator_in", "operator_out")
OK, NO, HIDDEN = 200, 403, 404
READ = {"admin": OK, "officer": OK, "operator_in": OK, "operator_out": HIDDEN}
LIST = {"admin": OK, "officer": OK, "operator_in": OK, "operator_out": OK}  # empty for the outsider
ADMIN_ONLY = {"admin": OK, "officer": NO, "operator_in": NO, "operator_out": HIDDEN}
OFFICER = {"admin": OK, "officer": OK, "operator_in": NO, "operator_out": HIDDEN}
OPERATOR = {"admin": 201, "officer": NO, "operator_in": 201, "operator_out": HIDDEN}

P = "/api/v1/parks/{park}"
PLANT = P + "/plants/shop-01"
POINT = PLANT + "/points/total"
WINDOW = {"from": "2026-11-29T00:00:00+08:00", "to": "2026-11-30T00:00:00+08:00"}
_SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)  # windows are bounded around now
MAINT = {
    "plant": "shop-01",
    "point": "total",
    "from": _SOON.isoformat(),
    "to": (_SOON + timedelta(hours=1)).isoformat(),
    "reason": "electrode swap",
}
MARK = {
    "plant": "shop-01",
    "point": "total",
    "code": "calibration",
    "from": _SOON.isoformat(),
    "to": (_SOON + timedelta(hours=1)).isoformat(),
    "note": "quarterly calibration",
}

# (method, path, params or body, expected by role)
MATRIX = [
    ("GET", "/api/v1/me", None, LIST),
    ("GET", "/api/v1/parks", None, LIST),
    ("GET", P, None, READ),
    ("PATCH", P, {"name": "Renamed"}, ADMIN_ONLY),
    ("GET", P + "/plants", None, READ),
    ("GET", P + "/names", None, READ),
    ("GET", PLANT, None, READ),
    ("PATCH", PLANT, {"name": "Shop 1"}, ADMIN_ONLY),
    ("GET", PLANT + "/points", None, READ),
    ("GET", POINT, None, READ),
    ("PATCH", POINT, {"interval_s": 120}, ADMIN_ONLY),
    ("GET", POINT + "/readings", WINDOW, READ),
    ("GET", POINT + "/readings", {**WINDOW, "bucket": "1h", "format": "csv"}, READ),
    ("GET", PLANT + "/status", None, READ),
    ("GET", P + "/status", None, READ),
    ("GET", "/api/v1/alerts", {"park": "{park}"}, LIST),
    ("GET", "/api/v1/alerts/{alert}", None, READ),
    ("POST", "/api/v1/alerts/{alert}/ack", {"note": "on it"}, OFFICER),
    ("POST", "/api/v1/alerts/{alert}/resolve", {"note": "fixed"}, OFFICER),
    ("POST", "/api/v1/alerts/{alert}/annotate", {"note": "sampled"}, READ),
    ("GET", "/api/v1/maintenance", None, LIST),
    ("POST", "/api/v1/maintenance", MAINT, OPERATOR),
    ("GET", "/api/v1/marks", None, LIST),
    ("GET", "/api/v1/marks/codes", None, LIST),
    ("POST", "/api/v1/marks", MARK, OPERATOR),
    ("GET", "/api/v1/audit", None, LIST),
    ("GET", P + "/reports/2026-11-29", None, READ),
    ("GET", P + "/reports/2026-11-29", {"format": "html"}, READ),
    ("GET", PLANT + "/reports/2026-11-29", {"format": "csv"}, READ),
    ("GET", PLANT + "/reports/2026-11-29", {"format": "html"}, READ),
    ("GET", P + "/kpis", {"day": "2026-11-29"}, READ),
    ("GET", PLANT + "/kpis", {"month": "2026-11"}, READ),
    ("GET", POINT + "/kpis", {"day": "2026-11-29"}, READ),
    ("GET", P + "/mass", {"month": "2026-11"}, READ),
    ("GET", PLANT + "/mass", {"day": "2026-11-29"}, READ),
    ("GET", POINT + "/record", {**WINDOW, "span": "hour"}, READ),
]


@pytest.fixture
def callers(make_park, make_token):
    spec, other = make_park(), make_park()
    return spec, {
        "admin": make_token("admin"),
        "officer": make_token("officer", spec.id),
        "operator_in": make_token("operator", spec.id, "shop-01"),
        "operator_out": make_token("operator", other.id, "shop-01"),
    }


def _fill(value, park, alert):
    if isinstance(value, str):
        return value.format(park=park, alert=alert)
    if isinstance(value, dict):
        return {k: _fill(v, park, alert) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("method", "path", "data", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, *_ in MATRIX]
)
def test_role_matrix(client, services, callers, method, path, data, expected):
    spec, headers = callers
    for role in ROLES:
        alert = open_alert(services.database_url, spec.id, "shop-01", "total") if "{alert}" in path else 0
        url = _fill(path, spec.id, alert)
        payload = _fill(data, spec.id, alert)
        if method == "GET":
            r = client.get(url, params=payload, headers=headers[role])
        else:
            body = {**payload, "park": spec.id} if path.endswith(("maintenance", "marks")) else payload
            r = client.request(method, url, json=body, headers=headers[role])
        assert r.status_code == expected[role], f"{role}: {r.status_code} {r.text[:300]}"
        if r.status_code == HIDDEN:
            assert "not found" in r.json()["detail"]
        if role == "operator_out" and r.status_code == OK and method == "GET":
            assert spec.id not in r.text, "an outsider learned about the park"
        if "{alert}" in path and r.status_code == OK:
            # the alert was opened by another call: resolve it so the next one is a fresh one
            client.post(f"/api/v1/alerts/{alert}/resolve", headers=headers["admin"])


def test_no_token_or_a_bad_one_is_401(client, make_park):
    spec = make_park()
    for headers in ({}, {"Authorization": "Bearer ofl_nonsense"}, {"Authorization": "Basic eDp5"}):
        r = client.get(f"/api/v1/parks/{spec.id}", headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"


def test_a_plant_operator_never_learns_of_another_plant(client, services, make_park, make_token):
    spec = make_park()
    op = make_token("operator", spec.id, "shop-02")
    hidden = open_alert(services.database_url, spec.id, "shop-01", "total")
    mine = open_alert(services.database_url, spec.id, "shop-02", "total")
    assert [p["id"] for p in client.get(f"/api/v1/parks/{spec.id}/plants", headers=op).json()] == ["shop-02"]
    assert client.get(f"/api/v1/parks/{spec.id}", headers=op).json()["plants"] == 1
    names = client.get(f"/api/v1/parks/{spec.id}/names", headers=op).json()
    plants = [(p["name"], p["name_zh"], p["name_en"]) for p in names["plants"]]
    assert plants == [("Shop two", None, "Shop two")]
    assert {(p["plant"], p["id"]) for p in names["points"]} == {("shop-02", "total")}
    ni = next(p for p in names["parameters"] if p["code"] == "ni")
    assert (ni["name_zh"], ni["name_en"], ni["unit"]) == ("总镍", "total nickel", "mg/L")
    overview = client.get(f"/api/v1/parks/{spec.id}/status", headers=op).json()
    assert [p["plant"] for p in overview["plants"]] == ["shop-02"]
    alerts = client.get("/api/v1/alerts", headers=op).json()
    assert [a["id"] for a in alerts] == [mine]
    for url in (
        f"/api/v1/parks/{spec.id}/plants/shop-01",
        f"/api/v1/alerts/{hidden}",
        f"/api/v1/parks/{spec.id}/plants/shop-01/points/total/readings",
    ):
        assert client.get(url, headers=op).status_code == 404
    assert client.post(f"/api/v1/alerts/{hidden}/annotate", json={"note": "x"}, headers=op).status_code == 404
    assert "shop-01" not in client.get("/api/v1/maintenance", headers=op).text


def test_writes_are_audited_with_the_actor(client, services, make_park, make_token):
    spec = make_park()
    admin = make_token("admin")
    op = make_token("operator", spec.id, "shop-01")
    alert = open_alert(services.database_url, spec.id, "shop-01", "total")
    assert client.patch(
        f"/api/v1/parks/{spec.id}/plants/shop-01", json={"name": "一号"}, headers=admin
    ).is_success
    body = {**MAINT, "park": spec.id}
    assert client.post("/api/v1/maintenance", json=body, headers=op).status_code == 201
    assert client.post(f"/api/v1/alerts/{alert}/annotate", json={"note": "采样"}, headers=op).is_success
    log = client.get("/api/v1/audit", headers=admin).json()
    mine = [e for e in log if e["park"] == spec.id]
    assert {e["action"] for e in mine} >= {"plant.update", "maintenance.create"}
    assert any(e["actor"].startswith("operator:") for e in mine)
    trail = client.get(f"/api/v1/alerts/{alert}", headers=admin).json()["audit"]
    assert [(a["action"], a["actor"].split(":")[0]) for a in trail] == [
        ("open", "compliance"),
        ("annotate", "operator"),
    ]
    # the officer of the park sees the park's entries, an operator of another plant none of this plant's
    other = client.get("/api/v1/audit", headers=make_token("operator", spec.id, "shop-02")).json()
    assert {e["plant"] for e in other} == {"shop-02"}  # its own token's creation only
