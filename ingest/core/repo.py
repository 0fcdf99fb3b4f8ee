"""All SQL of the ingest package. Functions take a connection and never commit: the caller (a batch,
a command) owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import psycopg
from psycopg.rows import class_row

from ingest.core import archive, decoded, parameters, units
from ingest.core.deadletters import Run
from ingest.core.decoded import CheckRow, StatusRow
from ingest.core.models import ParkSpec, RegistryPoint


def sync_catalogue(conn: psycopg.Connection) -> None:
    """Make the parameters table match the catalogue in code."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO parameters (id, code, name_zh, name_en, hj212_2017, hj212_2005, unit,"
            " plausible_min, plausible_max) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code, name_zh = EXCLUDED.name_zh,"
            " name_en = EXCLUDED.name_en, hj212_2017 = EXCLUDED.hj212_2017,"
            " hj212_2005 = EXCLUDED.hj212_2005, unit = EXCLUDED.unit,"
            " plausible_min = EXCLUDED.plausible_min, plausible_max = EXCLUDED.plausible_max",
            [
                (
                    p.id,
                    p.code,
                    p.name_zh,
                    p.name_en,
                    p.hj212_2017,
                    p.hj212_2005,
                    p.unit,
                    p.plausible_min,
                    p.plausible_max,
                )
                for p in parameters.CATALOGUE
            ],
        )


def load_park(conn: psycopg.Connection, park: ParkSpec) -> int:
    """Upsert a park with its plants and points; points no longer in the file become inactive.
    Returns the number of active points."""
    conn.execute(
        "INSERT INTO parks (id, name, timezone, industry, config) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone,"
        " industry = EXCLUDED.industry, config = EXCLUDED.config, loaded_at = now()",
        (park.id, park.name, park.timezone, park.industry, orjson.dumps(park.config).decode()),
    )
    # MNs are unique across the registry; clear this park's first so a device may move between points.
    conn.execute("UPDATE points SET mn = NULL, active = false WHERE park_id = %s", (park.id,))
    count = 0
    for plant in park.plants:
        conn.execute(
            "INSERT INTO plants (park_id, id, name, kind, site_x, site_y) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (park_id, id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,"
            " site_x = EXCLUDED.site_x, site_y = EXCLUDED.site_y",
            (park.id, plant.id, plant.name, plant.kind, *(plant.position or (None, None))),
        )
        for pt in plant.points:
            row = conn.execute(
                "INSERT INTO points (park_id, plant_id, code, name, kind, discharge_mode, standard, mn,"
                " interval_s, allow_from, sampler, serial, active)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::cidr[], %s, %s, true)"
                " ON CONFLICT (park_id, plant_id, code) DO UPDATE SET name = EXCLUDED.name,"
                " kind = EXCLUDED.kind, discharge_mode = EXCLUDED.discharge_mode,"
                " standard = EXCLUDED.standard, mn = EXCLUDED.mn, interval_s = EXCLUDED.interval_s,"
                " allow_from = EXCLUDED.allow_from, sampler = EXCLUDED.sampler,"
                " serial = EXCLUDED.serial, active = true RETURNING id",
                (
                    park.id,
                    plant.id,
                    pt.id,
                    pt.name,
                    pt.kind,
                    pt.discharge_mode,
                    pt.standard,
                    pt.mn,
                    pt.interval_s,
                    list(pt.allow_from) or None,
                    pt.sampler,
                    pt.serial,
                ),
            ).fetchone()
            assert row is not None
            conn.execute("DELETE FROM point_parameters WHERE point_id = %s", (row[0],))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO point_parameters (point_id, parameter_id, unit) VALUES (%s, %s, %s)",
                    [(row[0], parameters.BY_CODE[code].id, unit) for code, unit in pt.parameters.items()],
                )
            count += 1
    return count


