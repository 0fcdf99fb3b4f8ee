"""The standards catalogue (standards.yaml, package data) as typed, immutable values."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

import yaml

from ingest.core import parameters

LimitPoint = Literal["workshop", "total", "reuse"]


@dataclass(frozen=True)
class StandardLimit:
    parameter: str  # catalogue code
    point: LimitPoint
    upper: float | None
    lower: float | None
    confirmed: bool
    not_detected: bool = False
    upper_batik: float | None = None
    upper_park_pretreatment: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class Standard:
    id: str
    title: str
    table: str
    source_url: str | None
    kind: Literal["discharge", "reuse"]
    mode: Literal["direct", "indirect", "any"]
    confirmed: bool
    limits: tuple[StandardLimit, ...]

    def limit_for(self, code: str) -> StandardLimit | None:
        return next((lim for lim in self.limits if lim.parameter == code), None)


def _opt(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _limit(row: dict[str, object]) -> StandardLimit:
    code = str(row["parameter"])
    if code not in parameters.BY_CODE:
        raise ValueError(f"standards.yaml: unknown parameter {code!r}")
    return StandardLimit(
        parameter=code,
        point=row["point"],  # type: ignore[arg-type]
        upper=_opt(row.get("upper")),
        lower=_opt(row.get("lower")),
        confirmed=row.get("confidence") == "confirmed",
        not_detected=bool(row.get("not_detected", False)),
        upper_batik=_opt(row.get("upper_batik")),
        upper_park_pretreatment=_opt(row.get("upper_park_pretreatment")),
        note=str(row["note"]) if row.get("note") else None,
    )


def parse(text: str) -> dict[str, Standard]:
    data = yaml.safe_load(text)
    found: dict[str, Standard] = {}
    for s in data["standards"]:
        found[s["id"]] = Standard(
            id=s["id"],
            title=s["title"],
            table=s["table"],
            source_url=s.get("source_url"),
            kind=s["kind"],
            mode=s["mode"],
            confirmed=s["confidence"] == "confirmed",
            limits=tuple(_limit(row) for row in s["limits"]),
        )
    return found


@cache
def catalogue() -> dict[str, Standard]:
    return parse(resources.files("compliance").joinpath("standards.yaml").read_text(encoding="utf-8"))
