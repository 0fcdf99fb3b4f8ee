"""What a park's monitors would read: typical levels, production rhythm, noise and treatment.

Pure functions and tables; ``model.py`` holds the state (noise memory) and the park's mass balance.
Levels are in the catalogue unit (mg/L, L/s, pH, dilution multiple, µS/cm); the engine converts to each
instrument's unit.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from datetime import datetime

# (typical, relative spread) at an enterprise outlet, by park industry. Electroplating shops pre-treat
# in-house, so their outlets sit below the GB 21900 limits most of the time (typical levels are kept
# under about half the Table 2 limit, so that with plant bias and noise the 80 % warning level is rare
# and a demo's alerts are its scripted incidents); dyeing plants discharge
# pre-treated but still strong water to the park plant (GB 4287 note (4) allows COD 500 there).
ENTERPRISE: dict[str, dict[str, tuple[float, float]]] = {
    "electroplating": {
        "cod": (28.0, 0.2),
        "nh3_n": (2.5, 0.3),
        "tn": (7.0, 0.2),
        "tp": (0.25, 0.25),
        "ph": (7.3, 0.03),
        "flow": (1.8, 0.3),
        "cn_total": (0.05, 0.4),
        "cr_total": (0.18, 0.3),
        "cr6": (0.03, 0.4),
        "ni": (0.12, 0.3),
        "cu": (0.15, 0.3),
        "zn": (0.35, 0.3),
        "ss": (15.0, 0.3),
    },
    "dyeing": {
        "cod": (320.0, 0.2),
        "bod5": (95.0, 0.25),
        "colour": (45.0, 0.25),
        "nh3_n": (9.0, 0.25),
        "tn": (20.0, 0.2),
        "tp": (0.9, 0.25),
        "sulfide": (0.18, 0.35),
        "sb": (0.04, 0.3),
        "cr6": (0.002, 0.5),  # below the detection limit: GB 4287 Table 2 says "not detected"
        "aniline": (0.4, 0.3),
        "ss": (70.0, 0.3),
        "conductivity": (3200.0, 0.15),
        "ph": (8.2, 0.03),
        "flow": (14.0, 0.25),
    },
}
ENTERPRISE["mixed"] = {**ENTERPRISE["electroplating"], **ENTERPRISE["dyeing"]}

# The central inlet also receives segregated concentrated streams that bypass the shops' own treatment
# (cyanide, chromium and nickel lines in plating parks), so it is stronger than the average total outlet.
INLET_SCALE: dict[str, float] = {"electroplating": 2.5, "dyeing": 1.1, "mixed": 1.8}

# Fraction the central plant removes, inlet -> outlet. Salts (conductivity) pass through; antimony is
# notoriously hard to remove with ordinary coagulation.
REMOVAL: dict[str, float] = {
    "cod": 0.85,
    "bod5": 0.93,
    "nh3_n": 0.88,
    "tn": 0.6,
    "tp": 0.85,
    "ss": 0.9,
    "colour": 0.85,
    "sulfide": 0.9,
    "sb": 0.55,
    "aniline": 0.9,
    "cn_total": 0.95,
    "cr_total": 0.92,
    "cr6": 0.97,
    "ni": 0.9,
    "cu": 0.9,
    "zn": 0.88,
    "conductivity": 0.05,
}
# Reuse water gets membrane polishing after the outlet quality: a further fraction kept.
REUSE_PASS = 0.3
REUSE_PASS_SALTS = 0.15
TREATED_PH = 7.2
# Correlation time of instrument readings (seconds): concentrations wander slowly, flow faster.
TAU_CONCENTRATION = 1800.0
TAU_FLOW = 600.0
# Readings a monitor can show: flow to the millilitre per second, pH to 0.01, colour in whole multiples.
DECIMALS = {"ph": 2, "colour": 0, "conductivity": 0, "flow": 3}


@dataclass(frozen=True)
class Rhythm:
    """A plant's working pattern: (hour, level) breakpoints, linearly interpolated, per day type."""

    name: str
    weekday: tuple[tuple[float, float], ...]
    saturday: float  # multiplier on the weekday curve
    sunday: float


