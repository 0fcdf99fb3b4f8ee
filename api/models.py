"""Response models of the HTTP API (they are the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Health(BaseModel):
    status: str
    database: str
    broker: str


class RawReading(BaseModel):
    time: datetime
    parameter: str
    value: float
    flag: str


class BucketMean(BaseModel):
    time: datetime  # start of the park-local hour or day
    parameter: str
    mean: float | None  # mean of valid (N, S) values; null when none were valid
    valid: int
    total: int


class ReadingsPage(BaseModel):
    park: str
    plant: str
    point: str
    timezone: str
    bucket: str | None
    units: dict[str, str]
    items: list[RawReading] | list[BucketMean]
