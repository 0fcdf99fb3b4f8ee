"""The named reads of ingest's tables that other packages run (see ingest/query.py): the registry
(parks, plants, points), readings, and the figures /healthz and /metrics show. The tables' one writer is
``ingest/repo.py``; keeping the reads offered to others here keeps both modules small. Each read is a
function returning a ``Query``: ``.fetch(conn)`` on a sync connection, ``await .fetch_async(conn)`` on
an async one. Valid values are flags N and S (the domain's rule: only they count for compliance)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from ingest.core.query import Query


# --- registry -------------------------------------------------------------------------------------------
# Every registry read takes the caller's scope (park, plant; None = all), so an object outside it is
# simply not found.
@dataclass(frozen=True)
class ParkRow:
    id: str
    name: str
    timezone: str
    industry: str
    config: dict[str, Any]
    loaded_at: datetime
    plants: int  # in the plant scope


def parks(park: str | None, plant: str | None) -> Query[ParkRow]:
    return Query(
        "SELECT k.id, k.name, k.timezone, k.industry, k.config, k.loaded_at,"
        " (SELECT count(*) FROM plants pl WHERE pl.park_id = k.id AND"
        "  (%(sl)s::text IS NULL OR pl.id = %(sl)s)) AS plants"
        " FROM parks k WHERE (%(sp)s::text IS NULL OR k.id = %(sp)s) ORDER BY k.id",
        {"sp": park, "sl": plant},
        ParkRow,
    )


@dataclass(frozen=True)
class PlantRow:
    id: str
    name: str
    kind: str
    points: int  # active ones
    site_x: float | None = None  # on the park's site plan, % of its width (park file `position`)
    site_y: float | None = None


def plants(park: str, plant: str | None) -> Query[PlantRow]:
    return Query(
        "SELECT pl.id, pl.name, pl.kind, count(pt.id) FILTER (WHERE pt.active) AS points,"
        " pl.site_x, pl.site_y FROM plants pl"
        " LEFT JOIN points pt ON pt.park_id = pl.park_id AND pt.plant_id = pl.id"
        " WHERE pl.park_id = %(park)s AND (%(sl)s::text IS NULL OR pl.id = %(sl)s)"
        " GROUP BY pl.id, pl.name, pl.kind, pl.site_x, pl.site_y ORDER BY pl.id",
        {"park": park, "sl": plant},
        PlantRow,
    )


@dataclass(frozen=True)
class PointRow:
    id: int
    park: str
    plant: str
    code: str
    name: str
    kind: str
    discharge_mode: str
    standard: str | None
    mn: str | None
    interval_s: int
    active: bool
    timezone: str
    parameter_ids: list[int]
    units: list[str]  # the instrument unit of each parameter, in the same order

    @cached_property
    def parameters(self) -> dict[int, str]:
        """Parameter id -> instrument unit."""
        return dict(zip(self.parameter_ids, self.units, strict=True))


def points(park: str, plant: str | None = None, code: str | None = None) -> Query[PointRow]:
    return Query(
        "SELECT p.id, p.park_id AS park, p.plant_id AS plant, p.code, p.name, p.kind, p.discharge_mode,"
        " p.standard, p.mn, p.interval_s, p.active, k.timezone,"
        " coalesce(array_agg(pp.parameter_id ORDER BY pp.parameter_id)"
        "  FILTER (WHERE pp.point_id IS NOT NULL), '{}') AS parameter_ids,"
        " coalesce(array_agg(pp.unit ORDER BY pp.parameter_id)"
        "  FILTER (WHERE pp.point_id IS NOT NULL), '{}') AS units"
        " FROM points p JOIN parks k ON k.id = p.park_id LEFT JOIN point_parameters pp ON pp.point_id = p.id"
        " WHERE p.park_id = %(park)s AND (%(plant)s::text IS NULL OR p.plant_id = %(plant)s)"
        " AND (%(code)s::text IS NULL OR p.code = %(code)s)"
        " GROUP BY p.id, k.timezone ORDER BY p.plant_id, p.code",
        {"park": park, "plant": plant, "code": code},
        PointRow,
    )


@dataclass(frozen=True)
class LoggerPoint:
    """A point as the broker knows it: the data logger that reports it (ingest/mqtt/accounts.py)."""

    park: str
    plant: str
    point: str
    mn: str | None


def logger_points(park: str | None = None) -> Query[LoggerPoint]:
    """The active points (of one park, or of all), each reported by one data logger."""
    return Query(
        "SELECT park_id AS park, plant_id AS plant, code AS point, mn FROM points"
        " WHERE active AND (%(park)s::text IS NULL OR park_id = %(park)s) ORDER BY park_id, plant_id, code",
        {"park": park},
        LoggerPoint,
    )


# --- readings -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RawReading:
    time: datetime
    parameter_id: int
    value: float
    flag: str


def raw_readings(
    point_id: int, parameter_ids: Sequence[int], start: datetime, end: datetime, limit: int
) -> Query[RawReading]:
    """Stored and archived readings alike (``readings_range``, migration 070), in time order."""
    return Query(
        "SELECT time, parameter_id, value, flag::text AS flag"
        " FROM readings_range(ARRAY[%s]::integer[], %s::smallint[], %s, %s)"
        " ORDER BY time, parameter_id LIMIT %s",
        (point_id, list(parameter_ids), start, end, limit),
        RawReading,
    )


def hot_readings(
    point_id: int, parameter_ids: Sequence[int], start: datetime, end: datetime, limit: int
) -> Query[RawReading]:
    """Readings not archived yet (the hot table only), in time order, times naive UTC: one side of
    ``ingest/core/ranges.py``'s raw range."""
    return Query(
        "SELECT time AT TIME ZONE 'UTC' AS time, parameter_id, value, flag::text AS flag FROM readings"
        " WHERE point_id = %s AND parameter_id = ANY(%s) AND time >= %s AND time < %s"
        " ORDER BY time, parameter_id LIMIT %s",
        (point_id, list(parameter_ids), start, end, limit),
        RawReading,
    )


