"""/api/v1/marks: who may make, review and withdraw a mark, and evidence files (bounded, typed, served back
byte for byte as attachments). Judgement over marked periods is tested in tests/compliance/test_marks_db.py
and end to end in tests/e2e/test_marks.py."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from ingest.core.models import ParkSpec

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def _mark(park: str, plant: str = "shop-01", **over: Any) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    body = {
        "park": park,
        "plant": plant,
        "point": "total",
        "code": "fault",
        "from": start.isoformat(),
        "to": (start + timedelta(hours=1)).isoformat(),
        "note": "COD analyser pump failed",
    }
    return body | over


def test_the_plant_marks_the_officer_reviews_and_nobody_else(
    client: TestClient, make_park: Callable[..., ParkSpec], make_token: Callable[..., dict[str, str]]
) -> None:
    park = make_park().id
    operator, neighbour = make_token("operator", park, "shop-01"), make_token("operator", park, "shop-02")
    officer = make_token("officer", park)
    made = client.post("/api/v1/marks", json=_mark(park), headers=operator)
    assert made.status_code == 201, made.text
    mark = made.json()
    assert (mark["status"], mark["decided_by"], mark["code"], mark["invalidates"]) == (
        "approved",
        None,
        "fault",
        True,
    )
    assert mark["created_by"].startswith("operator:") and mark["note"] == "COD analyser pump failed"
    path = f"/api/v1/marks/{mark['id']}"
    # the neighbouring plant's operator neither marks shop-01 nor learns of its marks
    assert client.post("/api/v1/marks", json=_mark(park), headers=neighbour).status_code == 404
    assert client.get(path, headers=neighbour).status_code == 404
    assert client.post(path + "/withdraw", headers=neighbour).status_code == 404
    assert client.get("/api/v1/marks", params={"park": park}, headers=neighbour).json() == []
    # officers review; they do not mark, withdraw or add evidence; the operator does not review
    assert client.post("/api/v1/marks", json=_mark(park), headers=officer).status_code == 403
    assert client.post(path + "/withdraw", headers=officer).status_code == 403
    assert client.post(path + "/accept", headers=operator).status_code == 403
    assert [m["id"] for m in client.get("/api/v1/marks", params={"park": park}, headers=officer).json()] == [
        mark["id"]
    ]
    accepted = client.post(path + "/accept", json={"note": "O&M ledger checked"}, headers=officer)
    assert accepted.status_code == 200 and accepted.json()["decided_by"].startswith("officer:")
    again = client.post(path + "/reject", headers=officer)
    assert again.status_code == 409 and "decided already" in again.json()["detail"]
    detail = client.get(path, headers=operator).json()
    assert [(a["action"], a["to_status"]) for a in detail["audit"]] == [
        ("create", "approved"),
        ("accept", "approved"),
    ]
    audit = client.get("/api/v1/audit", headers=officer).json()
    assert {"mark.create", "mark.accept"} <= {e["action"] for e in audit if str(mark["id"]) in e["object"]}


def test_refusals_say_what_to_fix(
    client: TestClient, make_park: Callable[..., ParkSpec], make_token: Callable[..., dict[str, str]]
) -> None:
    park = make_park().id
    operator = make_token("operator", park, "shop-01")
    unknown = client.post("/api/v1/marks", json=_mark(park, code="holiday"), headers=operator)
    assert unknown.status_code == 422 and "unknown mark code 'holiday'" in unknown.json()["detail"]
    old = (datetime.now(UTC) - timedelta(days=11)).isoformat()
    late = client.post("/api/v1/marks", json=_mark(park, **{"from": old}), headers=operator)
    assert late.status_code == 422 and "correction window" in late.json()["detail"]
    codes = client.get("/api/v1/marks/codes", headers=operator).json()
    assert {"maintenance", "production_stopped"} <= {c["code"] for c in codes}
    # a maintenance mark keeps the maintenance bounds, and lists with the maintenance windows
    maint = client.post("/api/v1/marks", json=_mark(park, code="maintenance"), headers=operator)
    assert maint.status_code == 201, maint.text
    windows = client.get("/api/v1/maintenance", params={"park": park}, headers=operator).json()
    assert [w["id"] for w in windows] == [maint.json()["id"]]
    withdrawn = client.post(f"/api/v1/marks/{maint.json()['id']}/withdraw", headers=operator)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert client.post(f"/api/v1/marks/{maint.json()['id']}/withdraw", headers=operator).status_code == 409


def test_evidence_files_are_bounded_typed_and_served_back_unchanged(
    client: TestClient, make_park: Callable[..., ParkSpec], make_token: Callable[..., dict[str, str]]
) -> None:
    park = make_park().id
    operator, officer = make_token("operator", park, "shop-01"), make_token("officer", park)
    mark = client.post("/api/v1/marks", json=_mark(park), headers=operator).json()
    url = f"/api/v1/marks/{mark['id']}/evidence"

    def upload(body: bytes, ctype: str, name: str = "repair.pdf", who: dict[str, str] = operator) -> Any:
        return client.post(url, params={"name": name}, content=body, headers={**who, "Content-Type": ctype})

    added = upload(PDF, "application/pdf")
    assert added.status_code == 201, added.text
    assert added.json()["sha256"] == hashlib.sha256(PDF).hexdigest() and added.json()["size"] == len(PDF)
    assert upload(PDF, "application/pdf", who=officer).status_code == 403
    refused = upload(b"<html><script>alert(1)</script>", "text/html", "x.html")
    assert refused.status_code == 422 and "evidence must be one of" in refused.json()["detail"]
    assert upload(b"<html>", "application/pdf").status_code == 422  # not what its type says
    big = upload(b"%PDF-" + b"0" * 950_000, "application/pdf")
    assert big.status_code == 422 and "at most 900000 bytes" in big.json()["detail"]
    assert upload(b"%PDF-" + b"0" * 1_100_000, "application/pdf").status_code == 413  # the guard's limit
    (item,) = client.get(f"/api/v1/marks/{mark['id']}", headers=officer).json()["evidence_files"]
    got = client.get(f"{url}/{item['id']}", headers=officer)
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == "attachment; filename*=UTF-8''repair.pdf"
    assert got.headers["x-content-sha256"] == hashlib.sha256(PDF).hexdigest()
    other = make_token("operator", park, "shop-02")
    assert client.get(f"{url}/{item['id']}", headers=other).status_code == 404
