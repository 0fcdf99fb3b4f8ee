"""Domain types shared by every package: the park registry and readings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

PointKind = Literal[
    "workshop_outlet", "total_outlet", "central_inlet", "central_outlet", "reuse_outlet", "intake"
]
DischargeMode = Literal["direct", "indirect"]
Industry = Literal["electroplating", "dyeing", "mixed"]
PlantKind = Literal["enterprise", "central_plant"]

# HJ 212-2017 Table 8 data flags. Only N and S are valid for compliance.
FLAGS = frozenset("NFMSDCTB")
VALID_FLAGS = frozenset("NS")


@dataclass(frozen=True)
class PointSpec:
    id: str
    name: str
    kind: PointKind
    discharge_mode: DischargeMode
    interval_s: int
    parameters: dict[str, str]  # canonical parameter code -> instrument unit
    mn: str | None = None
    standard: str | None = None  # overrides the plant's / park's standard
    # networks (CIDR) the HJ 212 logger may connect from; empty: any (the PW is checked regardless)
    allow_from: tuple[str, ...] = ()
    sampler: bool = False  # its sampler keeps a bottle on HJ 212 command 3015 (超标留样)
    serial: str | None = None  # the logger's hardware serial, for HJ 212-2025 network entry (CN 1001)


@dataclass(frozen=True)
class PlantSpec:
    id: str
    name: str
    kind: PlantKind
    points: tuple[PointSpec, ...]
    standard: str | None = None
    position: tuple[float, float] | None = None  # on the park's site plan, % of its width and height


@dataclass(frozen=True)
class ParkSpec:
    id: str
    name: str
    timezone: str
    industry: Industry
    plants: tuple[PlantSpec, ...]
    config: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RegistryPoint:
    """What ingest needs to know about a point to turn wire values into readings."""

    id: int
    park: str
    plant: str
    code: str
    mn: str | None
    timezone: str
    # parameter id -> factor from the instrument unit to the catalogue unit
    factors: dict[int, float]
    allow_from: tuple[str, ...] = ()  # CIDRs the HJ 212 logger may connect from; empty: any
    sampler: bool = False  # its sampler keeps a bottle on HJ 212 command 3015
    serial: str | None = None  # the logger's hardware serial (network entry, CN 1001/1002)


@dataclass(frozen=True)
class Reading:
    point_id: int
    parameter_id: int
    time: datetime  # timezone-aware
    value: float  # catalogue unit
    flag: str
