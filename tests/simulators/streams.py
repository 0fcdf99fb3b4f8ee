"""Helpers for stream-level simulator tests: a small park and what ingest's own decoder makes of a
published stream, without a broker (the end-to-end tests do the same through the real one)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ingest.core import parameters, park, units
from ingest.core.models import ParkSpec, RegistryPoint
from ingest.mqtt import jsonv1
from simulators.records import Message

# Two shops and a central plant with inlet, outlet and reuse outlet; Cr(VI) in µg/L like a real analyser.
PARK = """
id: {id}
name: Simulator test park
timezone: Asia/Shanghai
industry: electroplating
standard: GB21900-2008-T2
config: {{reuse_target: 0.5}}
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: workshop
        kind: workshop_outlet
        mn: "SIMTEST0101"
        interval_s: 60
        parameters: {{cr_total: mg/L, cr6: µg/L, ni: mg/L, ph: pH}}
      - id: total
        kind: total_outlet
        mn: "SIMTEST0102"
        interval_s: 60
        parameters: {{cod: mg/L, nh3_n: mg/L, ph: pH, flow: L/s}}
  - id: shop-02
    name: Shop two
    points:
      - id: total
        kind: total_outlet
        mn: "SIMTEST0202"
        interval_s: 60
        parameters: {{cod: mg/L, nh3_n: mg/L, ph: pH, flow: L/s}}
  - id: central
    name: Central plant
    kind: central_plant
    points:
      - id: inlet
        kind: central_inlet
        mn: "SIMTEST9901"
        interval_s: 60
        parameters: {{flow: L/s, cod: mg/L, nh3_n: mg/L}}
      - id: outlet
        kind: central_outlet
        discharge_mode: direct
        mn: "SIMTEST9902"
        interval_s: 60
        parameters: {{flow: L/s, cod: mg/L, nh3_n: mg/L}}
      - id: reuse
        kind: reuse_outlet
        mn: "SIMTEST9903"
        interval_s: 60
        parameters: {{flow: L/s, cod: mg/L}}
"""


def small_park(park_id: str = "sim-test") -> ParkSpec:
    return park.parse(PARK.format(id=park_id))


@dataclass(frozen=True)
class Landed:
    point: str  # plant/point
    parameter: str
    time: datetime  # UTC
    value: float
    flag: str
    index: int  # position of its message in the stream


def registry(spec: ParkSpec) -> dict[jsonv1.PointKey, RegistryPoint]:
    points = {}
    for plant in spec.plants:
        for pt in plant.points:
            factors = {
                parameters.BY_CODE[c].id: units.factor(u, parameters.BY_CODE[c].unit)
                for c, u in pt.parameters.items()
            }
            key = (spec.id, plant.id, pt.id)
            points[key] = RegistryPoint(len(points) + 1, *key, pt.mn, spec.timezone, factors)
    return points


def land(spec: ParkSpec, messages: Iterable[Message]) -> tuple[list[Landed], list[tuple[int, str]]]:
    """Every message through ingest's JSON v1 decoder: the readings it would store, and rejections."""
    points = registry(spec)
    names = {p.id: f"{p.plant}/{p.code}" for p in points.values()}
    rows, rejected = [], []
    for index, msg in enumerate(messages):
        result = jsonv1.decode(msg.topic, msg.payload, points, received_at=datetime.now().astimezone())
        if isinstance(result, jsonv1.Rejected):
            rejected.append((index, result.reason))
            continue
        for line in result.copy_text.decode().splitlines():
            point_id, param_id, ts, value, flag, _ = line.split("\t")
            code = parameters.BY_ID[int(param_id)].code
            when = datetime.fromisoformat(ts)
            rows.append(Landed(names[int(point_id)], code, when, float(value), flag, index))
    return rows, rejected


def series(rows: list[Landed], point: str, parameter: str) -> dict[datetime, float]:
    return {r.time: r.value for r in rows if r.point == point and r.parameter == parameter}
