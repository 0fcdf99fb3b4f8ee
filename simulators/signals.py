"""Plausible values for simulated monitors: typical levels by point kind, with noise and a daily
production cycle. Values are in the catalogue unit; the feed converts to each instrument's unit."""

from __future__ import annotations

import math
import random
from datetime import datetime

# (typical, relative spread) per parameter, for an enterprise outlet after its own treatment.
ENTERPRISE: dict[str, tuple[float, float]] = {
    "cod": (38.0, 0.2),
    "nh3_n": (3.0, 0.3),
    "tn": (9.0, 0.2),
    "tp": (0.35, 0.25),
    "ph": (7.3, 0.03),
    "flow": (1.8, 0.3),
    "cn_total": (0.05, 0.4),
    "cr_total": (0.25, 0.3),
    "cr6": (0.03, 0.4),
    "ni": (0.12, 0.3),
    "cu": (0.15, 0.3),
    "zn": (0.35, 0.3),
    "ss": (15.0, 0.3),
    "colour": (20.0, 0.2),
    "sulfide": (0.1, 0.3),
    "sb": (0.03, 0.3),
    "bod5": (10.0, 0.3),
}
# The central plant's inlet carries the raw mix; its outlet and reuse outlet are well treated.
CENTRAL_INLET_SCALE = 2.5
CENTRAL_FLOW_LPS = 95.0
TREATED_SCALE = 0.6


def production_factor(local: datetime) -> float:
    """Shops run two shifts on weekdays with a lunch break; little at night and on Sundays."""
    hour = local.hour + local.minute / 60
    if local.weekday() == 6:
        return 0.2
    if 12.0 <= hour < 13.0:
        return 0.5
    if 7.5 <= hour < 22.0:
        return 1.0
    return 0.25


def value(param: str, point_kind: str, local: datetime, rng: random.Random, plant_bias: float) -> float:
    typical, spread = ENTERPRISE.get(param, (1.0, 0.2))
    if point_kind == "central_inlet":
        typical *= CENTRAL_INLET_SCALE
    elif point_kind in ("central_outlet", "reuse_outlet"):
        typical *= TREATED_SCALE
    if param == "ph":
        return round(rng.gauss(typical, 0.15), 2)
    if param == "flow":
        base = CENTRAL_FLOW_LPS if point_kind.startswith("central") else typical
        if point_kind == "reuse_outlet":
            base = CENTRAL_FLOW_LPS * 0.55
        level = base * plant_bias * (0.4 + 0.6 * production_factor(local))
        return round(max(0.0, rng.gauss(level, level * spread)), 3)
    # Concentrations are log-normal: positive, right-skewed like real effluent data.
    sigma = math.sqrt(math.log(1 + spread**2))
    mu = math.log(typical * plant_bias) - sigma**2 / 2
    return round(rng.lognormvariate(mu, sigma), 4)
