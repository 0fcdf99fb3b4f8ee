"""A park's water, point by point: enterprise outlets, and a central plant whose inlet is the sum of
what the plants discharge, whose outlet is the inlet less what it removes, and whose reuse outlet takes
a share of the flow.

``ParkModel.samples`` yields every point's readings in measurement-time order. Randomness is seeded per
plant and per point, so one point's data does not change when another point is added or scripted.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ingest.core.models import ParkSpec, PlantSpec, PointSpec
from simulators import signals
from simulators.records import Sample

CENTRAL_KINDS = frozenset({"central_inlet", "central_outlet", "reuse_outlet"})
# Sewer infiltration: the inlet sees a little more water than the plants report.
INFILTRATION = 1.03
SLUDGE_LOSS = 0.99
REUSE_MARGIN = 0.08  # a healthy plant runs a little above its reuse target
SHARED = 0.6  # weight of the point's shared activity in each flow and concentration
EQUALISATION_H = 6  # hours of inflow the equalisation tank evens out before treatment


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    amount: float  # bypass: fraction of the plant's flow lost; reuse: factor on the reuse flow

    def covers(self, ts: datetime) -> bool:
        return self.start <= ts < self.end


@dataclass
class _Plant:
    spec: PlantSpec
    rhythm: signals.Rhythm
    flow_scale: float
    bias: dict[str, float]


@dataclass
class _Point:
    plant: _Plant
    spec: PointSpec
    rng: random.Random
    noise: dict[str, float] = field(default_factory=dict)
    activity: float = 0.0


def first_tick(start: datetime, interval_s: int, tz: ZoneInfo) -> datetime:
    """The first reporting time at or after ``start``: loggers report on the park-local clock grid."""
    local = start.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (local - midnight).total_seconds()
    steps = -(-elapsed // interval_s)
    return midnight + timedelta(seconds=steps * interval_s)


class ParkModel:
    def __init__(self, park: ParkSpec, seed: int) -> None:
        self.park = park
        self.tz = ZoneInfo(park.timezone)
        self.industry = park.industry
        self.seed = seed
        self.plants: dict[str, _Plant] = {}
        for plant in park.plants:
            rng = random.Random(f"{seed}/{plant.id}")
            size = 1.0 if plant.kind == "central_plant" else signals.lognormal(1.0, 0.4, rng.gauss(0, 1))
            bias = {code: signals.lognormal(1.0, 0.25, rng.gauss(0, 1)) for code in _codes(plant)}
            self.plants[plant.id] = _Plant(plant, signals.pick_rhythm(self.industry, rng), size, bias)
        self.enterprises = [p for p in self.plants.values() if p.spec.kind != "central_plant"]
        target = park.config.get("reuse_target", 0.5)
        target = float(target) if isinstance(target, int | float) else 0.5
        self.reuse_ratio = min(0.95, target + REUSE_MARGIN)
        self.bypass: dict[str, list[Window]] = {}
        self.reuse: list[Window] = []
        self._production: tuple[datetime | None, float] = (None, 1.0)
        self._treated: tuple[datetime | None, float] = (None, 0.0)
        self._base_flow = signals.typical(self.industry, "flow")[0]

    def plant_flow(self, plant: _Plant, ts: datetime, prod: float | None = None) -> float:
        """Noise-free flow (L/s) the plant discharges at ``ts`` (at production ``prod`` if known)."""
        if prod is None:
            prod = signals.production(plant.rhythm, ts.astimezone(self.tz))
        return self._base_flow * plant.flow_scale * prod

    def inlet_flow(self, ts: datetime) -> float:
        """Noise-free central inlet flow: every plant's discharge, less what bypasses the sewer."""
        total = 0.0
        for plant in self.enterprises:
            lost = sum(w.amount for w in self.bypass.get(plant.spec.id, ()) if w.covers(ts))
            total += self.plant_flow(plant, ts) * max(0.0, 1.0 - lost)
        return total * INFILTRATION

    def treated_flow(self, ts: datetime) -> float:
        """What leaves the plant: the inlet smoothed by the equalisation tank (mean of the last hours)."""
        if self._treated[0] != ts:
            hours = [ts - timedelta(hours=h) for h in range(EQUALISATION_H)]
            self._treated = (ts, sum(map(self.inlet_flow, hours)) / EQUALISATION_H)
        return self._treated[1]

    def reuse_share(self, ts: datetime) -> float:
        share = self.reuse_ratio
        for window in self.reuse:
            if window.covers(ts):
                share *= window.amount
        return share

    def park_production(self, ts: datetime) -> float:
        # Every central concentration at one tick asks for this: remember the last answer.
        if self._production[0] != ts:
            local = ts.astimezone(self.tz)
            weights = sum(p.flow_scale for p in self.enterprises) or 1.0
            level = sum(p.flow_scale * signals.production(p.rhythm, local) for p in self.enterprises)
            self._production = (ts, level / weights)
        return self._production[1]

    def samples(self, start: datetime, until: datetime | None = None) -> Iterator[Sample]:
        queue: list[tuple[datetime, int, _Point]] = []
        for plant in self.plants.values():
            for spec in plant.spec.points:
                rng = random.Random(f"{self.seed}/{plant.spec.id}/{spec.id}")
                state = _Point(plant, spec, rng, {code: rng.gauss(0, 1) for code in spec.parameters})
                queue.append((first_tick(start, spec.interval_s, self.tz), len(queue), state))
        heapq.heapify(queue)
        while queue:
            ts, order, state = queue[0]
            if until is not None and ts >= until:
                heapq.heappop(queue)
                continue
            yield Sample(state.plant.spec.id, state.spec.id, ts, self._values(state, ts))
            heapq.heapreplace(queue, (ts + timedelta(seconds=state.spec.interval_s), order, state))

    def _values(self, state: _Point, ts: datetime) -> dict[str, float]:
        interval = state.spec.interval_s
        # A batch draining (a dye vat, a plating rinse) raises flow and load together: one shared
        # activity term in every flow and concentration makes the load follow the flow.
        activity = state.activity = signals.ar1(state.activity, interval, signals.TAU_FLOW, state.rng)
        prod = 1.0
        if state.spec.kind not in CENTRAL_KINDS:
            prod = signals.production(state.plant.rhythm, ts.astimezone(self.tz))
        values = {}
        for code in state.spec.parameters:
            tau = signals.TAU_FLOW if code == "flow" else signals.TAU_CONCENTRATION
            z = state.noise[code] = signals.ar1(state.noise[code], interval, tau, state.rng)
            if code != "ph":
                z = SHARED * activity + math.sqrt(1 - SHARED**2) * z
            values[code] = self._value(state, code, ts, z, prod)
        return values

    def _value(self, state: _Point, code: str, ts: datetime, z: float, prod: float) -> float:
        kind = state.spec.kind
        level, spread = signals.typical(self.industry, code)
        bias = state.plant.bias.get(code, 1.0)
        if kind not in CENTRAL_KINDS:
            if code == "flow":
                return signals.lognormal(self.plant_flow(state.plant, ts, prod), spread * 0.5, z)
            if code == "ph":
                return level + 0.15 * z
            return signals.lognormal(level * bias * signals.load_factor(prod), spread, z)
        return self._central(kind, code, ts, z, level, spread)

    def _central(self, kind: str, code: str, ts: datetime, z: float, level: float, spread: float) -> float:
        if code == "flow":
            if kind == "central_inlet":
                return signals.lognormal(self.inlet_flow(ts), 0.03, z)
            treated, share = self.treated_flow(ts), self.reuse_share(ts)
            flow = treated * share if kind == "reuse_outlet" else treated * (1 - share) * SLUDGE_LOSS
            return signals.lognormal(flow, 0.03, z)
        if code == "ph":
            return (level if kind == "central_inlet" else signals.TREATED_PH) + 0.08 * z
        inlet = level * signals.INLET_SCALE.get(self.industry, 1.8)
        inlet *= signals.load_factor(self.park_production(ts))
        if kind == "central_inlet":
            return signals.lognormal(inlet, spread * 0.6, z)
        outlet = inlet * (1 - signals.REMOVAL.get(code, 0.8))
        if kind == "reuse_outlet":
            outlet *= signals.REUSE_PASS_SALTS if code == "conductivity" else signals.REUSE_PASS
        return signals.lognormal(outlet, spread * 0.8, z)


def _codes(plant: PlantSpec) -> set[str]:
    return {code for point in plant.points for code in point.parameters}