def registry(conn: psycopg.Connection) -> list[RegistryPoint]:
    rows = conn.execute(
        "SELECT p.id, p.park_id, p.plant_id, p.code, p.mn, k.timezone,"
        "       coalesce(array_agg(pp.parameter_id) FILTER (WHERE pp.parameter_id IS NOT NULL), '{}'),"
        "       coalesce(array_agg(pp.unit) FILTER (WHERE pp.parameter_id IS NOT NULL), '{}'),"
        "       coalesce(p.allow_from::text[], '{}'), p.sampler, p.serial"
        " FROM points p JOIN parks k ON k.id = p.park_id"
        " LEFT JOIN point_parameters pp ON pp.point_id = p.id"
        " WHERE p.active GROUP BY p.id, k.timezone"
    ).fetchall()
    by_id = {p.id: p for p in parameters.CATALOGUE}
    return [
        RegistryPoint(
            id=r[0],
            park=r[1],
            plant=r[2],
            code=r[3],
            mn=r[4],
            timezone=r[5],
            factors={pid: units.factor(unit, by_id[pid].unit) for pid, unit in zip(r[6], r[7], strict=True)},
            allow_from=tuple(r[8]),
            sampler=r[9],
            serial=r[10],
        )
        for r in rows
    ]


def prepare_staging(conn: psycopg.Connection) -> None:
    """Per-connection staging tables, emptied at every commit: the batch's readings (COPY), the second
    values of stored readings (see ``set_aside_duplicates``), and the batch's raw messages."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS staging_readings ("
        " point_id integer, parameter_id smallint, time timestamptz, value double precision,"
        ' flag "char", source text) ON COMMIT DELETE ROWS'
    )
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS staging_conflicts ("
        " point_id integer, parameter_id smallint, time timestamptz, value double precision,"
        ' flag "char", source text, stored_value double precision, stored_flag "char",'
        " stored_source text, stored_at timestamptz) ON COMMIT DELETE ROWS"
    )
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS staging_raw_messages (time timestamptz, digest bigint,"
        " point_id integer, source text, peer text, payload bytea) ON COMMIT DELETE ROWS"
    )


def copy_readings(conn: psycopg.Connection, copy_text: bytes) -> int:
    """COPY rows (tab-separated lines, see ``decoded.copy_line``) in and move them to ``readings``,
    dropping any whose key is already stored, hot or archived. Returns the number of new readings."""
    with conn.cursor() as cur:
        with cur.copy(
            "COPY staging_readings (point_id, parameter_id, time, value, flag, source) FROM STDIN"
        ) as copy:
            copy.write(copy_text)
        archive.check_archived(conn)  # a reading whose key is archived is not new either
        cur.execute(
            "INSERT INTO readings (point_id, parameter_id, time, value, flag, source)"
            " SELECT point_id, parameter_id, time, value, flag, source FROM staging_readings"
            " ON CONFLICT DO NOTHING"
        )
        return cur.rowcount


def copy_raw_messages(conn: psycopg.Connection, rows: bytes, fresh: bool) -> int:
    """Store the batch's accepted messages (binary COPY rows, ``decoded.raw_row``), each once: a re-sent
    copy (same point, data time and bytes) is dropped. ``fresh``: the caller knows of no re-sent copy
    among them, so they are copied straight in, under a savepoint; should one be there after all (its
    first copy's readings gone), or when not ``fresh``, they go through the staging table. Returns how
    many were new."""
    data = decoded.RAW_COPY_HEADER + rows + decoded.RAW_COPY_TRAILER
    with conn.cursor() as cur:
        if fresh:
            try:
                with conn.transaction(), cur.copy(_COPY_RAW) as copy:
                    copy.write(data)
                return cur.rowcount
            except psycopg.errors.UniqueViolation:
                pass  # rolled back to the savepoint: the staged way below keeps each copy once
        with cur.copy(_COPY_RAW_STAGED) as copy:
            copy.write(data)
        cur.execute(
            "INSERT INTO raw_messages (time, digest, point_id, source, peer, payload)"
            " SELECT time, digest, point_id, source, peer, payload FROM staging_raw_messages"
            " ON CONFLICT DO NOTHING"
        )
        return cur.rowcount


_COPY_RAW = "COPY raw_messages (time, digest, point_id, source, peer, payload) FROM STDIN (FORMAT BINARY)"
_COPY_RAW_STAGED = (
    "COPY staging_raw_messages (time, digest, point_id, source, peer, payload) FROM STDIN (FORMAT BINARY)"
)


def drop_raw_messages(conn: psycopg.Connection, before: datetime) -> int:
    """Drop the chunks of raw messages whose data times all lie before ``before`` (the retention);
    how many chunks."""
    rows = conn.execute("SELECT drop_chunks('raw_messages', older_than => %s::timestamptz)", (before,))
    return len(rows.fetchall())


# Rows this transaction inserted carry its start time: ``received_at`` defaults to now(), the
# transaction timestamp. A staged row whose stored twin has another received_at, value or flag was not
# inserted by this batch. Only run when the batch had duplicates, so the common path costs nothing.
_SET_ASIDE = (
    "WITH gone AS (DELETE FROM staging_readings s USING readings r"
    " WHERE r.point_id = s.point_id AND r.parameter_id = s.parameter_id AND r.time = s.time"
    "  AND (r.received_at <> now() OR r.value IS DISTINCT FROM s.value OR r.flag <> s.flag)"
    " RETURNING s.point_id, s.parameter_id, s.time, s.value, s.flag, s.source,"
    "  r.value AS stored_value, r.flag AS stored_flag, r.source AS stored_source, r.received_at)"
    " INSERT INTO staging_conflicts SELECT * FROM gone"
    " WHERE value IS DISTINCT FROM stored_value OR flag <> stored_flag"
)
# A message delivered twice within one batch stages the same row twice: keep one.
_STAGED_TWINS = (
    "DELETE FROM staging_readings a USING staging_readings b WHERE a.ctid > b.ctid"
    " AND a.point_id = b.point_id AND a.parameter_id = b.parameter_id AND a.time = b.time"
    " AND a.value IS NOT DISTINCT FROM b.value AND a.flag = b.flag"
)


@dataclass(frozen=True)
class Conflict:
    """A second value for a stored reading's key: evidence of a fault or of tampering."""

    point_id: int
    parameter_id: int
    time: datetime
    value: float
    flag: str
    source: str
    stored_value: float
    stored_flag: str
    stored_source: str
    stored_at: datetime


def set_aside_duplicates(conn: psycopg.Connection) -> list[Conflict]:
    """After ``copy_readings`` stored fewer rows than were staged: leave in the staging table only the
    readings this transaction inserted (what the rules may judge), and return the staged rows that
    carry a different value or flag than the stored reading of their key (kept in
    ``staging_conflicts`` for the compliance hook too)."""
    conn.execute(_STAGED_TWINS)
    conn.execute(_SET_ASIDE)
    with conn.cursor(row_factory=class_row(Conflict)) as cur:
        return cur.execute(
            "SELECT point_id, parameter_id, time, value, flag::text, source, stored_value,"
            " stored_flag::text, stored_source, stored_at FROM staging_conflicts"
        ).fetchall()


# A run joins the open dead letter of its source and kind: the newest one whose last item is at most
# `gap` seconds old and whose first at most `max` seconds; else it starts one.
_RECORD_RUN = (
    "WITH open AS (UPDATE dead_letters SET count = count + %(count)s, last_seen = now(),"
    " bytes_total = bytes_total + %(bytes_total)s"
    " WHERE id = (SELECT id FROM dead_letters WHERE topic = %(topic)s AND kind = %(kind)s"
    "  AND source = %(source)s AND last_seen >= now() - make_interval(secs => %(gap)s)"
    "  AND received_at >= now() - make_interval(secs => %(max)s) ORDER BY last_seen DESC LIMIT 1)"
    " RETURNING id)"
    " INSERT INTO dead_letters"
    " (source, topic, payload, reason, kind, count, payload_size, payload_sha256, bytes_total)"
    " SELECT %(source)s, %(topic)s, %(payload)s, %(reason)s, %(kind)s, %(count)s, %(size)s, %(sha256)s,"
    " %(bytes_total)s WHERE NOT EXISTS (SELECT 1 FROM open)"
)


def record_dead_letters(conn: psycopg.Connection, runs: Sequence[Run], gap_s: float, max_s: float) -> None:
    """Store a batch's dead letters (``deadletters.runs``): a run of a source and kind is added to that
    source's open dead letter of the kind, if any; a run without a kind is a row of its own."""
    merged = [{**vars(r), "gap": gap_s, "max": max_s} for r in runs if r.kind is not None]
    alone = [r for r in runs if r.kind is None]
    with conn.cursor() as cur:
        if merged:
            cur.executemany(_RECORD_RUN, merged)
        if alone:
            cur.executemany(
                "INSERT INTO dead_letters (source, topic, payload, reason, count, payload_size,"
                " payload_sha256, bytes_total) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (r.source, r.topic, r.payload, r.reason, r.count, r.size, r.sha256, r.bytes_total)
                    for r in alone
                ],
            )