@dataclass(frozen=True)
class StoredReading:
    """A reading as stored, with when and how it arrived (an evidence bundle's readings.csv)."""

    time: datetime
    parameter_id: int
    value: float
    flag: str
    received_at: datetime
    source: str


def stored_readings(point_id: int, start: datetime, end: datetime, limit: int) -> Query[StoredReading]:
    """Every parameter of a point over [start, end] of data time, oldest first, stored or archived (an
    archived reading's receipt is kept to the second)."""
    return Query(
        "SELECT time, parameter_id, value, flag::text AS flag, received_at, source FROM readings"
        " WHERE point_id = %(p)s AND time >= %(a)s AND time <= %(b)s"
        " UNION ALL SELECT u.time, a.parameter_id, u.value, u.flag::text, u.received_at, u.source"
        " FROM readings_archive a CROSS JOIN LATERAL readings_archive_rows(a) u WHERE a.point_id = %(p)s"
        " AND a.day >= (%(a)s AT TIME ZONE 'UTC')::date AND a.day <= (%(b)s AT TIME ZONE 'UTC')::date"
        " AND u.time >= %(a)s AND u.time <= %(b)s ORDER BY 1, 2 LIMIT %(n)s",
        {"p": point_id, "a": start, "b": end, "n": limit},
        StoredReading,
    )


@dataclass(frozen=True)
class RawMessage:
    """An accepted message as received (``raw_messages``): the bytes, and when and how they came."""

    time: datetime  # the data time it carries
    received_at: datetime
    source: str
    peer: str | None  # the TCP peer of a frame from the gateway
    payload: bytes


def raw_messages(point_id: int, start: datetime, end: datetime, limit: int) -> Query[RawMessage]:
    """A point's messages carrying a data time in [start, end], in data time then arrival order."""
    return Query(
        "SELECT time, received_at, source, peer, payload FROM raw_messages"
        " WHERE point_id = %s AND time >= %s AND time <= %s ORDER BY time, received_at, digest LIMIT %s",
        (point_id, start, end, limit),
        RawMessage,
    )


