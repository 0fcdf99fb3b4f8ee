"""Data KPIs of a point, plant or park over a closed day or month: transmission rate, validity rate and
their product, the effective transmission rate (数据传输有效率), by which platforms assess how well a
plant's monitoring works. Pure arithmetic over the legal record's counts (compliance_windows).

- Transmission rate = values received / values expected, the expected count derived from each point's
  reporting interval (a silent hour counts in full); at most 1, since a logger may report faster than
  declared.
- Validity rate = valid values / values received (valid: flags N, S, plausible; validity.py).
- Effective transmission rate = transmission rate x validity rate: "数据传输有效率 ... 定义为数据传输率
  和数据有效率的乘积" (MEE pollution-source monitoring centre, 数据传输有效率考核及数据修约方法,
  renrendoc.com/p-62656122.html; envsc.cn's 污染源自动监控数据传输有效率考核要求).
- Below ``RuleSettings.kpi_target`` (default 90 %: assessments began at a 75 % pass mark in 2014 and
  targets are now 90 %, ../shared/reference/workflows.md) the figure carries a warning.
Counts add up: a plant's rates are those of the sum of its points' counts, not a mean of their rates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Counts:
    received: int
    valid: int
    expected: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.received + other.received, self.valid + other.valid, self.expected + other.expected
        )


ZERO = Counts(0, 0, 0)


@dataclass(frozen=True)
class Kpi:
    received: int
    valid: int
    expected: int
    transmission_rate: float | None
    validity_rate: float | None
    effective_rate: float | None
    target: float
    below_target: tuple[str, ...]  # which of the three rates are under the target
    warning: bool  # the effective transmission rate is under the target


def total(counts: Iterable[Counts]) -> Counts:
    out = ZERO
    for c in counts:
        out = out + c
    return out


def kpi(c: Counts, target: float) -> Kpi:
    transmission = min(1.0, c.received / c.expected) if c.expected > 0 else None
    validity = c.valid / c.received if c.received > 0 else None  # nothing received: nothing to rate
    effective = transmission * validity if transmission is not None and validity is not None else None
    if transmission == 0.0:
        effective = 0.0  # nothing arrived of what was expected
    rates = {"transmission_rate": transmission, "validity_rate": validity, "effective_rate": effective}
    below = tuple(name for name, r in rates.items() if r is not None and r < target)
    warning = effective is not None and effective < target
    return Kpi(c.received, c.valid, c.expected, transmission, validity, effective, target, below, warning)
