"""Settings for the data-entry side: database, broker and the ingest worker.

Built in each process's main() from environment variables prefixed ``OUTFALL_``; never at import.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_")

    # None means "start a private local instance" (outfall run, make test).
    database_url: str | None = None
    db_pool_max: int = 10


class MqttSettings(BaseSettings):
    """Where the broker is and who we are to it.

    A broker with authentication (every deployment, and `outfall run`) needs a username and password:
    ``OUTFALL_MQTT_PASSWORD``, or the file ``OUTFALL_MQTT_PASSWORD_FILE``, or else
    ``{OUTFALL_MQTT_SECRETS_DIR}/{username}.password``, the file `outfall broker sync` writes for each
    service account (ingest/mqtt/accounts.py)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_")

    mqtt_url: str | None = None  # mqtt://host:port; None means "start a private local broker"
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_password_file: Path | None = None
    mqtt_secrets_dir: Path | None = None

    def credentials(self) -> tuple[str, str] | None:
        """(username, password), or None for a broker without authentication."""
        if self.mqtt_username is None:
            return None
        if self.mqtt_password is not None:
            return self.mqtt_username, self.mqtt_password.get_secret_value()
        path = self.mqtt_password_file
        if path is None and self.mqtt_secrets_dir is not None:
            path = self.mqtt_secrets_dir / f"{self.mqtt_username}.password"
        if path is None:
            raise ValueError(
                "OUTFALL_MQTT_USERNAME is set without a password: set OUTFALL_MQTT_PASSWORD,"
                " OUTFALL_MQTT_PASSWORD_FILE or OUTFALL_MQTT_SECRETS_DIR"
            )
        return self.mqtt_username, path.read_text(encoding="utf-8").strip()

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


class HJ212Settings(BaseSettings):
    """The HJ 212 TCP gateway (`outfall hj212 serve`)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_HJ212_")

    host: str = "0.0.0.0"  # noqa: S104 - data loggers connect from the field
    port: int = Field(default=8212, ge=0, le=65_535)
    max_connections: int = Field(default=2_000, ge=1)
    # Loggers send real-time data every 30-60 s and the 2017 edition has no heartbeat: 10 idle
    # minutes means the link is dead (the logger reconnects and re-sends what was not answered).
    idle_timeout_s: float = Field(default=600.0, gt=0)
    # A connection that sends this much garbage without one good frame is closed.
    max_junk_bytes: int = Field(default=65_536, ge=1_024)
    # Group commit: frames from all connections share a transaction of up to this many frames/seconds.
    batch_frames: int = Field(default=2_000, ge=1)
    batch_seconds: float = Field(default=0.02, gt=0)
    registry_refresh_s: float = Field(default=30.0, gt=0)
    # Ask loggers for missing minute/hourly records (补传), at most this far back.
    backfill: bool = True
    backfill_max_hours: float = Field(default=48.0, gt=0)
    counters_name: str = "outfall-hj212"


class BrokerSettings(BaseSettings):
    """The broker's generated files: password file and ACL (`outfall broker sync`, ingest/mqtt/accounts.py).

    ``dir`` is where ``passwd`` and ``acl`` are written (the broker reads them; in compose a volume shared
    with the broker). ``pid_file``: the broker's pid file, signalled (SIGHUP) after a change so the broker
    reloads without a restart; without one (compose) the broker container reloads itself when the files
    change. ``file_mode``: the files hold hashes only; the default 0o600 suits a broker of the same user
    (`outfall run`); compose sets 0o644, the broker image running as its own user."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_BROKER_")

    dir: Path | None = None
    pid_file: Path | None = None
    sync_s: float = Field(default=5.0, gt=0)  # how often `outfall broker sync` re-renders the files
    file_mode: int = Field(default=0o600, ge=0, le=0o777)
