"""Unit conversion from an instrument's unit to the catalogue unit a reading is stored in.

Small and explicit on purpose: the units that water monitors report are few, and a wrong factor here
(µg/L read as mg/L) makes a compliant outlet look 1000x over its limit (HJ 212-2017 Table B.1 default units).
"""

from __future__ import annotations

# Each unit maps to (dimension, factor to the dimension's base unit).
_UNITS: dict[str, tuple[str, float]] = {
    "mg/L": ("concentration", 1.0),
    "µg/L": ("concentration", 1e-3),
    "ug/L": ("concentration", 1e-3),
    "ng/L": ("concentration", 1e-6),
    "g/L": ("concentration", 1e3),
    "L/s": ("flow", 1.0),
    "m3/s": ("flow", 1000.0),
    "m3/h": ("flow", 1000.0 / 3600.0),
    "m3/d": ("flow", 1000.0 / 86400.0),
    "pH": ("ph", 1.0),
    "times": ("dilution", 1.0),
    "°C": ("temperature", 1.0),
    "µS/cm": ("conductivity", 1.0),
    "uS/cm": ("conductivity", 1.0),
    "mS/cm": ("conductivity", 1000.0),
    # HJ 212-2025 ST 44 (electricity use) and ST 45 (production operating conditions)
    "kWh": ("energy", 1.0),
    "MWh": ("energy", 1000.0),
    "kW": ("power", 1.0),
    "A": ("current", 1.0),
    "%": ("fraction", 1.0),
    "state": ("state", 1.0),  # 1 running, 0 stopped
}

KNOWN_UNITS = frozenset(_UNITS)


class UnitError(ValueError):
    pass


def factor(from_unit: str, to_unit: str) -> float:
    """Multiply a value in ``from_unit`` by this to get it in ``to_unit``."""
    try:
        dim_from, f_from = _UNITS[from_unit]
        dim_to, f_to = _UNITS[to_unit]
    except KeyError as exc:
        raise UnitError(f"unknown unit {exc.args[0]!r}; known: {', '.join(sorted(_UNITS))}") from None
    if dim_from != dim_to:
        raise UnitError(f"cannot convert {from_unit} ({dim_from}) to {to_unit} ({dim_to})")
    return f_from / f_to
