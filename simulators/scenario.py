"""The scenario file: scripted incidents, per point and parameter, at times or offsets from the start.

    name: Monday incidents
    start: 2026-11-30T08:00:00+08:00     # optional; --start wins
    duration: 6h                          # optional; --duration wins
    events:
      - id: cod-spike                     # optional; names the event in the ground truth
        type: exceedance                  # see EVENT_TYPES
        shape: spike                      # exceedance: step | ramp | spike
        at: 30m                           # offset from the start (s, m, h, d) or an ISO time with offset
        duration: 10m                     # default: one reporting interval of the point
        plant: shop-01
        point: total
        parameter: cod
        value: 320                        # catalogue unit (mg/L, pH, L/s)

Parsing is pure: text in, a ``Scenario`` or a ``ScenarioError`` naming the event, its line and field out;
``resolve`` checks the events against the park and turns offsets into times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.core import parameters
from ingest.core.models import ParkSpec, PointSpec
from simulators.records import DEFECTS

# Events that change values at one parameter, events that flag a point's values, events that change
# how a point's messages travel, and events on the park's water balance.
VALUE_EVENTS = ("exceedance", "heavy_metal_ug", "drift", "flatline", "over_range", "implausible")
FLAG_EVENTS = ("maintenance", "calibration", "fault")
DELIVERY_EVENTS = ("dropout", "late_batch", "duplicates", "out_of_order", "malformed", "clock_skew")
PARK_EVENTS = ("reuse_drop", "bypass")
EVENT_TYPES = VALUE_EVENTS + FLAG_EVENTS + DELIVERY_EVENTS + PARK_EVENTS
NEEDS_VALUE = ("exceedance", "heavy_metal_ug", "over_range")
HEAVY_METALS = frozenset({"hg", "cd", "cr6", "as", "pb", "cr_total", "ni", "tl", "sb", "cu", "zn", "ag"})

_SPAN = re.compile(r"^([+-]?)(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the event and the field."""


def span(text: str) -> timedelta:
    """``90m``, ``-5m``, ``1.5h``: a signed duration."""
    match = _SPAN.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration: use a number and s, m, h or d, e.g. 90m or -5m")
    seconds = float(match[2]) * _SECONDS[match[3]]
    return timedelta(seconds=-seconds if match[1] == "-" else seconds)


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    at: str | datetime = "0s"
    duration: str | None = None
    plant: str | None = None
    point: str | None = None
    parameter: str | None = None
    shape: Literal["step", "ramp", "spike"] = "step"
    value: float | None = None
    by: float | None = None
    flag: Literal["D", "B", "F"] = "D"
    delay: str = "2h"
    copies: int = Field(default=3, ge=2, le=100)
    defect: Literal[DEFECTS] | None = None  # type: ignore[valid-type]
    offset: str | None = None
    factor: float = Field(default=0.3, ge=0.0, le=1.0)
    fraction: float = Field(default=1.0, gt=0.0, le=1.0)

    @field_validator("duration", "delay", "offset")
    @classmethod
    def _span(cls, value: str | None) -> str | None:
        if value is not None:
            span(value)
        return value

    @field_validator("at")
    @classmethod
    def _at(cls, value: str | datetime) -> str | datetime:
        if isinstance(value, str) and not _SPAN.match(value.strip()):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is neither an offset like 90m nor an ISO time") from None
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("an absolute time needs a UTC offset, e.g. 2026-11-30T09:00:00+08:00")
            return value
        return value


class _Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "scenario"
    description: str | None = None
    start: datetime | None = None
    duration: str | None = None
    events: list[_Event] = Field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    name: str
    start: datetime | None
    duration: timedelta | None
    events: tuple[_Event, ...]
    source: str
    lines: tuple[int, ...]  # line of each event in the file


@dataclass(frozen=True)
class Event:
    """One resolved event: where, when and how, checked against the park."""

    id: str
    type: str
    start: datetime
    end: datetime
    plant: str | None
    point: str | None
    parameter: str | None
    spec: _Event


def parse(text: str, source: str = "<scenario>") -> Scenario:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a YAML mapping with a list of events")
    lines = _event_lines(root)
    try:
        model = _Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:20]:
            loc = err["loc"]
            where = "top level"
            if len(loc) > 1 and loc[0] == "events" and isinstance(loc[1], int):
                where = f"event {loc[1] + 1} (line {lines[loc[1]] if loc[1] < len(lines) else '?'})"
                loc = loc[2:]
            problems.append(f"{source}: {where}: field {'.'.join(map(str, loc)) or '(root)'}: {err['msg']}")
        raise ScenarioError("\n".join(problems)) from None
    duration = span(model.duration) if model.duration else None
    if model.start is not None and model.start.tzinfo is None:
        raise ScenarioError(f"{source}: start needs a UTC offset")
    return Scenario(model.name, model.start, duration, tuple(model.events), source, tuple(lines))


def _event_lines(root: yaml.Node | None) -> list[int]:
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "events" and isinstance(value, yaml.SequenceNode):
            return [node.start_mark.line + 1 for node in value.value]
    return []


