"""Settings of the HTTP API (environment variables OUTFALL_API_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """``max_body_bytes``: the largest request body accepted (the largest real one, an alert note or a
    maintenance window, is a few kilobytes). ``max_requests``: requests handled at once, event streams
    aside; others wait up to ``queue_wait_s`` for a slot, then get 503. ``max_streams``: open event
    streams. ``stream_token_check_s``: how often an open event stream re-checks its token, so a revoked
    or expired token's stream closes within that time. ``docs_assets``: the folder holding Swagger UI's
    files for /docs (deploy/install-deps.sh puts them in api/docs_assets from npm's swagger-ui-dist)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_API_")

    host: str = "127.0.0.1"
    port: int = 8080
    # Readings: rows per page (at least 100, so one time's rows, one per parameter, always fit a page);
    # a range without `bucket` longer than raw_window_days gets hourly means, longer than
    # hourly_window_days daily means, unless the request says raw=true (api/history.py).
    max_raw_rows: int = Field(default=100_000, ge=100)
    raw_window_days: float = Field(default=7, gt=0)
    hourly_window_days: float = Field(default=92, gt=0)
    pool_max: int = Field(default=10, ge=2)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_requests: int = Field(default=64, ge=1)
    queue_wait_s: float = Field(default=5.0, ge=0)
    max_streams: int = Field(default=200, ge=1)
    stream_token_check_s: float = Field(default=2.0, gt=0, le=30)
    docs_assets: str | None = None
