"""Limit resolution: which limit applies to a point and parameter, from when, and why.

standard (park → plant → point) + point kind (heavy metals at the workshop outlet, the rest at the total
outlet, reuse standards at the reuse outlet) + discharge mode (GB 4287 direct/indirect with the 2015
amendment) + permit overrides with effective dates from the park file. The strictest applies: the lowest
upper and the highest lower bound in force. Pure: park spec in, ``Resolution`` out.

Park ``config`` keys read here (all optional):
    standard: GB21900-2008-T2          # set from the park file's top-level ``standard``
    reuse_standard: GBT19923-2005-process_and_product
    batik: false                       # GB 4287 蜡染 values for NH3-N / TN
    dyeing_pretreatment_plant: false   # GB 4287 amendment note (4): indirect COD 500 / BOD5 150
    municipal_bound: false             # GB 4287 amendment note (3): indirect to municipal → direct limits
    unconfirmed_limits: [FZT01107-2011, "GBT19923-2005-washing:las"]   # opt in to UNCONFIRMED values
    detection_limits: {cr6: 0.004}     # method detection limits for 不得检出 limits (mg/L)
    permits:
      - {plant: shop-01, point: total, parameter: cod, upper: 60, from: 2026-01-01, to: 2027-01-01,
         ref: 91330381MA2XXXX-001P}
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from compliance.models import Limit, LimitSegment, Resolution
from compliance.standards import LimitPoint, Standard, StandardLimit, catalogue
from ingest.core import parameters
from ingest.core.models import ParkSpec, PlantSpec, PointSpec

DEFAULT_REUSE_STANDARD = "GBT19923-2005-process_and_product"
_KIND_TO_POINT: dict[str, LimitPoint | None] = {
    "workshop_outlet": "workshop",
    "total_outlet": "total",
    "central_outlet": "total",  # the central plant's outlet is the park's total outlet
    "reuse_outlet": "reuse",
    "central_inlet": None,
    "intake": None,
}
_POINT_NAMES = {"workshop": "workshop outlet", "total": "total outlet", "reuse": "reuse-water outlet"}
PERMIT_LABEL = "permit "  # a permit override's source label: "permit {ref}"
# A standard's source label: "{id} ({table})", then ", {note}" for a value other than the table's own.
_STANDARD_LABEL = re.compile(r"^(?P<id>\S+) \((?P<table>[^()]*)\)(?:, (?P<note>.+))?$")


@dataclass(frozen=True)
class _Candidate:
    upper: float | None
    lower: float | None
    source: str
    confirmed: bool
    not_detected: bool
    start: datetime | None = None
    end: datetime | None = None


def standard_id(standard: str, mode: str, config: dict[str, object]) -> str:
    """``GB4287-2012-T2`` + mode → the catalogue id for that mode; exact ids pass through."""
    known = catalogue()
    if standard in known:
        return standard
    if mode == "indirect" and config.get("municipal_bound"):
        mode = "direct"  # GB 4287 amendment note (3)
    return f"{standard}-{mode}"


def _local_midnight(value: object, tz: ZoneInfo) -> datetime:
    day = value if isinstance(value, date) else date.fromisoformat(str(value))
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def _standard_candidate(
    std: Standard, lim: StandardLimit, mode: str, config: dict[str, object], reasons: list[str]
) -> _Candidate:
    upper, label = lim.upper, _standard_label(std)
    if lim.upper_batik is not None and config.get("batik"):
        upper, label = lim.upper_batik, f"{label}, batik value"
    if lim.upper_park_pretreatment is not None and mode == "indirect":
        if config.get("dyeing_pretreatment_plant"):
            upper, label = lim.upper_park_pretreatment, f"{label}, amendment note (4) park pre-treatment"
        else:
            reasons.append(f"{std.id}: amendment note (5) value applies (no dyeing_pretreatment_plant)")
    if lim.not_detected:
        mdl = _float_map(config.get("detection_limits")).get(lim.parameter)
        upper = mdl if mdl is not None else 0.0
        reasons.append(
            f"{std.id}: 不得检出 (not detected); breach above "
            + (f"the park's detection limit {mdl}" if mdl is not None else "0 (set config.detection_limits)")
        )
    return _Candidate(upper, lim.lower, label, lim.confirmed, lim.not_detected)


def _float_map(value: object) -> dict[str, float]:
    return {str(k): float(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _unconfirmed_enabled(config: dict[str, object], std_id: str, code: str) -> bool:
    enabled = config.get("unconfirmed_limits") or []
    return isinstance(enabled, list) and (std_id in enabled or f"{std_id}:{code}" in enabled)


def _from_standard(park: ParkSpec, point: PointSpec, code: str, reasons: list[str]) -> _Candidate | None:
    where = _KIND_TO_POINT[point.kind]
    if where is None:
        reasons.append(f"a {point.kind} point has no discharge limit (it is not a discharge point)")
        return None
    config = park.config
    if where == "reuse":
        own = catalogue().get(point.standard or "")
        sid = own.id if own and own.kind == "reuse" else None
        sid = sid or str(config.get("reuse_standard") or DEFAULT_REUSE_STANDARD)
        reasons.append(f"reuse outlet: reuse-water standard {sid}")
    else:
        base = point.standard or config.get("standard")
        if not base:
            reasons.append("no standard set for the park, plant or point")
            return None
        sid = standard_id(str(base), point.discharge_mode, config)
        reasons.append(f"standard {base}, {point.discharge_mode} discharge: table {sid}")
    std = catalogue().get(sid)
    if std is None:
        reasons.append(f"standard {sid!r} is not in the standards catalogue")
        return None
    lim = std.limit_for(code)
    if lim is None:
        reasons.append(f"{sid} sets no limit for {code}")
        return None
    if lim.point != where:
        reasons.append(f"{sid} limits {code} at the {_POINT_NAMES[lim.point]}, not at a {point.kind}")
        return None
    if std.id.startswith("GB21900") and where == "total" and point.discharge_mode == "indirect":
        reasons.append(
            "GB 21900 cl. 1: indirect dischargers may agree this value with the receiving plant; the table"
            " value applies unless a stricter permit is set"
        )
    candidate = _standard_candidate(std, lim, point.discharge_mode, config, reasons)
    if not lim.confirmed:
        if not _unconfirmed_enabled(config, sid, code):
            reasons.append(f"{sid} value for {code} is UNCONFIRMED: not enforced (config.unconfirmed_limits)")
            return None
        reasons.append(f"{sid} value for {code} is UNCONFIRMED, enforced because the park enabled it")
    return candidate


@dataclass(frozen=True)
class Permit:
    """One entry of the park file's ``permits``: a discharge permit's limit for a plant's point and
    parameter, in force from ``start`` to ``end`` (park-local days; None: open)."""

    ref: str
    plant: str  # the plant's id, or "*" for every plant
    point: str | None  # None: every point of the plant that measures the parameter
    parameter: str
    upper: float | None
    lower: float | None
    start: date | None
    end: date | None


def permits(config: dict[str, object], plant: str | None = None) -> list[Permit]:
    """The permit entries of a park's config (of one plant, with those for every plant)."""
    found = config.get("permits") or []
    out = []
    for e in found if isinstance(found, list) else []:
        if not isinstance(e, dict) or not e.get("parameter"):
            continue
        entry = Permit(
            ref=str(e.get("ref", "permit")),
            plant=str(e.get("plant", plant or "*")),
            point=None if e.get("point") is None else str(e["point"]),
            parameter=str(e["parameter"]),
            upper=None if e.get("upper") is None else float(e["upper"]),
            lower=None if e.get("lower") is None else float(e["lower"]),
            start=_day(e.get("from")),
            end=_day(e.get("to")),
        )
        if plant is None or entry.plant in (plant, "*"):
            out.append(entry)
    return out


