"""Named reads of the legal record (``compliance_windows``, written by compliance/repo/windows.py): the
stored hourly, daily and monthly means of every series with what they stand on, and the counts, volumes
and masses behind the KPIs. The API, reports and charts read the record only through these (see
ingest/core/query.py); none of them recomputes a mean from raw readings.

Windows are park-local calendar hours, days and months (``span``: hour | day | month), keyed by their
UTC start. An hour is on record once it is closed and had readings; a closed day and its month are on
record for every series its point measures, received or not (a silent day: ``n_total`` 0). A month row
covers the days of it closed so far. ``sufficient``: a valid mean by the ``rule`` stored with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from ingest.core.query import Query


@dataclass(frozen=True)
class WindowMean:
    """A stored mean in the readings API's shape (``bucket=1h|1d``)."""

    time: datetime  # the window's start
    parameter_id: int
    mean: float | None  # of its valid values (see RecordRow.sufficient for whether it is a valid mean)
    valid: int
    total: int


def window_means(
    point_id: int, parameter_ids: Sequence[int], span: str, start: datetime, end: datetime
) -> Query[WindowMean]:
    """A point's stored windows of one span starting in [start, end) that received anything."""
    return Query(
        "SELECT start_at AS time, parameter_id, mean, n_valid AS valid, n_total AS total"
        " FROM compliance_windows WHERE point_id = %s AND parameter_id = ANY(%s) AND span = %s"
        " AND start_at >= %s AND start_at < %s AND n_total > 0 ORDER BY start_at, parameter_id",
        (point_id, list(parameter_ids), span, start, end),
        WindowMean,
    )


@dataclass(frozen=True)
class RecordRow:
    """One window of the legal record, whole."""

    parameter_id: int
    span: str
    start: datetime
    end: datetime
    mean: float | None
    min: float | None
    max: float | None
    n_valid: int
    n_total: int
    n_expected: int
    sufficient: bool
    verdict: str  # ok | exceeded | insufficient | no_limit; not_judged for months
    limit_upper: float | None
    flags: dict[str, int]
    rule: str
    parts: int | None
    parts_valid: int | None
    volume_m3: float | None
    mass_kg: float | None
    mass_method: str | None
    cou: float | None
    judged_at: datetime


def record(
    point_id: int, parameter_ids: Sequence[int], span: str, start: datetime, end: datetime, limit: int
) -> Query[RecordRow]:
    """A point's windows of one span starting in [start, end), oldest first."""
    return Query(
        "SELECT parameter_id, span, start_at AS start, end_at AS end, mean, min, max, n_valid, n_total,"
        " n_expected, sufficient, verdict, limit_upper, flags, rule, parts, parts_valid, volume_m3, mass_kg,"
        " mass_method, cou, judged_at FROM compliance_windows WHERE point_id = %s"
        " AND parameter_id = ANY(%s) AND span = %s AND start_at >= %s AND start_at < %s"
        " ORDER BY start_at, parameter_id LIMIT %s",
        (point_id, list(parameter_ids), span, start, end, limit),
        RecordRow,
    )


@dataclass(frozen=True)
class ParkWindow:
    """One series' window of a park's day or month, with its point: the stuff of KPIs, mass and the
    monthly report."""

    plant: str
    point: str
    point_kind: str
    point_id: int
    parameter_id: int
    mean: float | None
    n_valid: int
    n_total: int
    n_expected: int
    sufficient: bool
    verdict: str
    parts: int | None
    parts_valid: int | None
    volume_m3: float | None
    mass_kg: float | None
    mass_method: str | None
    cou: float | None


def park_windows(park: str, plant: str | None, span: str, start: datetime) -> Query[ParkWindow]:
    """Every stored window of a park (or one plant) of one span starting at ``start`` (a park-local
    day's or month's UTC start), by plant and point."""
    return Query(
        "SELECT p.plant_id AS plant, p.code AS point, p.kind AS point_kind, w.point_id, w.parameter_id,"
        " w.mean, w.n_valid, w.n_total, w.n_expected, w.sufficient, w.verdict, w.parts, w.parts_valid,"
        " w.volume_m3, w.mass_kg, w.mass_method, w.cou"
        " FROM compliance_windows w JOIN points p ON p.id = w.point_id"
        " WHERE p.park_id = %(park)s AND (%(plant)s::text IS NULL OR p.plant_id = %(plant)s)"
        " AND w.span = %(span)s AND w.start_at = %(start)s ORDER BY p.plant_id, p.code, w.parameter_id",
        {"park": park, "plant": plant, "span": span, "start": start},
        ParkWindow,
    )


@dataclass(frozen=True)
class DatedWindow(ParkWindow):
    """A park window with its start: one of several days or months read at once."""

    start: datetime


