"""What a plant discharged: of its points' stored masses (validity.py), which ones add up to the plant's
discharge of each pollutant. Pure.

Water passes through several points of a plant, so adding every point up would count it twice: a
workshop outlet (车间排放口) drains into the plant's treatment and its total outlet (总排口), and a
central plant's inlet receives what the plants discharged. A plant's discharge of a pollutant is
therefore the sum over its final outlets (total and central outlets) that measure it; where none does
(heavy metals, which GB 21900-2008 monitors at the workshop outlet), over its workshop outlets. Inlets,
intakes and reuse outlets (water reused, not discharged) never count. The total is known only when
every counted point has a mass; a park's discharge to the environment is its central plant's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

FINAL_OUTLETS = frozenset({"total_outlet", "central_outlet"})
WORKSHOP = "workshop_outlet"


@dataclass(frozen=True)
class PointMass:
    point: str
    point_kind: str
    parameter_id: int
    mass_kg: float | None


@dataclass(frozen=True)
class Discharged:
    parameter_id: int
    mass_kg: float | None  # None unless every counted point has a mass
    points: tuple[str, ...]  # the points counted
    method: str


def plant_discharge(masses: Iterable[PointMass]) -> list[Discharged]:
    """A plant's discharged mass per pollutant from its points' masses (of pollutants only)."""
    by_parameter: dict[int, list[PointMass]] = defaultdict(list)
    for m in masses:
        by_parameter[m.parameter_id].append(m)
    out = []
    for qid, found in sorted(by_parameter.items()):
        final = [m for m in found if m.point_kind in FINAL_OUTLETS]
        counted = final or [m for m in found if m.point_kind == WORKSHOP]
        if not counted:
            continue
        known = [m.mass_kg for m in counted if m.mass_kg is not None]
        total = math.fsum(known) if len(known) == len(counted) else None
        where = "final outlets" if final else "workshop outlets (no final outlet measures it)"
        method = f"sum over the plant's {where}: {', '.join(m.point for m in counted)}"
        if total is None:
            method += f"; unknown: {len(counted) - len(known)} of them has no mass"
        out.append(Discharged(qid, total, tuple(m.point for m in counted), method))
    return out