def resolve(scenario: Scenario, park: ParkSpec, start: datetime) -> list[Event]:
    """Check every event against the park and fix its window; raises ScenarioError naming the event."""
    events = []
    for index, spec in enumerate(scenario.events):
        line = scenario.lines[index] if index < len(scenario.lines) else "?"
        name = spec.id or f"{spec.type}-{index + 1}"
        try:
            events.append(_resolve(spec, name, park, start))
        except ValueError as exc:
            where = f"{scenario.source}: event {index + 1} {name!r} (line {line})"
            raise ScenarioError(f"{where}: {exc}") from None
    return events


def _resolve(spec: _Event, name: str, park: ParkSpec, start: datetime) -> Event:
    plant, point = _target(spec, park)
    parameter = _parameter(spec, point)
    at = spec.at if isinstance(spec.at, datetime) else start + span(spec.at)
    interval = timedelta(seconds=point.interval_s if point else 60)
    length = span(spec.duration) if spec.duration else interval
    if length <= timedelta(0):
        raise ValueError("duration must be positive")
    if spec.type in NEEDS_VALUE and spec.value is None:
        raise ValueError(f"field value is required for {spec.type} (catalogue unit, e.g. mg/L)")
    if spec.type == "drift" and spec.by is None:
        raise ValueError("field by is required for drift (offset reached at the end, catalogue unit)")
    if spec.type == "clock_skew" and spec.offset is None:
        raise ValueError("field offset is required for clock_skew, e.g. -5m or 8h")
    if spec.type == "heavy_metal_ug":
        _check_microgram(spec, point)
    return Event(name, spec.type, at, at + length, plant, point.id if point else None, parameter, spec)


def _target(spec: _Event, park: ParkSpec) -> tuple[str | None, PointSpec | None]:
    if spec.type == "reuse_drop":
        for plant in park.plants:
            for pt in plant.points:
                if pt.kind == "reuse_outlet" and (spec.plant in (None, plant.id)):
                    return plant.id, pt
        raise ValueError("the park has no reuse_outlet point for a reuse_drop")
    plants = {p.id: p for p in park.plants}
    if spec.plant not in plants:
        known = ", ".join(list(plants)[:10]) + (", ..." if len(plants) > 10 else "")
        raise ValueError(f"unknown plant {spec.plant!r}; known: {known}")
    plant = plants[spec.plant]
    if spec.type == "bypass":
        if plant.kind == "central_plant":
            raise ValueError("a bypass loses an enterprise's discharge before the central inlet")
        return plant.id, None
    points = {p.id: p for p in plant.points}
    if spec.point not in points:
        raise ValueError(f"unknown point {spec.point!r} of plant {plant.id}; known: {', '.join(points)}")
    return plant.id, points[spec.point]


def _parameter(spec: _Event, point: PointSpec | None) -> str | None:
    if spec.type in PARK_EVENTS:
        return "flow"
    if spec.parameter is None:
        if spec.type in VALUE_EVENTS:
            raise ValueError(f"field parameter is required for {spec.type}")
        return None
    param = parameters.BY_ALIAS.get(spec.parameter)
    if param is None:
        raise ValueError(f"unknown parameter {spec.parameter!r}")
    if point is None or param.code not in point.parameters:
        measured = ", ".join(point.parameters) if point else ""
        raise ValueError(f"parameter {param.code} is not measured at this point (measured: {measured})")
    return param.code


def _check_microgram(spec: _Event, point: PointSpec | None) -> None:
    code = parameters.BY_ALIAS[spec.parameter or ""].code
    if code not in HEAVY_METALS:
        raise ValueError(f"heavy_metal_ug is for heavy metals; {code} is not one")
    unit = point.parameters[code] if point else ""
    if unit not in ("µg/L", "ug/L"):
        raise ValueError(f"the instrument at this point reports {code} in {unit}; heavy_metal_ug needs µg/L")


def as_dict(event: Event) -> dict[str, Any]:
    """The event as written to the ground truth."""
    extra = event.spec.model_dump(exclude={"id", "type", "at", "duration", "plant", "point", "parameter"})
    relevant = _RELEVANT.get(event.type, ())
    return {
        "id": event.id,
        "type": event.type,
        "plant": event.plant,
        "point": event.point,
        "parameter": event.parameter,
        "start": event.start.isoformat(),
        "end": event.end.isoformat(),
        **{k: v for k, v in extra.items() if k in relevant},
    }


_RELEVANT: dict[str, tuple[str, ...]] = {
    "exceedance": ("shape", "value"),
    "heavy_metal_ug": ("value",),
    "drift": ("by",),
    "flatline": ("value",),
    "over_range": ("value",),
    "implausible": ("value",),
    "calibration": ("value",),
    "fault": ("flag",),
    "late_batch": ("delay",),
    "duplicates": ("copies",),
    "malformed": ("defect",),
    "clock_skew": ("offset",),
    "reuse_drop": ("factor",),
    "bypass": ("fraction",),
}
