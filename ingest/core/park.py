"""The park file: one YAML document describing a park, its plants and their monitoring points.

Parsing is pure: text in, a ``ParkSpec`` or a ``ParkFileError`` naming the line and field out.

    id: demo-park                 # [a-z0-9-]{1,64}, used in MQTT topics
    name: 示范电镀园区
    timezone: Asia/Shanghai       # park-local calendar for hourly/daily means
    industry: electroplating      # electroplating | dyeing | mixed
    standard: GB21900-2008-T2     # default discharge standard of the park's plants
    config: {reuse_target: 0.6}   # park-wide settings read by the compliance engine
    plants:
      - id: shop-01
        name: 电镀一厂
        position: [12, 30]          # on the site plan, % of its width and height (optional)
        points:
          - id: workshop
            kind: workshop_outlet
            discharge_mode: indirect
            mn: 010000A8900016F000169D01     # HJ 212 device id (optional)
            allow_from: [10.8.0.0/16]       # networks its logger may connect from (optional)
            sampler: true                   # its sampler keeps a bottle on a violation (HJ 212 3015)
            serial: ZK-2024-000123          # logger hardware serial, for network entry (CN 1001)
            interval_s: 60                  # expected reporting interval
            parameters: {cr6: µg/L, ni: mg/L, ph: pH}   # or a list: instrument unit = HJ 212 default
"""

from __future__ import annotations

import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)

from ingest.core import parameters, units
from ingest.core.models import ParkSpec, PlantSpec, PointSpec

ID_PATTERN = r"^[a-z0-9-]{1,64}$"
_ID = re.compile(ID_PATTERN)


class ParkFileError(ValueError):
    """A park file that cannot be loaded; the message names the line and the field."""