def prune_dead_letters(conn: psycopg.Connection, before: datetime) -> int:
    """Delete dead letters whose last item arrived before ``before`` (the retention); how many."""
    return conn.execute("DELETE FROM dead_letters WHERE last_seen < %s", (before,)).rowcount


def add_counters(
    conn: psycopg.Connection, worker: str, messages: int, readings: int, duplicates: int, rejects: int
) -> None:
    conn.execute(
        "INSERT INTO ingest_counters AS c (worker, messages, readings, duplicates, rejects)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (worker) DO UPDATE SET"
        " messages = c.messages + EXCLUDED.messages, readings = c.readings + EXCLUDED.readings,"
        " duplicates = c.duplicates + EXCLUDED.duplicates, rejects = c.rejects + EXCLUDED.rejects,"
        " updated_at = now()",
        (worker, messages, readings, duplicates, rejects),
    )


def copy_statistics(conn: psycopg.Connection, copy_text: bytes) -> int:
    """COPY logger statistics (see ``ingest.hj212.records``) in, dropping any whose key is already stored.
    Returns the number of new rows."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS staging_statistics ("
        " point_id integer, parameter_id smallint, period text, time timestamptz, avg double precision,"
        ' min double precision, max double precision, cou double precision, flag "char", source text)'
        " ON COMMIT DELETE ROWS"
    )
    with conn.cursor() as cur:
        with cur.copy(
            "COPY staging_statistics (point_id, parameter_id, period, time, avg, min, max, cou, flag, source)"
            " FROM STDIN"
        ) as copy:
            copy.write(copy_text)
        cur.execute(
            "INSERT INTO logger_statistics"
            " (point_id, parameter_id, period, time, avg, min, max, cou, flag, source)"
            " SELECT point_id, parameter_id, period, time, avg, min, max, cou, flag, source"
            " FROM staging_statistics ON CONFLICT DO NOTHING"
        )
        return cur.rowcount


def last_statistics(conn: psycopg.Connection, point_id: int, period: str) -> datetime | None:
    """The start of the latest stored logger record of a point for a period (back-fill looks for gaps)."""
    row = conn.execute(
        "SELECT max(time) FROM logger_statistics WHERE point_id = %s AND period = %s", (point_id, period)
    ).fetchone()
    return row[0] if row else None


def insert_status(conn: psycopg.Connection, rows: Sequence[StatusRow]) -> int:
    """Store HJ 212 equipment status rows (CN 2021), dropping any whose key is already stored; returns
    the number of new rows."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO equipment_status (point_id, device, item, time, value, number, source)"
            " SELECT * FROM unnest(%s::integer[], %s::text[], %s::text[], %s::timestamptz[], %s::text[],"
            " %s::double precision[], %s::text[]) ON CONFLICT DO NOTHING",
            [list(column) for column in zip(*rows, strict=True)],
        )
        return cur.rowcount