def _day(value: object) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _from_permits(
    park: ParkSpec, plant: PlantSpec, point: PointSpec, code: str, reasons: list[str]
) -> list[_Candidate]:
    tz = ZoneInfo(park.timezone)
    found = []
    for entry in permits(park.config, plant.id):
        if entry.parameter != code or (entry.point or point.id) != point.id:
            continue
        start = _local_midnight(entry.start, tz) if entry.start else None
        end = _local_midnight(entry.end, tz) if entry.end else None
        label = PERMIT_LABEL + entry.ref
        found.append(_Candidate(entry.upper, entry.lower, label, True, False, start, end))
        reasons.append(
            f"permit {entry.ref}: upper={entry.upper} lower={entry.lower}"
            f" from {entry.start or '-'} to {entry.end or '-'}"
        )
    return found


def _strictest(cands: list[_Candidate], unit: str) -> Limit | None:
    uppers = [c for c in cands if c.upper is not None]
    lowers = [c for c in cands if c.lower is not None]
    if not uppers and not lowers:
        return None
    up = min(uppers, key=lambda c: c.upper or 0.0) if uppers else None
    lo = max(lowers, key=lambda c: c.lower or 0.0) if lowers else None
    return Limit(
        upper=up.upper if up else None,
        lower=lo.lower if lo else None,
        unit=unit,
        upper_source=up.source if up else None,
        lower_source=lo.source if lo else None,
        confirmed=all(c.confirmed for c in (up, lo) if c is not None),
        not_detected=bool(up and up.not_detected),
    )