def park_windows_between(
    park: str, plant: str | None, span: str, start: datetime, end: datetime
) -> Query[DatedWindow]:
    """Every stored window of a park (or one plant) of one span starting in [start, end), by start,
    plant and point (a plant file's months in one read)."""
    return Query(
        "SELECT p.plant_id AS plant, p.code AS point, p.kind AS point_kind, w.point_id, w.parameter_id,"
        " w.mean, w.n_valid, w.n_total, w.n_expected, w.sufficient, w.verdict, w.parts, w.parts_valid,"
        " w.volume_m3, w.mass_kg, w.mass_method, w.cou, w.start_at AS start"
        " FROM compliance_windows w JOIN points p ON p.id = w.point_id"
        " WHERE p.park_id = %(park)s AND (%(plant)s::text IS NULL OR p.plant_id = %(plant)s)"
        " AND w.span = %(span)s AND w.start_at >= %(start)s AND w.start_at < %(end)s"
        " ORDER BY w.start_at, p.plant_id, p.code, w.parameter_id",
        {"park": park, "plant": plant, "span": span, "start": start, "end": end},
        DatedWindow,
    )


@dataclass(frozen=True)
class ClosedWindow:
    start: datetime


def closed(park: str, span: str, start: datetime, end: datetime) -> Query[ClosedWindow]:
    """The park's hours or days compliance has closed, starting in [start, end)."""
    return Query(
        "SELECT start_at AS start FROM compliance_closed WHERE park_id = %s AND span = %s"
        " AND start_at >= %s AND start_at < %s ORDER BY start_at",
        (park, span, start, end),
        ClosedWindow,
    )


@dataclass(frozen=True)
class HourSoFar:
    """A closed hour of a series today (the status page's running figures)."""

    point_id: int
    parameter_id: int
    start: datetime
    mean: float | None
    n_valid: int
    n_total: int
    sufficient: bool


def hours_in(point_ids: Sequence[int], start: datetime, end: datetime) -> Query[HourSoFar]:
    """The stored hours of these points starting in [start, end)."""
    return Query(
        "SELECT point_id, parameter_id, start_at AS start, mean, n_valid, n_total, sufficient"
        " FROM compliance_windows WHERE point_id = ANY(%s) AND span = 'hour' AND start_at >= %s"
        " AND start_at < %s ORDER BY start_at",
        (list(point_ids), start, end),
        HourSoFar,
    )


@dataclass(frozen=True)
class DayWindow:
    """A stored park-local day of one series, with its point: a cell of a report's daily table."""

    start: datetime  # the day's UTC start
    point_id: int
    parameter_id: int
    mean: float | None
    max: float | None
    n_valid: int
    n_total: int
    n_expected: int
    sufficient: bool
    verdict: str
    limit_upper: float | None


def day_windows(park: str, plant: str | None, start: datetime, end: datetime) -> Query[DayWindow]:
    """Every stored day of a park (or one plant) starting in [start, end): a report's month or quarter."""
    return Query(
        "SELECT w.start_at AS start, w.point_id, w.parameter_id, w.mean, w.max, w.n_valid, w.n_total,"
        " w.n_expected, w.sufficient, w.verdict, w.limit_upper"
        " FROM compliance_windows w JOIN points p ON p.id = w.point_id"
        " WHERE p.park_id = %(park)s AND (%(plant)s::text IS NULL OR p.plant_id = %(plant)s)"
        " AND w.span = 'day' AND w.start_at >= %(start)s AND w.start_at < %(end)s"
        " ORDER BY w.start_at, w.point_id, w.parameter_id",
        {"park": park, "plant": plant, "start": start, "end": end},
        DayWindow,
    )


@dataclass(frozen=True)
class ExceededHours:
    """How many stored hours of a series' park-local day compliance judged over the limit."""

    day: date
    point_id: int
    parameter_id: int
    hours: int


def exceeded_hours(
    park: str, plant: str | None, start: datetime, end: datetime, timezone: str
) -> Query[ExceededHours]:
    """Per series and park-local day, the stored hours starting in [start, end) whose verdict is
    ``exceeded`` (hourly valid mean over the limit in force; migration 080 indexes just those)."""
    return Query(
        "SELECT (w.start_at AT TIME ZONE %(tz)s)::date AS day, w.point_id, w.parameter_id,"
        " count(*)::int AS hours FROM compliance_windows w JOIN points p ON p.id = w.point_id"
        " WHERE p.park_id = %(park)s AND (%(plant)s::text IS NULL OR p.plant_id = %(plant)s)"
        " AND w.span = 'hour' AND w.verdict = 'exceeded' AND w.start_at >= %(start)s"
        " AND w.start_at < %(end)s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        {"park": park, "plant": plant, "start": start, "end": end, "tz": timezone},
        ExceededHours,
    )