# Two shifts with lunch and dinner breaks; day shift only; round-the-clock three shifts with dips at
# shift changes (dyeing vats run continuously). Ramps of ~20 min: rinse tanks fill and drain gradually.
RHYTHMS: dict[str, Rhythm] = {
    "two-shift": Rhythm(
        "two-shift",
        (
            (0, 0.15), (7.5, 0.15), (8.0, 1.0), (11.8, 1.0), (12.1, 0.45), (12.9, 0.45),
            (13.2, 1.0), (17.3, 1.0), (17.6, 0.6), (18.2, 0.6), (18.5, 0.95), (21.8, 0.95),
            (22.2, 0.15), (24, 0.15),
        ),
        saturday=0.75,
        sunday=0.2,
    ),
    "day-shift": Rhythm(
        "day-shift",
        (
            (0, 0.1), (7.7, 0.1), (8.1, 1.0), (11.8, 1.0), (12.1, 0.4), (12.9, 0.4),
            (13.2, 1.0), (17.2, 1.0), (17.6, 0.1), (24, 0.1),
        ),
        saturday=0.5,
        sunday=0.1,
    ),
    "continuous": Rhythm(
        "continuous",
        (
            (0, 0.75), (0.5, 0.92), (7.8, 0.92), (8.0, 0.7), (8.5, 0.95), (15.8, 0.95),
            (16.0, 0.72), (16.5, 0.93), (23.8, 0.93), (24, 0.75),
        ),
        saturday=0.95,
        sunday=0.85,
    ),
}  # fmt: skip
RHYTHM_CHOICE: dict[str, tuple[tuple[str, float], ...]] = {
    "electroplating": (("two-shift", 0.6), ("day-shift", 0.35), ("continuous", 0.05)),
    "dyeing": (("continuous", 0.75), ("two-shift", 0.25)),
    "mixed": (("two-shift", 0.45), ("day-shift", 0.25), ("continuous", 0.3)),
}


def production(rhythm: Rhythm, local: datetime) -> float:
    """Production level in [0, 1] at park-local time ``local``."""
    hour = local.hour + local.minute / 60 + local.second / 3600
    points = rhythm.weekday
    level = points[-1][1]
    for (h0, v0), (h1, v1) in itertools.pairwise(points):
        if h0 <= hour < h1:
            level = v0 + (v1 - v0) * (hour - h0) / (h1 - h0)
            break
    day = local.weekday()
    return level * (rhythm.sunday if day == 6 else rhythm.saturday if day == 5 else 1.0)


def pick_rhythm(industry: str, rng: random.Random) -> Rhythm:
    names, weights = zip(*RHYTHM_CHOICE.get(industry, RHYTHM_CHOICE["mixed"]), strict=True)
    return RHYTHMS[rng.choices(names, weights)[0]]


def typical(industry: str, param: str) -> tuple[float, float]:
    return ENTERPRISE.get(industry, ENTERPRISE["mixed"]).get(param, (1.0, 0.2))


def load_factor(prod: float) -> float:
    """Concentration follows production: rinse water at night and in breaks is dilute."""
    return 0.55 + 0.45 * prod


def ar1(previous: float, interval_s: float, tau: float, rng: random.Random) -> float:
    """One step of a unit-variance AR(1) process: readings a minute apart are alike, hours apart not."""
    phi = math.exp(-interval_s / tau)
    return phi * previous + math.sqrt(1 - phi * phi) * rng.gauss(0.0, 1.0)


def lognormal(level: float, spread: float, z: float) -> float:
    """A positive, right-skewed value with mean ``level`` and relative spread, from a standard normal z."""
    sigma = math.sqrt(math.log(1 + spread**2))
    return level * math.exp(sigma * z - sigma**2 / 2)


def quantise(param: str, value: float) -> float:
    """What the display shows: fixed decimals for pH, flow and colour, else four significant digits."""
    if param in DECIMALS:
        return round(value, DECIMALS[param])
    if value == 0 or not math.isfinite(value):
        return value
    digits = 3 - math.floor(math.log10(abs(value)))
    return round(value, max(digits, 0))