def _timeline(standard: _Candidate | None, permits: list[_Candidate], unit: str) -> list[LimitSegment]:
    edges = sorted({t for c in permits for t in (c.start, c.end) if t is not None})
    bounds: list[datetime | None] = [None, *edges, None]
    segments: list[LimitSegment] = []
    for start, end in itertools.pairwise(bounds):
        probe = start or (end or datetime.now(UTC))
        in_force = [c for c in permits if _covers(c, probe, start is None)]
        limit = _strictest(([standard] if standard else []) + in_force, unit)
        if limit is None:
            continue
        if segments and segments[-1].limit == limit and segments[-1].valid_to == start:
            segments[-1] = LimitSegment(segments[-1].valid_from, end, limit)
        else:
            segments.append(LimitSegment(start, end, limit))
    return segments


def _covers(c: _Candidate, t: datetime, before_all: bool) -> bool:
    if before_all:  # the open segment before the first edge: only permits without a start
        return c.start is None
    return (c.start is None or c.start <= t) and (c.end is None or t < c.end)


def resolve(
    park: ParkSpec, plant: PlantSpec, point: PointSpec, code: str, at: datetime | None = None
) -> Resolution:
    reasons: list[str] = []
    unit = parameters.BY_CODE[code].unit
    standard = _from_standard(park, point, code, reasons)
    permits = _from_permits(park, plant, point, code, reasons)
    segments = _timeline(standard, permits, unit)
    when = at or datetime.now(UTC)
    current = next(
        (
            s.limit
            for s in segments
            if (s.valid_from is None or s.valid_from <= when) and (s.valid_to is None or when < s.valid_to)
        ),
        None,
    )
    if current is not None and permits:
        reasons.append(f"strictest in force at {when:%Y-%m-%d}: {current.source}")
    return Resolution(code, current, tuple(reasons), tuple(segments))


def resolve_park(park: ParkSpec) -> list[tuple[PlantSpec, PointSpec, Resolution]]:
    return [
        (plant, point, resolve(park, plant, point, code))
        for plant in park.plants
        for point in plant.points
        for code in point.parameters
    ]


def describe(plant_id: str, point: PointSpec, res: Resolution) -> list[str]:
    """Human-readable lines for ``outfall limits show``."""
    lim = res.limit
    head = f"{plant_id}/{point.id} ({point.kind}, {point.discharge_mode}) {res.parameter}: "
    if lim is None:
        head += "no limit"
    else:
        rng = (
            f"{lim.lower}-{lim.upper}"
            if lim.lower is not None and lim.upper is not None
            else (f">= {lim.lower}" if lim.lower is not None else f"<= {lim.upper}")
        )
        head += f"{rng} {lim.unit} from {lim.source}" + ("" if lim.confirmed else " [UNCONFIRMED]")
    lines = [head]
    instrument = point.parameters.get(res.parameter)
    if instrument and instrument != parameters.BY_CODE[res.parameter].unit:
        lines.append(
            f"    instrument reports {instrument}; converted to {parameters.BY_CODE[res.parameter].unit}"
        )
    lines += [f"    why: {r}" for r in res.reasons]
    for seg in res.segments if len(res.segments) > 1 else ():
        lines.append(f"    period {seg.valid_from or '-'} .. {seg.valid_to or '-'}: upper {seg.limit.upper}")
    return lines


# --- where a stored limit comes from ------------------------------------------------------------------
def _standard_label(std: Standard) -> str:
    return f"{std.id} ({std.table})"


@dataclass(frozen=True)
class LimitSource:
    """One source of a stored limit (``compliance_limits.source``), read back from the label written by
    this module: a standard's table (with its catalogue entry) or a permit override (with its entry)."""

    kind: Literal["standard", "permit", "other"]
    label: str
    standard: str | None = None  # the catalogue id, e.g. GB21900-2008-T2
    title: str | None = None
    table: str | None = None
    url: str | None = None
    note: str | None = None  # a value other than the table's own (batik, amendment note (4))
    permit: str | None = None  # the permit's reference


def sources(label: str) -> tuple[LimitSource, ...]:
    """The sources of a stored limit: its upper bound's, then its lower bound's when they differ."""
    return tuple(_source(part) for part in label.split("; ") if part)


def _source(label: str) -> LimitSource:
    if label.startswith(PERMIT_LABEL):
        return LimitSource("permit", label, permit=label[len(PERMIT_LABEL) :])
    m = _STANDARD_LABEL.match(label)
    std = catalogue().get(m["id"]) if m else None
    if m is None or std is None:
        return LimitSource("other", label)
    return LimitSource("standard", label, std.id, std.title, std.table, std.source_url, m["note"], None)
