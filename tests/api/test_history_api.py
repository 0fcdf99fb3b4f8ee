"""The readings endpoint over history: the same answer before and after compaction (property test over
random series), long ranges answered with the stored means unless raw is asked for, pages that never
split a time, CSV paged the same way."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.core import archive
from tests.ingest.test_archive import point_ids

_days = itertools.count()

VALUES = st.one_of(
    st.integers(-(10**6), 10**6).flatmap(
        lambda k: st.sampled_from([k, k / 10, k / 100, k / 1000, k / 10**6])
    ),
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.floats(min_value=0, max_value=1000).map(lambda v: round(v, 1) * 0.001),  # µg/L converted
)
SERIES = st.lists(
    st.tuples(st.integers(0, 1439), st.integers(0, 999_999), VALUES, st.sampled_from("NNNNSFMDCTB")),
    min_size=1,
    max_size=120,
    unique_by=lambda r: r[0],
)


@pytest.fixture
def client(client, admin):
    client.headers.update(admin)
    return client


def url(park: str) -> str:
    return f"/api/v1/parks/{park}/plants/shop-01/points/total/readings"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(series=SERIES, flow=SERIES)
@example(series=[(0, 0, 1.5, "N")], flow=[(0, 0, -0.0, "N")])  # a scaled integer has no -0
def test_the_answer_is_the_same_before_and_after_compaction(client, db, services, make_park, series, flow):
    spec = park_once(make_park)
    ids = point_ids(db, spec.id)
    pid = ids["shop-01/total"]
    day = date(2022, 1, 1) + timedelta(days=next(_days))
    d0 = archive.day_start(day)
    rows = [(pid, 9, d0 + timedelta(minutes=m, microseconds=us), v, f) for m, us, v, f in series]
    rows += [(pid, 1, d0 + timedelta(minutes=m, seconds=30), v, f) for m, _us, v, f in flow]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (point_id, parameter_id, time, value, flag, source)"
            " VALUES (%s, %s, %s, %s, %s, 'test')",
            rows,
        )
    window = {"from": d0.isoformat(), "to": (d0 + timedelta(days=1)).isoformat()}
    raw_before = client.get(url(spec.id), params=window).json()
    csv_before = client.get(url(spec.id), params={**window, "format": "csv"}).text

    with psycopg.connect(services.database_url) as conn, conn.transaction():
        archive.compact_day(conn, day, [pid])

    assert len(raw_before["items"]) == len(rows)
    assert client.get(url(spec.id), params=window).json() == raw_before
    assert client.get(url(spec.id), params={**window, "format": "csv"}).text == csv_before


_parks: dict[int, object] = {}


def park_once(make_park):
    """One park for all the examples of a test (each example uses its own day)."""
    key = id(make_park)
    if key not in _parks:
        _parks.clear()
        _parks[key] = make_park()
    return _parks[key]


def minute_rows(pid: int, start: datetime, minutes: int, parameters: tuple[int, ...] = (9,)) -> list[tuple]:
    return [
        (pid, q, start + timedelta(minutes=m), float(m % 100), "N")
        for m in range(minutes)
        for q in parameters
    ]


def insert(db, rows) -> None:
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (point_id, parameter_id, time, value, flag, source)"
            " VALUES (%s, %s, %s, %s, %s, 'test')",
            rows,
        )


def test_a_long_range_gets_means_unless_raw_is_asked_for(client, db, make_park):
    spec = make_park()
    pid = point_ids(db, spec.id)["shop-01/total"]
    start = datetime(2021, 6, 1, tzinfo=UTC)
    insert(db, minute_rows(pid, start, 3 * 24 * 60))
    ten_days = {"parameter": "cod", "from": start.isoformat(), "to": (start + timedelta(days=10)).isoformat()}
    year = {"parameter": "cod", "from": start.isoformat(), "to": (start + timedelta(days=365)).isoformat()}

    # the legal record of the first three hours, as close_windows stores it
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO compliance_windows (point_id, parameter_id, span, start_at, end_at, mean, n_valid,"
            " n_expected, sufficient, verdict, n_total) VALUES (%s, 9, 'hour', %s, %s, 49.5, 60, 60, true,"
            " 'ok', 60)",
            [(pid, start + timedelta(hours=h), start + timedelta(hours=h + 1)) for h in range(3)],
        )

    hourly = client.get(url(spec.id), params=ten_days).json()
    daily = client.get(url(spec.id), params=year).json()
    raw = client.get(url(spec.id), params={**ten_days, "raw": "true"}).json()
    day = client.get(url(spec.id), params={**ten_days, "to": (start + timedelta(days=1)).isoformat()}).json()

    assert hourly["bucket"] == "1h" and [(i["mean"], i["valid"]) for i in hourly["items"]] == [(49.5, 60)] * 3
    assert daily["bucket"] == "1d" and daily["items"] == []  # no day of the record is stored
    assert raw["bucket"] is None and len(raw["items"]) == 3 * 24 * 60
    assert day["bucket"] is None and len(day["items"]) == 24 * 60
    both = client.get(url(spec.id), params={**ten_days, "raw": "true", "bucket": "1h"})
    assert both.status_code == 422 and "not both" in both.json()["detail"]


def test_pages_never_split_a_time_and_follow_on_with_next(services, db, make_park, admin):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ApiSettings

    spec = make_park()
    pid = point_ids(db, spec.id)["shop-01/total"]
    start = datetime(2021, 7, 1, tzinfo=UTC)
    insert(db, minute_rows(pid, start, 301, parameters=(1, 2, 9)))  # 903 rows, 3 per minute
    app = create_app(
        ApiSettings(max_raw_rows=100), services.database_url, (services.mqtt_host, services.mqtt_port)
    )
    got, params = [], {"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat()}
    with TestClient(app, headers=admin) as c:
        for _ in range(20):
            page = c.get(url(spec.id), params=params).json()
            assert len(page["items"]) <= 100
            got += [(i["time"], i["parameter"]) for i in page["items"]]
            if page["next"] is None:
                assert page["truncated"] is False
                break
            assert page["truncated"] is True
            params["from"] = page["next"]
        csv = c.get(url(spec.id), params={**params, "from": start.isoformat(), "format": "csv"}).text
    assert len(got) == len(set(got)) == 903
    lines = csv.strip().split("\n")
    # 99 rows = 33 whole minutes: the 100th row would split the 34th minute
    assert len(lines) == 1 + 99 + 1 and lines[-1].startswith(
        "# more rows: ask again with from=2021-07-01T00:33:00"
    )
