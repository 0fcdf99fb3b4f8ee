"""Settings of the HTTP API."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_API_")

    host: str = "127.0.0.1"
    port: int = 8080
    max_raw_rows: int = Field(default=100_000, ge=1)
    pool_max: int = Field(default=10, ge=2)