@dataclass(frozen=True)
class LatestReading:
    point_id: int
    parameter_id: int
    time: datetime
    value: float
    flag: str


def latest_readings(point_ids: Sequence[int]) -> Query[LatestReading]:
    """The newest reading of every (point, parameter) in the last two days. The bound lets TimescaleDB
    skip all but the newest chunks; an instrument silent for longer shows as never seen. Two days are
    always in the hot table (compaction leaves at least three)."""
    return Query(
        "SELECT pp.point_id, pp.parameter_id, r.time, r.value, r.flag::text AS flag FROM point_parameters pp"
        " CROSS JOIN LATERAL (SELECT time, value, flag FROM readings r WHERE r.point_id = pp.point_id"
        "  AND r.parameter_id = pp.parameter_id AND r.time > now() - interval '2 days'"
        "  ORDER BY r.time DESC LIMIT 1) r"
        " WHERE pp.point_id = ANY(%s)",
        (list(point_ids),),
        LatestReading,
    )


@dataclass(frozen=True)
class LoggerTotal:
    point_id: int
    parameter_id: int
    cou: float  # m3 for flow, kg for pollutants (logger_statistics)


def logger_totals(point_ids: Sequence[int], start: datetime, end: datetime) -> Query[LoggerTotal]:
    """The data loggers' own HJ 212 ``Cou`` totals over [start, end) per (point, parameter): the sum of
    their hourly records (CN 2061) flagged N or S, or of their minute records (CN 2051) for a series
    that sends no hourly ones. Records are timed at the start of their interval (HJ 212 DataTime)."""
    return Query(
        "SELECT point_id, parameter_id, coalesce(sum(cou) FILTER (WHERE period = 'hour'),"
        " sum(cou) FILTER (WHERE period = 'minute')) AS cou FROM logger_statistics"
        " WHERE point_id = ANY(%s) AND period IN ('hour', 'minute') AND time >= %s AND time < %s"
        " AND flag IN ('N', 'S') AND cou IS NOT NULL GROUP BY point_id, parameter_id",
        (list(point_ids), start, end),
        LoggerTotal,
    )


# --- reads for /healthz and /metrics (see ingest/query.py) ----------------------------------------------
@dataclass(frozen=True)
class Heartbeat:
    name: str
    kind: str
    age_s: float  # since the last beat
    up_s: float  # since the process started
    detail: dict[str, Any]


def heartbeats() -> Query[Heartbeat]:
    return Query(
        "SELECT name, kind, extract(epoch FROM now() - beat_at)::float8 AS age_s,"
        " extract(epoch FROM now() - started_at)::float8 AS up_s, detail FROM component_heartbeats"
        " ORDER BY kind, name",
        (),
        Heartbeat,
    )


@dataclass(frozen=True)
class IngestTotals:
    messages: int
    readings: int
    duplicates: int
    rejects: int
    last_commit_age_s: float | None  # None: no worker has committed yet
    dead_letters: int


def ingest_totals() -> Query[IngestTotals]:
    """Every worker's counters summed, and the rows in the dead-letter table."""
    return Query(
        "SELECT coalesce(sum(messages), 0)::bigint AS messages,"
        " coalesce(sum(readings), 0)::bigint AS readings,"
        " coalesce(sum(duplicates), 0)::bigint AS duplicates, coalesce(sum(rejects), 0)::bigint AS rejects,"
        " extract(epoch FROM now() - max(updated_at))::float8 AS last_commit_age_s,"
        " (SELECT count(*) FROM dead_letters) AS dead_letters FROM ingest_counters",
        (),
        IngestTotals,
    )


# --- HJ 212-2025 loggers --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoggerQuirk:
    point_id: int
    mn: str
    quirk: str
    count: int
    first_seen: datetime
    last_seen: datetime


def logger_quirks(point_ids: Sequence[int]) -> Query[LoggerQuirk]:
    """What each point's logger sends that the standard does not allow, counted per quirk."""
    return Query(
        "SELECT point_id, mn, quirk, count, first_seen, last_seen FROM logger_quirks"
        " WHERE point_id = ANY(%(ids)s) ORDER BY point_id, quirk",
        {"ids": list(point_ids)},
        LoggerQuirk,
    )


