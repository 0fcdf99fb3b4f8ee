"""One file per plant (GET /parks/{park}/plants/{plant}/file) against the real database: a park with a
permit override, an HJ 212-2025 logger with an SM4 key whose clock runs two minutes ahead, a quirk, a
closed day on the legal record, a data mark and alerts; read back with officer and operator tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from api import plantfile
from compliance import jobs
from ingest.core.reads import MessageStamp
from ingest.hj212 import codec, keys
from tests.api.conftest import open_alert
from tests.compliance.context import make_context
from tests.support import TEST_HJ212_PW

SH = ZoneInfo("Asia/Shanghai")
KEY = "0123456789ABCDEF0123456789ABCDEF"
AHEAD = timedelta(seconds=120)  # the workshop logger's clock
COD, NI = 9, 21
PARK = """
id: {id}
name: 测试园区 (Test park)
timezone: Asia/Shanghai
industry: electroplating
standard: GB21900-2008-T2
config:
  hj212: {{edition_points: {{shop-01/workshop: 2025}}}}
  permits:
    - {{plant: shop-01, point: total, parameter: cod, upper: 60, ref: P-0001,
       from: 2026-01-01, to: 2099-01-01}}
    - {{plant: shop-02, point: total, parameter: cod, upper: 55, ref: P-0002}}
plants:
  - id: shop-01
    name: 电镀一厂 (Plating One)
    points:
      - id: workshop
        kind: workshop_outlet
        mn: "{mn}"
        interval_s: 60
        parameters: {{ni: mg/L, ph: pH}}
      - id: total
        kind: total_outlet
        interval_s: 60
        parameters: {{cod: mg/L, ph: pH, flow: L/s}}
  - id: shop-02
    name: 电镀二厂
    points:
      - id: total
        kind: total_outlet
        interval_s: 60
        parameters: [cod, ph, flow]