# --- component heartbeats ------------------------------------------------------------------------------
# Every long-running process (ingest worker, HJ 212 gateway, compliance instance) beats here on an
# autocommit connection; /healthz reads the table. This module is the table's one writer.
def beat(conn: psycopg.Connection, name: str, kind: str, detail: dict[str, object]) -> None:
    conn.execute(
        "INSERT INTO component_heartbeats (name, kind, detail) VALUES (%s, %s, %s)"
        " ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, beat_at = now(), detail = EXCLUDED.detail",
        (name, kind, orjson.dumps(detail).decode()),
    )


def restarted(conn: psycopg.Connection, name: str, kind: str) -> None:
    """A process starting under a name: its start time is now (the supervisor may be restarting it)."""
    conn.execute(
        "INSERT INTO component_heartbeats (name, kind) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
        " SET kind = EXCLUDED.kind, started_at = now(), beat_at = now(), detail = '{}'",
        (name, kind),
    )


def forget(conn: psycopg.Connection, name: str) -> None:
    """A process that stops cleanly removes its row: a stopped component is not a failed one."""
    conn.execute("DELETE FROM component_heartbeats WHERE name = %s", (name,))


def last_reading_time(conn: psycopg.Connection, park_id: str, since: datetime) -> datetime | None:
    """The latest measurement time stored for any point of a park since ``since`` (one backward index
    probe per series)."""
    row = conn.execute(
        "SELECT max(l.t) FROM points p JOIN point_parameters pp ON pp.point_id = p.id"
        " CROSS JOIN LATERAL (SELECT r.time AS t FROM readings r WHERE r.point_id = pp.point_id"
        "  AND r.parameter_id = pp.parameter_id AND r.time >= %s ORDER BY r.time DESC LIMIT 1) l"
        " WHERE p.park_id = %s",
        (since, park_id),
    ).fetchone()
    return row[0] if row else None