@dataclass(frozen=True)
class LoggerBeat:
    point_id: int
    last_beat: datetime


def logger_beats(point_ids: Sequence[int], since: datetime) -> Query[LoggerBeat]:
    """The latest CN 9015 heartbeat per point (a logger alive without readings to send)."""
    return Query(
        "SELECT point_id, last_beat FROM logger_heartbeats"
        " WHERE point_id = ANY(%(ids)s) AND last_beat >= %(since)s",
        {"ids": list(point_ids), "since": since},
        LoggerBeat,
    )


# --- data loggers, as the plant file shows them -----------------------------------------------------------
@dataclass(frozen=True)
class MessageStamp:
    """When a message was stored against the times it carries: its data time, and for an HJ 212 frame
    its QN (``YYYYMMDDhhmmsszzz`` on the logger's clock, when it built the frame). Nothing stores a
    logger's clock offset (the HJ 212 gateway keeps its last frames' in memory, to decide on CN 1012),
    so the plant file derives it from these, as the gateway does: QN first."""

    point_id: int
    time: datetime
    received_at: datetime
    qn: str | None


def message_stamps(
    point_ids: Sequence[int], received_since: datetime, data_since: datetime, per_point: int
) -> Query[MessageStamp]:
    """Each point's newest ``per_point`` messages stored since ``received_since`` with a data time after
    ``data_since`` (the bound that keeps the scan to the newest chunks), first sendings only (not
    HJ 212-2025 back-fill, ``RF=1``). Only the QN leaves the database: the header also holds the PW."""
    return Query(
        "SELECT p.id AS point_id, m.time, m.received_at, m.qn FROM unnest(%s::integer[]) AS p(id)"
        " CROSS JOIN LATERAL (SELECT r.time, r.received_at, CASE WHEN r.source LIKE '%%hj212%%' THEN"
        "  substring(split_part(encode(substring(r.payload FROM 1 FOR 256), 'escape'), 'CP=&&', 1)"
        "  FROM '(?:^|;|##[0-9]{4})QN=([0-9]{14,17})(?:;|$)') END AS qn"
        "  FROM raw_messages r WHERE r.point_id = p.id AND r.time > %s AND r.received_at >= %s"
        "  AND r.source NOT LIKE '%%:backfill' ORDER BY r.time DESC LIMIT %s) m",
        (list(point_ids), data_since, received_since, per_point),
        MessageStamp,
    )


@dataclass(frozen=True)
class LastMessage:
    """A point's newest accepted message (by data time): how it came, and for an HJ 212 frame the
    header's ``Flag`` (its edition is in the version bits); no other byte of the message."""

    point_id: int
    time: datetime
    received_at: datetime
    source: str  # mqtt-json, mqtt-hj212, tcp-hj212[:backfill]
    flag: str | None  # an HJ 212 header's Flag field; None: not HJ 212, or no Flag (2005-era)


def last_messages(point_ids: Sequence[int], data_since: datetime) -> Query[LastMessage]:
    """Each point's newest message with a data time after ``data_since``. Only the header's Flag
    leaves the database: the header also carries the logger's PW."""
    return Query(
        "SELECT p.id AS point_id, m.time, m.received_at, m.source, m.flag"
        " FROM unnest(%s::integer[]) AS p(id) CROSS JOIN LATERAL (SELECT r.time, r.received_at, r.source,"
        "  CASE WHEN r.source LIKE '%%hj212%%' THEN"
        "  substring(split_part(encode(substring(r.payload FROM 1 FOR 256), 'escape'), 'CP=&&', 1)"
        "  FROM '(?:^|;)Flag=([0-9]{1,3})(?:;|$)') END AS flag"
        "  FROM raw_messages r WHERE r.point_id = p.id AND r.time > %s ORDER BY r.time DESC LIMIT 1) m",
        (list(point_ids), data_since),
        LastMessage,
    )
