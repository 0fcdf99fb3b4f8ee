"""History at legal scale (issue 15): a year of minute data for some series of the 57-plant sample park,
compacted by the compliance leader's own job, then read through the API in its own process.

Scale: the full figure is every series of the park (770) for a year, some 405 million readings;
loading that takes hours on the 2-core machine, so the year is loaded for OUTFALL_BENCH_HISTORY_SERIES
series (default 24, 1/32 of the park). The monthly report needs the whole park for 30 days:
the API benchmark (run before this one by `make bench`) loads exactly that, and this one loads it
when it is missing. Readings are generated inside PostgreSQL like an instrument's: values with the
decimals a display shows (pH 2, flow 3, concentrations 2; Cr(VI) sent in µg/L and converted, so its
values are not short decimals), 1 % flagged D, received 0.2 to 0.8 s after their time.

Keys: history_readings_loaded, history_bytes_per_reading_hot, history_bytes_per_reading_archived,
history_hourly_1y_p99_ms (through `bucket=1h`, which reads the stored legal record; the benchmark
writes the year's hours from the loaded readings as close_windows would),
history_raw_30d_p99_ms, history_monthly_report_s and history_monthly_report_xlsx_s (the park's monthly
report through the API, as JSON and xlsx, over the stored days and months of the whole park, which the
benchmark writes from the loaded month as close_windows would)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg

from api import tokens
from bench.api import _measure, _serve
from bench.common import Env
from ingest.core import archive
from outfall.tasks import park_load

SERIES = int(os.environ.get("OUTFALL_BENCH_HISTORY_SERIES", "24"))
REQUESTS = int(os.environ.get("OUTFALL_BENCH_HISTORY_REQUESTS", "30"))
MONTH = int(os.environ.get("OUTFALL_BENCH_HISTORY_MONTH_DAYS", "30"))  # days of daily reports
PARK = "demo-plating"
DAYS = 365

# One day of minute readings for the given series, generated in the database.
_DAY = (
    "INSERT INTO readings (point_id, parameter_id, time, value, flag, received_at, source)"
    " SELECT s.point_id, s.parameter_id, t,"
    "  CASE WHEN p.code = 'cr6' THEN round((20 * v)::numeric, 1)::float8 * 0.001"
    "   WHEN p.code = 'ph' THEN round((6.5 + v)::numeric, 2)::float8"
    "   WHEN p.code = 'flow' THEN round((5 * v)::numeric, 3)::float8"
    "   ELSE round((greatest(p.plausible_min, 0) + 10 * v)::numeric, 2)::float8 END,"
    "  CASE WHEN random() < 0.01 THEN 'D' ELSE 'N' END,"
    "  t + (0.2 + 0.6 * random()) * interval '1 second', 'mqtt-json'"
    " FROM unnest(%(points)s::integer[], %(params)s::smallint[]) AS s(point_id, parameter_id)"
    " JOIN parameters p ON p.id = s.parameter_id"
    " CROSS JOIN generate_series(%(d0)s::timestamptz, %(d1)s::timestamptz - interval '1 minute',"
    "  interval '1 minute') t"
    " CROSS JOIN LATERAL (SELECT 1 + 0.3 * sin(extract(epoch FROM t) / 13751.0 + s.point_id)"
    "  + 0.05 * random() AS v) x"
    " ON CONFLICT DO NOTHING"
)


def _series(conn: psycopg.Connection, limit: int | None) -> list[tuple[int, int]]:
    """The park's series: the central plant's first, then the shops' in order."""
    rows = conn.execute(
        "SELECT pp.point_id, pp.parameter_id FROM point_parameters pp JOIN points p ON p.id = pp.point_id"
        " WHERE p.park_id = %s ORDER BY p.plant_id <> 'central', p.plant_id, p.code, pp.parameter_id"
        " LIMIT %s",
        (PARK, limit),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _load(conn: psycopg.Connection, series: list[tuple[int, int]], start: datetime, days: int) -> int:
    total = 0
    points, params = [p for p, _q in series], [q for _p, q in series]
    for day in range(days):
        d0 = start + timedelta(days=day)
        args = {"points": points, "params": params, "d0": d0, "d1": d0 + timedelta(days=1)}
        total += max(conn.execute(_DAY, args).rowcount, 0)
    return total


# The year's hourly legal record of the loaded series, as close_windows stores it when each hour closes
# (mean of valid values, counts; expected = one a minute), so the API's `bucket=1h` reads a real table.
_HOURS = (
    "INSERT INTO compliance_windows (point_id, parameter_id, span, start_at, end_at, mean, n_valid,"
    " n_expected, sufficient, verdict, n_total, min, max)"
    " SELECT point_id, parameter_id, 'hour', h, h + interval '1 hour', avg(v), count(v), 60,"
    "  count(v) >= 45, CASE WHEN count(v) >= 45 THEN 'ok' ELSE 'insufficient' END, count(*), min(v), max(v)"
    " FROM (SELECT point_id, parameter_id, time_bucket('1 hour', time, 'Asia/Shanghai') AS h,"
    "  CASE WHEN flag IN ('N', 'S') THEN value END AS v"
    "  FROM readings_range(%(points)s::integer[], NULL, %(a)s, %(b)s)"
    "  WHERE (point_id, parameter_id) IN"
    "   (SELECT * FROM unnest(%(points)s::integer[], %(params)s::smallint[]))) r"
    " GROUP BY point_id, parameter_id, h ON CONFLICT DO NOTHING"
)


def _store_hours(conn: psycopg.Connection, series: list[tuple[int, int]], start: datetime, days: int) -> int:
    points, params = [p for p, _q in series], [q for _p, q in series]
    total = 0
    for month in range(0, days, 30):
        a = start + timedelta(days=month)
        args = {"points": points, "params": params, "a": a, "b": a + timedelta(days=min(30, days - month))}
        total += max(conn.execute(_HOURS, args).rowcount, 0)
    return total


# The park's stored days and months of the loaded month, as close_windows would write them (verdicts
# against no limit: the report's cost does not depend on them), for the monthly report.
_DAYS = (
    "INSERT INTO compliance_windows (point_id, parameter_id, span, start_at, end_at, mean, n_valid,"
    " n_expected, sufficient, verdict, n_total, min, max)"
    " SELECT r.point_id, r.parameter_id, 'day', d, d + interval '1 day', avg(v), count(v), 1440,"
    "  count(v) >= 1080, CASE WHEN count(v) >= 1080 THEN 'ok' ELSE 'insufficient' END, count(*), min(v),"
    "  max(v)"
    " FROM (SELECT point_id, parameter_id, time_bucket('1 day', time, 'Asia/Shanghai') AS d,"
    "  CASE WHEN flag IN ('N', 'S') THEN value END AS v"
    "  FROM readings_range(%(points)s::integer[], NULL, %(a)s, %(b)s)) r"
    " GROUP BY r.point_id, r.parameter_id, d ON CONFLICT DO NOTHING"
)
_MONTHS = (
    "INSERT INTO compliance_windows (point_id, parameter_id, span, start_at, end_at, mean, n_valid,"
    " n_expected, sufficient, verdict, n_total, min, max, parts, parts_valid)"
    " SELECT point_id, parameter_id, 'month', m, m + interval '1 month',"
    "  sum(mean * n_valid) / nullif(sum(n_valid), 0), sum(n_valid), sum(n_expected), false, 'not_judged',"
    "  sum(n_total), min(min), max(max), count(*), count(*) FILTER (WHERE sufficient)"
    " FROM (SELECT w.*, time_bucket('1 month', start_at, 'Asia/Shanghai') AS m FROM compliance_windows w"
    "  WHERE span = 'day' AND point_id = ANY(%(points)s) AND start_at >= %(a)s AND start_at < %(b)s) d"
    " GROUP BY point_id, parameter_id, m ON CONFLICT DO NOTHING"
)


def _store_days(conn: psycopg.Connection, now: datetime) -> int:
    points = [r[0] for r in conn.execute("SELECT id FROM points WHERE park_id = %s", (PARK,)).fetchall()]
    args = {"points": points, "a": now - timedelta(days=MONTH + 1), "b": now}
    days = max(conn.execute(_DAYS, args).rowcount, 0)
    return days + max(conn.execute(_MONTHS, args).rowcount, 0)


def _month_present(conn: psycopg.Connection, now: datetime) -> bool:
    """Whether the whole park has the last 30 days (the API benchmark's data): its last shop's series."""
    last = _series(conn, None)[-1]
    row = conn.execute(
        "SELECT count(*) FROM readings WHERE point_id = %s AND parameter_id = %s AND time >= %s",
        (*last, now - timedelta(days=MONTH - 1)),
    ).fetchone()
    return bool(row and row[0] > 0)


def _compact(env: Env) -> tuple[float, int]:
    """The compliance leader's job, run until no day is left (each run stops starting days after its
    time budget)."""
    from compliance import jobs
    from compliance.settings import RuleSettings, RuntimeSettings, SmtpSettings, WebhookSettings

    ctx = jobs.Context(RuleSettings(), RuntimeSettings(), WebhookSettings(), SmtpSettings())
    t0, runs = time.monotonic(), 0
    while True:
        runs += 1
        if " 0 days left" in jobs.run(env.database_url, ctx, "compact_readings"):
            return time.monotonic() - t0, runs


def _per_reading(size: int, count: int) -> float | None:
    return round(size / count, 2) if count else None


def main(env: Env) -> dict[str, Any]:
    from simulators.__main__ import sample_park_path

    park_load(env.database_url, sample_park_path())
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    out: dict[str, Any] = {}
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        everything = _series(conn, None)
        chosen = everything[:SERIES]
        t0 = time.monotonic()
        out["history_readings_loaded"] = _load(conn, chosen, now - timedelta(days=DAYS), DAYS)
        out["history_load_s"] = round(time.monotonic() - t0, 1)
        out["history_series"] = f"{len(chosen)} of {len(everything)} series for {DAYS} days"
        t0 = time.monotonic()
        out["history_hours_stored"] = _store_hours(conn, chosen, now - timedelta(days=DAYS), DAYS)
        out["history_hours_store_s"] = round(time.monotonic() - t0, 1)
        if not _month_present(conn, now):
            t0 = time.monotonic()
            start = now - timedelta(days=MONTH)
            out["history_park_month_loaded"] = _load(conn, everything[SERIES:], start, MONTH)
            out["history_park_month_load_s"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        out["history_park_days_stored"] = _store_days(conn, now)
        out["history_park_days_store_s"] = round(time.monotonic() - t0, 1)
        conn.execute("ANALYZE readings")
        hot = archive.sizes(conn)
    compact_s, runs = _compact(env)
    out["history_compact_runs"] = runs
    with psycopg.connect(env.database_url, autocommit=True) as conn:
        conn.execute("ANALYZE readings_archive")
        cold = archive.sizes(conn)
    out["history_compact_s"] = round(compact_s, 1)
    out["history_compact_readings_per_s"] = round(cold.archived_readings / compact_s) if compact_s else None
    out["history_bytes_per_reading_hot"] = _per_reading(hot.hot_bytes, hot.hot_readings)
    out["history_bytes_per_reading_archived"] = _per_reading(cold.archived_bytes, cold.archived_readings)
    out["history_readings_hot_archived"] = [cold.hot_readings, cold.archived_readings]
    out.update(_split(env, cold.archived_bytes))
    out.update(_api(env, chosen, now))
    return out


def _split(env: Env, total: int) -> dict[str, Any]:
    """Bytes per archived reading of series-days kept as scaled decimals and of those kept as doubles
    (the API benchmark's month has full-precision random values; an instrument's are short decimals,
    but values converted from µg/L are doubles too): the table's whole size shared out by the rows' own
    sizes (pg_column_size of each row, its compressed arrays included)."""
    with psycopg.connect(env.database_url) as conn:
        rows = conn.execute(
            "SELECT values_f8 IS NULL, sum(pg_column_size(a.*)), sum(n) FROM readings_archive a GROUP BY 1"
        ).fetchall()
    weight = sum(r[1] for r in rows) or 1
    out: dict[str, Any] = {}
    for decimals, size, count in rows:
        name = "decimals" if decimals else "doubles"
        out[f"history_bytes_per_reading_archived_{name}"] = _per_reading(
            int(total * size / weight), int(count)
        )
    return out


def _api(env: Env, chosen: list[tuple[int, int]], now: datetime) -> dict[str, Any]:
    with psycopg.connect(env.database_url) as conn:
        names = conn.execute(
            "SELECT p.id, p.plant_id, p.code FROM points p WHERE p.park_id = %s", (PARK,)
        ).fetchall()
        codes: dict[int, str] = dict(conn.execute("SELECT id, code FROM parameters").fetchall())
    where = {r[0]: (r[1], r[2]) for r in names}
    _id, token = tokens.create(env.database_url, "officer", PARK, None, "bench")
    year = f"from={(now - timedelta(days=DAYS - 1)).isoformat()}&to={now.isoformat()}"
    month = f"from={(now - timedelta(days=30)).isoformat()}&to={now.isoformat()}"

    def url(n: int, query: str) -> str:
        pid, qid = chosen[n % len(chosen)]
        plant, point = where[pid]
        path = f"/api/v1/parks/{PARK}/plants/{plant}/points/{point}/readings"
        return f"{path}?parameter={codes[qid]}&{query}".replace("+", "%2B")

    proc, base = _serve(env)
    out: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            hourly = _measure(c, [url(n, f"{year}&bucket=1h") for n in range(REQUESTS)])
            raw = _measure(c, [url(n, f"{month}&raw=true") for n in range(REQUESTS)])
            out["history_hourly_1y_p50_ms"], out["history_hourly_1y_p99_ms"] = hourly["p50"], hourly["p99"]
            out["history_raw_30d_p50_ms"], out["history_raw_30d_p99_ms"] = raw["p50"], raw["p99"]
            out["history_raw_30d_rows"] = len(c.get(url(0, f"{month}&raw=true")).json()["items"])
            out.update(_month_of_reports(c, now))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return out


def _month_of_reports(client: httpx.Client, now: datetime) -> dict[str, float]:
    """The park's monthly report of the month most of the loaded 30 days are in, as JSON and as xlsx."""
    month = (now.astimezone(ZoneInfo("Asia/Shanghai")) - timedelta(days=15)).strftime("%Y-%m")
    out = {}
    for fmt, key in (("json", "history_monthly_report_s"), ("xlsx", "history_monthly_report_xlsx_s")):
        t0 = time.perf_counter()
        r = client.get(f"/api/v1/parks/{PARK}/reports/month/{month}", params={"format": fmt})
        r.raise_for_status()
        out[key] = round(time.perf_counter() - t0, 2)
    return out
