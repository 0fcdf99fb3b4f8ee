"""The legal record as the API shows it: KPIs and discharged mass of a park, plant or point over a closed
park-local day or month, and a point's stored windows. Response models and pure presentation over the
rows compliance stored; the arithmetic and every judgement (rates, warnings, which points make a plant's
discharge) is compliance's (kpis.py, discharge.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from compliance import discharge, kpis, validity
from compliance.repo.legal import ParkWindow, RecordRow
from ingest.core import parameters

Period = Literal["day", "month"]


class PeriodInfo(BaseModel):
    kind: Period
    label: str  # 2026-11-29 or 2026-11
    start: datetime
    end: datetime
    timezone: str
    closed: bool  # day: compliance has closed it; month: at least one of its days is closed
    days_closed: int  # of the period's days


class Kpi(BaseModel):
    received: int  # values received, whatever their flag
    valid: int  # valid values (flags N, S; plausible)
    expected: int  # from each point's reporting interval
    transmission_rate: float | None  # received / expected, at most 1
    validity_rate: float | None  # valid / received
    effective_rate: float | None  # transmission x validity (数据传输有效率)
    target: float
    below_target: list[str]  # which rates are under the target
    warning: bool  # the effective rate is under the target


class KpiItem(BaseModel):
    id: str  # plant, point or parameter code
    kpi: Kpi


class KpiPage(BaseModel):
    park: str
    plant: str | None
    point: str | None
    period: PeriodInfo
    kpi: Kpi  # of the whole (park in the caller's scope, plant or point)
    items: list[KpiItem]  # its plants, points or parameters
    warnings: list[str]


class ParameterMass(BaseModel):
    parameter: str
    mass_kg: float | None  # discharged mass from valid data only
    method: str | None  # how it was obtained
    logger_cou_kg: float | None  # the data logger's own HJ 212 Cou total, for comparison
    mean: float | None  # the period's mean concentration (mg/L)
    sufficient: bool  # a valid mean by the rule stored with it


class PointMass(BaseModel):
    point: str
    kind: str
    volume_m3: float | None  # water through the point in its valid flow hours
    parameters: list[ParameterMass]


class Discharged(BaseModel):
    parameter: str
    mass_kg: float | None
    points: list[str]
    method: str


class PlantMass(BaseModel):
    plant: str
    discharged: list[Discharged]  # what the plant discharged, per pollutant
    points: list[PointMass]


class MassPage(BaseModel):
    park: str
    period: PeriodInfo
    unit: str = "kg"
    plants: list[PlantMass]


class RecordItem(BaseModel):
    parameter: str
    start: datetime
    end: datetime
    mean: float | None
    min: float | None
    max: float | None
    valid: int
    total: int
    expected: int
    sufficient: bool
    verdict: str
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


class RecordPage(BaseModel):
    park: str
    plant: str
    point: str
    timezone: str
    span: Literal["hour", "day", "month"]
    units: dict[str, str]
    items: list[RecordItem]
    truncated: bool


def _code(parameter_id: int) -> str:
    c = parameters.BY_ID.get(parameter_id)
    return c.code if c else str(parameter_id)


def kpi_model(counts: kpis.Counts, target: float) -> Kpi:
    k = kpis.kpi(counts, target)
    return Kpi(
        received=k.received,
        valid=k.valid,
        expected=k.expected,
        transmission_rate=k.transmission_rate,
        validity_rate=k.validity_rate,
        effective_rate=k.effective_rate,
        target=k.target,
        below_target=list(k.below_target),
        warning=k.warning,
    )


def kpi_items(
    rows: Sequence[ParkWindow], level: Literal["plant", "point", "parameter"], target: float
) -> tuple[Kpi, list[KpiItem], list[str]]:
    """The whole's KPI and its parts' (plants, points or parameters), with a warning per part below the
    target."""
    groups: dict[str, list[kpis.Counts]] = defaultdict(list)
    for r in rows:
        key = r.plant if level == "plant" else r.point if level == "point" else _code(r.parameter_id)
        groups[key].append(kpis.Counts(r.n_total, r.n_valid, r.n_expected))
    items = [KpiItem(id=k, kpi=kpi_model(kpis.total(c), target)) for k, c in sorted(groups.items())]
    warnings = [
        f"{level} {i.id}: effective transmission rate {i.kpi.effective_rate:.1%} is below the target"
        f" {target:.0%}"
        for i in items
        if i.kpi.warning and i.kpi.effective_rate is not None
    ]
    whole = kpi_model(kpis.total(kpis.Counts(r.n_total, r.n_valid, r.n_expected) for r in rows), target)
    return whole, items, warnings


def plant_masses(rows: Sequence[ParkWindow]) -> list[PlantMass]:
    by_plant: dict[str, list[ParkWindow]] = defaultdict(list)
    for r in rows:
        by_plant[r.plant].append(r)
    return [_plant_mass(plant, found) for plant, found in sorted(by_plant.items())]


def _plant_mass(plant: str, rows: Sequence[ParkWindow]) -> PlantMass:
    by_point: dict[str, list[ParkWindow]] = defaultdict(list)
    for r in rows:
        by_point[r.point].append(r)
    points = []
    for code, found in sorted(by_point.items()):
        flow = next((r for r in found if _code(r.parameter_id) == validity.FLOW), None)
        params = [
            ParameterMass(
                parameter=_code(r.parameter_id),
                mass_kg=r.mass_kg,
                method=r.mass_method,
                logger_cou_kg=r.cou,
                mean=r.mean,
                sufficient=r.sufficient,
            )
            for r in found
            if validity.has_mass(_code(r.parameter_id))
        ]
        points.append(
            PointMass(
                point=code,
                kind=found[0].point_kind,
                volume_m3=flow.volume_m3 if flow else None,
                parameters=params,
            )
        )
    masses = [
        discharge.PointMass(r.point, r.point_kind, r.parameter_id, r.mass_kg)
        for r in rows
        if validity.has_mass(_code(r.parameter_id))
    ]
    total = [
        Discharged(parameter=_code(d.parameter_id), mass_kg=d.mass_kg, points=list(d.points), method=d.method)
        for d in discharge.plant_discharge(masses)
    ]
    return PlantMass(plant=plant, discharged=total, points=points)


def record_items(rows: Sequence[RecordRow]) -> list[RecordItem]:
    return [
        RecordItem(
            parameter=_code(r.parameter_id),
            start=r.start,
            end=r.end,
            mean=r.mean,
            min=r.min,
            max=r.max,
            valid=r.n_valid,
            total=r.n_total,
            expected=r.n_expected,
            sufficient=r.sufficient,
            verdict=r.verdict,
            limit_upper=r.limit_upper,
            flags=r.flags,
            rule=r.rule,
            parts=r.parts,
            parts_valid=r.parts_valid,
            volume_m3=r.volume_m3,
            mass_kg=r.mass_kg,
            mass_method=r.mass_method,
            cou=r.cou,
            judged_at=r.judged_at,
        )
        for r in rows
    ]