# --- registry changes --------------------------------------------------------------------------------
# An admin's changes through the API. Reloading the park file, the primary source, overwrites them.
def rename_park(conn: psycopg.Connection, park: str, name: str) -> bool:
    return conn.execute("UPDATE parks SET name = %s WHERE id = %s", (name, park)).rowcount == 1


def rename_plant(conn: psycopg.Connection, park: str, plant: str, name: str) -> bool:
    cur = conn.execute("UPDATE plants SET name = %s WHERE park_id = %s AND id = %s", (name, park, plant))
    return cur.rowcount == 1


@dataclass(frozen=True)
class PointChange:
    """None leaves a field as it is."""

    name: str | None = None
    interval_s: int | None = None
    active: bool | None = None


def change_point(conn: psycopg.Connection, park: str, plant: str, code: str, change: PointChange) -> bool:
    cur = conn.execute(
        "UPDATE points SET name = coalesce(%(name)s, name),"
        " interval_s = coalesce(%(interval_s)s, interval_s), active = coalesce(%(active)s, active)"
        " WHERE park_id = %(park)s AND plant_id = %(plant)s AND code = %(code)s",
        {
            "name": change.name,
            "interval_s": change.interval_s,
            "active": change.active,
            "park": park,
            "plant": plant,
            "code": code,
        },
    )
    return cur.rowcount == 1


# --- HJ 212-2025: quirks, heartbeats, standard-sample checks (migrations 032, 033) ---------------------


def count_quirks(
    conn: psycopg.Connection, mn: str, point_id: int | None, quirks: Sequence[str], times: int = 1
) -> None:
    """Add ``times`` to each quirk's count for this logger (``codec.QUIRKS`` names them)."""
    for quirk in quirks:
        conn.execute(
            "INSERT INTO logger_quirks (mn, quirk, point_id, count) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (mn, quirk) DO UPDATE SET count = logger_quirks.count + EXCLUDED.count,"
            " last_seen = now(), point_id = coalesce(EXCLUDED.point_id, logger_quirks.point_id)",
            (mn, quirk, point_id, times),
        )


def logger_beat(conn: psycopg.Connection, point_id: int, at: datetime) -> None:
    """A CN 9015 heartbeat: the offline rule counts the logger alive until ``at`` + k intervals."""
    conn.execute(
        "INSERT INTO logger_heartbeats (point_id, last_beat) VALUES (%s, %s) ON CONFLICT (point_id)"
        " DO UPDATE SET last_beat = greatest(logger_heartbeats.last_beat, EXCLUDED.last_beat),"
        " beats = logger_heartbeats.beats + 1",
        (point_id, at),
    )


def save_sample_checks(conn: psycopg.Connection, rows: Sequence[CheckRow]) -> None:
    """CN 2062 results (point, factor, DataTime, fields, source); a re-sent result changes nothing."""
    for point_id, factor, at, fields, source in rows:
        conn.execute(
            "INSERT INTO sample_checks (point_id, factor, time, fields, source) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (point_id, factor, at, orjson.dumps(fields).decode(), source),
        )


def point_exists(conn: psycopg.Connection, park: str, plant: str, code: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM points WHERE park_id = %s AND plant_id = %s AND code = %s", (park, plant, code)
    ).fetchone()
    return row is not None