# How HJ 212-2025 SM4 ciphertext is written inside CP (ingest/hj212/sm4.py FORMS; core cannot import it).
SM4_TEXT_FORMS = ("hex", "hex-tail", "brace")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Point(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    kind: Literal[
        "workshop_outlet", "total_outlet", "central_inlet", "central_outlet", "reuse_outlet", "intake"
    ]
    discharge_mode: Literal["direct", "indirect"] = "indirect"
    # HJ 212-2017 MNs are 24 hex characters, 2005-era ones 14; real loggers also use '_' and '-'.
    mn: str | None = Field(default=None, pattern=r"^[0-9A-Za-z_-]{6,32}$")
    interval_s: int = Field(default=60, gt=0, le=86_400)
    standard: str | None = None
    parameters: dict[str, str | None] | list[str]
    # Networks the point's HJ 212 logger may connect to the gateway from (CIDR, e.g. 10.8.0.0/16).
    allow_from: list[IPvAnyNetwork] = Field(default_factory=list)
    # The point's automatic sampler keeps a bottle when told to (HJ 212 CN 3015, on a violation).
    sampler: bool = False
    # The logger's hardware serial: a logger entering the network with it (CN 1001) is given this MN.
    serial: str | None = Field(default=None, pattern=r"^[0-9A-Za-z_.:-]{4,64}$")

    @field_validator("parameters")
    @classmethod
    def _known_parameters(cls, value: dict[str, str | None] | list[str]) -> dict[str, str | None]:
        as_dict = dict.fromkeys(value) if isinstance(value, list) else dict(value)
        if not as_dict:
            raise ValueError("a point must measure at least one parameter")
        for code, unit in as_dict.items():
            param = parameters.BY_ALIAS.get(code)
            if param is None:
                raise ValueError(
                    f"unknown parameter {code!r}; known: {', '.join(sorted(parameters.BY_CODE))}"
                )
            if unit is not None:
                units.factor(unit, param.unit)  # raises a UnitError (a ValueError) naming the problem
        return as_dict


class _Plant(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    kind: Literal["enterprise", "central_plant"] = "enterprise"
    standard: str | None = None
    # Where the plant sits on the park's site plan: x and y in percent of the plan's width and height,
    # from its top-left corner. Optional; the park overview draws a site plan when plants have one.
    position: tuple[float, float] | None = None
    points: list[_Point] = Field(min_length=1)

    @field_validator("position")
    @classmethod
    def _on_the_plan(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not all(0 <= v <= 100 for v in value):
            raise ValueError("position is [x, y] in percent of the site plan: each from 0 to 100")
        return value

    @model_validator(mode="after")
    def _unique_points(self) -> _Plant:
        _no_duplicates([p.id for p in self.points], "point id")
        return self


class _Park(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    timezone: str = "Asia/Shanghai"
    industry: Literal["electroplating", "dyeing", "mixed"]
    standard: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    plants: list[_Plant] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
            ) from None
        return value

    @field_validator("config")
    @classmethod
    def _hj212_config(cls, value: dict[str, Any]) -> dict[str, Any]:
        """``config.hj212``: ``strict`` (refuse frames with quirks), ``sm4_text`` and ``sm4_text_points``
        (how SM4 ciphertext is written: hex | hex-tail | brace; see ingest/hj212/keys.py), ``edition``
        (2017 | 2025: the park's loggers speak 2025, so `outfall broker provision` issues SM4 keys) and
        ``edition_points`` (per ``plant`` or ``plant/point``), ``sm4_rotate_days`` (how old an SM4 key
        gets before it is rotated through CN 1014; 0: never on schedule)."""
        hj = value.get("hj212", {})
        if not isinstance(hj, dict):
            raise ValueError("config.hj212 must be a mapping")
        known = {"strict", "sm4_text", "sm4_text_points", "edition", "edition_points", "sm4_rotate_days"}
        unknown = set(hj) - known
        if unknown:
            raise ValueError(f"config.hj212: unknown setting(s) {', '.join(sorted(unknown))}")
        if not isinstance(hj.get("strict", False), bool):
            raise ValueError("config.hj212.strict must be true or false")
        editions = [hj.get("edition", "2017"), *dict(hj.get("edition_points") or {}).values()]
        if any(str(e) not in ("2005", "2017", "2025") for e in editions):
            raise ValueError("config.hj212.edition (and edition_points) must be 2005, 2017 or 2025")
        days = hj.get("sm4_rotate_days", 0)
        if isinstance(days, bool) or not isinstance(days, int | float) or days < 0:
            raise ValueError("config.hj212.sm4_rotate_days must be a number of days, 0 or more")
        forms = [hj.get("sm4_text", "hex"), *dict(hj.get("sm4_text_points") or {}).values()]
        bad = [f for f in forms if f not in SM4_TEXT_FORMS]
        if bad:
            raise ValueError(
                f"config.hj212: SM4 text form {bad[0]!r} is not one of {', '.join(SM4_TEXT_FORMS)}"
            )
        return value

    @model_validator(mode="after")
    def _unique(self) -> _Park:
        _no_duplicates([p.id for p in self.plants], "plant id")
        _no_duplicates([pt.mn for p in self.plants for pt in p.points if pt.mn], "mn")
        return self


def _no_duplicates(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


def parse(text: str, source: str = "<park file>") -> ParkSpec:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParkFileError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ParkFileError(f"{source}: a park file is a YAML mapping with id, name, industry and plants")
    # Top-level keys starting with "x-" hold YAML anchors (point templates) and are not fields.
    data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    try:
        park = _Park.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:20]:
            loc = [str(part) for part in err["loc"]]
            line = _line_of(root, err["loc"])
            where = f"line {line}" if line else "top level"
            problems.append(f"{source}: {where}: field {'.'.join(loc) or '(root)'}: {err['msg']}")
        raise ParkFileError("\n".join(problems)) from None
    return _to_spec(park)


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location (deepest node found)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _to_spec(park: _Park) -> ParkSpec:
    plants = []
    for plant in park.plants:
        points = []
        for pt in plant.points:
            params = {}
            for code, unit in pt.parameters.items() if isinstance(pt.parameters, dict) else ():
                param = parameters.BY_ALIAS[code]
                params[param.code] = unit or param.hj212_unit
            points.append(
                PointSpec(
                    id=pt.id,
                    name=pt.name or pt.id,
                    kind=pt.kind,
                    discharge_mode=pt.discharge_mode,
                    interval_s=pt.interval_s,
                    parameters=params,
                    mn=pt.mn,
                    standard=pt.standard or plant.standard or park.standard,
                    allow_from=tuple(str(net) for net in pt.allow_from),
                    sampler=pt.sampler,
                    serial=pt.serial,
                )
            )
        plants.append(
            PlantSpec(plant.id, plant.name, plant.kind, tuple(points), plant.standard, plant.position)
        )
    config = dict(park.config)
    if park.standard:
        config.setdefault("standard", park.standard)
    return ParkSpec(park.id, park.name, park.timezone, park.industry, tuple(plants), config)


def is_valid_id(value: str) -> bool:
    return bool(_ID.match(value))