"""


def _point(db: psycopg.Connection, park: str, plant: str, code: str) -> int:
    row = db.execute(
        "SELECT id FROM points WHERE park_id = %s AND plant_id = %s AND code = %s", (park, plant, code)
    ).fetchone()
    assert row is not None
    return int(row[0])


def _frame(mn: str, when: datetime) -> bytes:
    local = codec.format_time(when.astimezone(SH).replace(tzinfo=None))
    frame = codec.Frame(
        "32", "2011", mn, local + "000", TEST_HJ212_PW, 9,
        factors={"w20121": {"Rtd": 0.2, "Flag": "N"}}, other={"DataTime": local},
    )  # fmt: skip
    return codec.encode(frame)


def _logger_history(db: psycopg.Connection, workshop: int, mn: str) -> None:
    """Ten minutes of a logger two minutes ahead: its readings and raw 2025 frames, stamped (QN, data
    time) by its clock and stored at once; and a quirk counted."""
    now = datetime.now(UTC)
    received = [now - timedelta(minutes=i) for i in range(10)]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (point_id, parameter_id, time, value, flag, received_at, source)"
            " VALUES (%s, %s, %s, 0.2, 'N', %s, 'tcp-hj212')",
            [(workshop, NI, t + AHEAD, t) for t in received],
        )
        cur.executemany(
            "INSERT INTO raw_messages (time, digest, received_at, point_id, source, peer, payload)"
            " VALUES (%s, 1, %s, %s, 'tcp-hj212', '127.0.0.1:5000', %s)",
            [(t + AHEAD, t, workshop, _frame(mn, t + AHEAD)) for t in received],
        )
    db.execute(
        "INSERT INTO logger_quirks (mn, quirk, point_id, count) VALUES (%s, 'length_field_wrong', %s, 3)",
        (mn, workshop),
    )


def filed_park(db: psycopg.Connection, make_park: Any, services: Any) -> tuple[str, datetime]:
    """The test park with its 2025 logger's key and history, and a closed day three days ago on the
    record of the total outlet (20 hours of COD: below the KPI target). The park and that day.
    Needs OUTFALL_SECRET_KEY set."""
    from tests.support import unique_id

    mn = unique_id("mn").replace("-", "")[:24]
    spec = make_park(PARK.replace("{mn}", mn))
    with psycopg.connect(services.database_url) as conn:
        assert keys.set_key(conn, spec.id, "shop-01", "workshop", KEY, "test", 0) == 1
    workshop, total = _point(db, spec.id, "shop-01", "workshop"), _point(db, spec.id, "shop-01", "total")
    _logger_history(db, workshop, mn)
    day = (datetime.now(SH) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (point_id, parameter_id, time, value, flag, source)"
            " VALUES (%s, %s, %s, 40, 'N', 'test')",
            [(total, COD, day + timedelta(minutes=i)) for i in range(20 * 60)],
        )
    jobs.run(services.database_url, make_context(), "refresh_limits", park=spec.id)
    jobs.run(
        services.database_url,
        make_context(),
        "close_windows",
        now=day + timedelta(days=1, hours=12),
        park=spec.id,
    )
    return spec.id, day


@pytest.fixture
def park(db, make_park, services, monkeypatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OUTFALL_SECRET_KEY", "5e" * 32)
    yield filed_park(db, make_park, services)[0]


def _get(client, headers: dict[str, str], path: str, **params: Any) -> Any:  # type: ignore[no-untyped-def]
    answer = client.get(path, headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_file_of_a_plant(client, park, make_token, services) -> None:  # type: ignore[no-untyped-def]
    officer = make_token("officer", park)
    operator = make_token("operator", park, "shop-01")
    mark = client.post(
        "/api/v1/marks",
        headers=operator,
        json={
            "park": park, "plant": "shop-01", "point": "total", "code": "calibration",
            "from": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
            "to": (datetime.now(UTC) - timedelta(hours=1)).isoformat(), "note": "calibrated",
        },
    )  # fmt: skip
    assert mark.status_code == 201, mark.text
    mine = open_alert(services.database_url, park, "shop-01", "total", parameter_id=COD)
    open_alert(services.database_url, park, "shop-02", "total", parameter_id=COD)
    closed = open_alert(services.database_url, park, "shop-01", "workshop", parameter_id=NI, limit=0.5)
    done = client.post(f"/api/v1/alerts/{closed}/resolve", headers=officer, json={"note": "企业已整改"})
    assert done.status_code == 200, done.text

    file = _get(client, officer, f"/api/v1/parks/{park}/plants/shop-01/file", months=3)
    assert file["plant"] | {"discharge_modes": None} == {
        "id": "shop-01", "name": "电镀一厂 (Plating One)", "name_zh": "电镀一厂", "name_en": "Plating One",
        "kind": "enterprise", "industry": "electroplating", "discharge_modes": None,
    }  # fmt: skip
    assert file["plant"]["discharge_modes"] == ["indirect"] and file["months"] == 3
    assert [p["ref"] for p in file["permits"]] == ["P-0001"]  # not shop-02's
    points = {p["id"]: p for p in file["points"]}

    # limits with their sources: the permit where it is stricter, the standard's table elsewhere
    total = {q["code"]: q for q in points["total"]["parameters"]}
    (now_cod,) = [lim for lim in total["cod"]["limits"] if lim["in_force"]]
    assert now_cod["upper"] == 60 and now_cod["valid_to"].startswith("2098-12-31T16:00")
    assert now_cod["sources"] == [{
        "kind": "permit", "label": "permit P-0001", "permit": "P-0001", "standard": None, "title": None,
        "table": None, "url": None, "note": None,
    }]  # fmt: skip
    (ni,) = {q["code"]: q for q in points["workshop"]["parameters"]}["ni"]["limits"]
    (source,) = ni["sources"]
    assert source["kind"] == "standard" and source["standard"] == "GB21900-2008-T2" and source["table"]
    assert ni["upper"] == 0.5 and ni["in_force"] and ni["unit"] == "mg/L"

    # the logger: edition, quirks, last seen, clock drift, SM4 key generation
    logger = points["workshop"]["logger"]
    assert (logger["edition"], logger["edition_seen"], logger["transport"]) == ("2025", "2025", "tcp-hj212")
    assert [(q["quirk"], q["count"]) for q in logger["quirks"]] == [("length_field_wrong", 3)]
    clock = logger["clock"]
    assert 119 <= clock["ahead_s"] <= 120 and (clock["messages"], clock["basis"]) == (10, "qn")
    assert logger["sm4"]["generation"] == 1 and logger["sm4"]["pending_generation"] is None
    seen = datetime.fromisoformat(logger["last_seen"])
    assert abs(seen - datetime.now(UTC) - AHEAD) < timedelta(seconds=30)
    assert points["total"]["logger"]["edition"] is None and points["total"]["logger"]["sm4"] is None

    # marks, incidents with their outcome, KPIs by month and the reports' links
    assert [m["id"] for m in file["marks"]] == [mark.json()["id"]]
    assert [i["alert"]["id"] for i in file["incidents"]["open"]] == [mine]
    assert (
        file["incidents"]["open"][0]["outcome"] == "open" and file["incidents"]["open"][0]["closed"] is None
    )
    (resolved,) = [i for i in file["incidents"]["recent"] if i["alert"]["id"] == closed]
    assert resolved["outcome"] == "resolved" and resolved["closed"]["note"] == "企业已整改"
    assert resolved["closed"]["by"].startswith("officer:") and resolved["closed"]["action"] == "resolve"
    day = datetime.now(SH) - timedelta(days=3)
    (month,) = [m for m in file["kpis"] if m["month"] == f"{day:%Y-%m}"]
    assert month["days_closed"] >= 1 and month["kpi"]["received"] == 20 * 60
    assert month["report"].endswith(f"/plants/shop-01/reports/month/{day:%Y-%m}")
    assert month["last_daily_report"].startswith(f"/api/v1/parks/{park}/plants/shop-01/reports/")
    assert file["reports"]["daily"] == f"/api/v1/parks/{park}/plants/shop-01/reports/{{day}}"


def test_scope_and_no_secrets(client, park, make_park, make_token, admin) -> None:  # type: ignore[no-untyped-def]
    own = make_token("operator", park, "shop-01")
    other = make_token("operator", park, "shop-02")
    stranger = make_token("officer", make_park().id)
    path = f"/api/v1/parks/{park}/plants/shop-01/file"
    assert client.get(path, headers=other).status_code == 404
    assert client.get(path, headers=stranger).status_code == 404
    assert client.get(path).status_code == 401
    assert client.get(f"/api/v1/parks/{park}/plants/nowhere/file", headers=admin).status_code == 404
    for token in (own, admin):
        answer = client.get(path, headers=token)
        assert answer.status_code == 200, answer.text
        text = answer.text
        assert KEY not in text.upper() and TEST_HJ212_PW not in text and "PW=" not in text
        assert "P-0002" not in text  # another plant's permit
    assert client.get(path, headers=own, params={"months": 0}).status_code == 422
    assert client.get(path, headers=own, params={"months": plantfile.MONTHS_MAX + 1}).status_code == 422
    assert client.get(path, headers=own, params={"months": "a"}).status_code == 422


def test_the_file_is_in_the_openapi_description(client) -> None:  # type: ignore[no-untyped-def]
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/parks/{park}/plants/{plant}/file"]["get"]
    assert "一企一档" in op["description"] and op["parameters"][-1]["name"] == "months"
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PlantFile")


def test_names_and_months() -> None:
    assert plantfile.names("电镀一厂 (Plating One)") == ("电镀一厂", "Plating One")
    assert plantfile.names("电镀一厂") == ("电镀一厂", None)
    assert plantfile.names("Shop one") == (None, "Shop one")
    now = datetime(2026, 1, 10, tzinfo=UTC)
    assert [f"{d:%Y-%m}" for d in plantfile.month_starts(now, SH, 3)] == ["2025-11", "2025-12", "2026-01"]


def test_clock_drift_by_qn_first_then_data_time() -> None:
    got = datetime(2026, 12, 1, 8, 0, 10, tzinfo=UTC)
    late = MessageStamp(1, got - timedelta(seconds=300), got, "20261201160015000")  # QN 5 s ahead, sent late
    json_v1 = MessageStamp(1, got - timedelta(seconds=3), got, None)  # a JSON v1 message: its ts
    bad_qn = MessageStamp(1, got - timedelta(seconds=1), got, "20261399999999000")
    drift = plantfile.clock([late], SH, 3600)
    assert drift is not None and (drift.ahead_s, drift.basis) == (5.0, "qn")
    drift = plantfile.clock([json_v1, json_v1, bad_qn], SH, 3600)
    # (a QN that is not a time: its data time, 1 s before receipt, is the soonest sent)
    assert drift is not None and (drift.ahead_s, drift.min_s, drift.basis) == (-1.0, -3.0, "data_time")
    # with QNs, the QNs say how far ahead the clock is; data times only bound it from below
    drift = plantfile.clock([late, json_v1, json_v1], SH, 3600)
    assert drift is not None and (drift.ahead_s, drift.min_s, drift.basis) == (5.0, -3.0, "mixed")
    # an hour sent three hours late (a backfill) is not a clock three hours behind
    backfill = MessageStamp(1, got - timedelta(hours=3), got, None)
    drift = plantfile.clock([backfill, backfill, json_v1], SH, 3600)
    assert drift is not None and (drift.ahead_s, drift.min_s, drift.basis) == (-3.0, -10800.0, "data_time")
    assert plantfile.clock([], SH, 3600) is None
