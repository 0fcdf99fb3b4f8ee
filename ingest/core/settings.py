"""Settings for the data-entry side: database, broker and the ingest worker.

Built in each process's main() from environment variables prefixed ``OUTFALL_``; never at import.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_")

    # None means "start a private local instance" (outfall run, make test).
    database_url: str | None = None
    db_pool_max: int = 10


class MqttSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_")

    mqtt_url: str | None = None  # mqtt://host:port; None means "start a private local broker"

    def host_port(self) -> tuple[str, int]:
        if self.mqtt_url is None:
            raise ValueError("OUTFALL_MQTT_URL is not set")
        parts = urlsplit(self.mqtt_url)
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"OUTFALL_MQTT_URL must start with mqtt://, got {self.mqtt_url!r}")
        return parts.hostname or "127.0.0.1", parts.port or 1883


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_INGEST_")

    client_id: str = "outfall-ingest"
    # MQTT 5 shared-subscription group: N workers with the same group split the stream.
    share_group: str | None = None
    topic: str = "outfall/v1/+/+/+"
    # Raw HJ 212 frames (outfall/hj212/{MN}) through the same worker; empty to not subscribe.
    hj212_topic: str = "outfall/hj212/+"
    # A batch closes at this many readings or this many seconds after its first message.
    batch_readings: int = Field(default=20_000, ge=1)
    batch_seconds: float = Field(default=0.05, gt=0)
    # MQTT 5 Receive Maximum: the broker sends no more unacknowledged messages than this, so a slow
    # or absent database stops the flow at the broker instead of filling our memory.
    receive_maximum: int = Field(default=20_000, ge=1, le=65_535)
    max_payload_bytes: int = Field(default=65_536, ge=256)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    registry_refresh_s: float = 5.0
    # An HJ 212 split packet (PNUM/PNO) over MQTT that is still incomplete after this becomes a dead letter.
    split_max_age_s: float = Field(default=120.0, gt=0)

    def topics(self) -> list[str]:
        return [t for t in (self.topic, self.hj212_topic) if t]


class HJ212LoggerSettings(BaseSettings):
    """What every HJ 212 front end (the TCP gateway and raw frames over MQTT) enforces on a logger."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_HJ212_")

    # A frame whose MN has no PW in the secret store (logger/{park}/{plant}/{point}/hj212-pw) is a
    # dead letter; false accepts such loggers (a migration period), a wrong PW is refused regardless.
    require_pw: bool = True
    # Split-packet parts (PNUM/PNO) held while their set completes, per logger and in total; parts
    # beyond are dead letters (one per run, with a count), never held.
    split_parts_per_logger: int = Field(default=256, ge=1)
    split_parts_total: int = Field(default=8_192, ge=1)


class HJ212Settings(HJ212LoggerSettings):
    """The HJ 212 TCP gateway (`outfall hj212 serve`)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_HJ212_")

    host: str = "0.0.0.0"  # noqa: S104 - data loggers connect from the field
    port: int = Field(default=8212, ge=0, le=65_535)
    max_connections: int = Field(default=2_000, ge=1)
    # Connections held at once from one address (many loggers may sit behind one carrier NAT, and a
    # simulator runs a whole park from one address).
    max_connections_per_ip: int = Field(default=256, ge=1)
    # A new connection must deliver one frame whose PW matches within this, or it is closed.
    first_frame_s: float = Field(default=30.0, gt=0)
    # Loggers send real-time data every 30-60 s and the 2017 edition has no heartbeat: 10 idle
    # minutes means the link is dead (the logger reconnects and re-sends what was not answered).
    idle_timeout_s: float = Field(default=600.0, gt=0)
    # A connection that sends this much garbage without one good frame is closed.
    max_junk_bytes: int = Field(default=65_536, ge=1_024)
    # Group commit: frames from all connections share a transaction of up to this many frames/seconds.
    batch_frames: int = Field(default=2_000, ge=1)
    batch_seconds: float = Field(default=0.02, gt=0)
    # Frames waiting for the database, from all connections: when full, the gateway stops reading its
    # sockets (TCP back-pressure to the loggers) instead of growing its memory.
    store_queue_frames: int = Field(default=10_000, ge=1)
    registry_refresh_s: float = Field(default=30.0, gt=0)
    # Ask loggers for missing minute/hourly records (补传), at most this far back.
    backfill: bool = True
    backfill_max_hours: float = Field(default=48.0, gt=0)
    counters_name: str = "outfall-hj212"
