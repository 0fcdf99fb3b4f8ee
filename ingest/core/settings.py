"""Settings for the data-entry side: database, broker and the ingest worker.

Built in each process's main() from environment variables prefixed ``OUTFALL_``; never at import.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.core.decoded import DEFAULT_MAX_SKEW


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


class IntakeSettings(BaseSettings):
    """What every way in applies alike (JSON v1 and HJ 212 over MQTT, HJ 212 over TCP): the clock rule
    and how rejected input is kept. ``OUTFALL_INGEST_*``, shared by the MQTT worker and the gateway."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_INGEST_")

    # A reading stamped further ahead of the server clock than this is dead-lettered, not stored: a
    # logger with a wrong clock would otherwise hold the key of the real reading that comes later.
    max_clock_skew_s: float = Field(default=DEFAULT_MAX_SKEW.total_seconds(), ge=0)
    # Payload bytes kept per dead letter (a prefix; the original length and a SHA-256 of the whole are
    # kept too). HJ 212 frames are under 1.1 KB and typical JSON v1 messages a few hundred bytes.
    dead_letter_max_bytes: int = Field(default=4_096, ge=1_200)
    # Junk of one kind from one source (a topic, a TCP connection) within this many seconds of the
    # previous one joins the same dead letter (its count and last_seen grow) ...
    dead_letter_run_gap_s: float = Field(default=300.0, ge=0)
    # ... for at most this long, so a day of junk is a few rows with meaningful first/last times.
    dead_letter_run_max_s: float = Field(default=3_600.0, ge=0)
    # Dead letters whose last item is older than this are deleted, by the compliance leader's
    # dead_letter_retention job (hourly; /healthz reports it overdue like every scheduled job).
    dead_letter_retention_days: float = Field(default=90.0, gt=0)
    # Accepted messages are kept byte for byte (raw_messages, the evidence of their readings) for this
    # many days of data time, then dropped a chunk at a time by the compliance leader's
    # raw_message_retention job. 排污许可管理条例 (State Council Decree 736, 2021) Art. 19: "原始监测记录
    # 保存期限不得少于5年" (original monitoring records: at least 5 years; see the README). 1827 days is 5
    # years with two leap days, never less.
    raw_message_retention_days: float = Field(default=1827.0, gt=0)

    @property
    def max_skew(self) -> timedelta:
        return timedelta(seconds=self.max_clock_skew_s)


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
    max_payload_bytes: int = Field(default=65_536, ge=256)  # a JSON v1 message; larger is dead-lettered
    # MQTT 5 Maximum Packet Size we announce: the broker's own limit (the local broker's
    # max_packet_size), so every packet the broker accepts reaches us, capped in its dead letter if bad.
    max_packet_bytes: int = Field(default=262_144, ge=1_024)
    # The memory bound in bytes: payloads received and not yet acknowledged. At this much, the worker
    # stops reading from the broker until a commit frees room (Receive Maximum alone would allow
    # 20,000 x 256 KiB = 5 GiB of large junk messages).
    max_pending_bytes: int = Field(default=128 * 1024 * 1024, ge=1_024)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    registry_refresh_s: float = 5.0
    # An HJ 212 split packet (PNUM/PNO) over MQTT that is still incomplete after this becomes a dead letter.
    split_max_age_s: float = Field(default=120.0, gt=0)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)

    @model_validator(mode="after")
    def _room_for_one_packet(self) -> IngestSettings:
        if self.max_pending_bytes < self.max_packet_bytes:
            raise ValueError(
                f"OUTFALL_INGEST_MAX_PENDING_BYTES ({self.max_pending_bytes}) must hold at least one packet"
                f" of OUTFALL_INGEST_MAX_PACKET_BYTES ({self.max_packet_bytes})"
            )
        return self

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


class SM4RotationSettings(BaseSettings):
    """HJ 212-2025 SM4 key rotation through CN 1014 (``ingest/hj212/rotation.py``): the compliance
    leader's ``sm4_rotation`` job starts the scheduled ones, the gateway sends them and records the
    logger's answer, the CLI and the API start one by hand."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_HJ212_SM4_")

    # A logger's key is rotated when its current generation is this old (0: never on schedule). The
    # 90 days are the catalogue summary's (medium confidence); a park file may set its own
    # (``config.hj212.sm4_rotate_days``).
    rotate_days: float = Field(default=90.0, ge=0)
    # After the logger switched, its previous key stays accepted this long (frames sent before the
    # switch and re-sent after it, a backlog uploaded late).
    overlap_hours: float = Field(default=24.0, ge=0)
    # A rotation the logger refused, failed or never answered is tried again after this long.
    retry_hours: float = Field(default=24.0, gt=0)
    # How long a queued CN 1014 waits for its logger to connect before it expires.
    wait_hours: float = Field(default=24.0, gt=0)
    # The CP field that carries the new key (32 hex characters). Uncertain: no public source we could
    # read names it; ``NewKey`` follows the 2017 edition's ``NewPW`` (CN 1072).
    key_field: str = Field(default="NewKey", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


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
    # The answer to an HJ 212-2025 CN 9015 heartbeat whose Flag asks for one. The standard's text was
    # not readable here: 9014 (the answer to an upload) is our reading; empty: no answer.
    heartbeat_reply_cn: str = Field(default="9014", pattern=r"^([0-9]{4})?$")
    # Reverse control (commands to loggers, ingest/hj212/control.py). HJ 212-2017 Table 1 gives a
    # timeout and a retry count per link type; 10 s and 3 re-sends is what loggers on GPRS/4G use
    # (public implementations of Annex C send CN 1000 with OverTime=10, ReCount=3), so a command
    # unanswered by 9011 is re-sent with the same QN up to ``command_re_count`` times.
    command_over_time_s: float = Field(default=10.0, gt=0)
    command_re_count: int = Field(default=3, ge=0)
    # After 9011 QnRtn=1, how long the logger may take to report 9012. Uncertain: a sampler filling a
    # bottle (3015) takes minutes on some models; the standard gives no figure.
    command_exec_timeout_s: float = Field(default=300.0, gt=0)
    command_poll_s: float = Field(default=1.0, gt=0)  # how often the queue is looked at
    # Time calibration: a logger whose real-time DataTime is this far from the server's park-local
    # clock is sent 1012 (at most once per ``clock_fix_every_s``); ``clock_on_connect`` sets every
    # logger's clock when it connects.
    clock_drift_s: float = Field(default=120.0, gt=0)
    # ... on this many consecutive real-time frames, their offsets within ``clock_drift_tolerance_s``
    # of each other: a clock that is off is off by the same amount every time, whereas late data
    # (a backlog re-sent after an outage, a replay, a catch-up) is late by a different amount each frame.
    clock_drift_frames: int = Field(default=3, ge=1)
    clock_drift_tolerance_s: float = Field(default=5.0, ge=0)
    clock_fix_every_s: float = Field(default=3_600.0, ge=0)
    clock_on_connect: bool = False
    # Network entry (HJ 2025 CN 1001/1002): the CP field carrying the hardware serial and the one
    # carrying the MN given back. Uncertain: the field names could not be read in the standard.
    entry_serial_field: str = "SN"
    entry_mn_field: str = "NewMN"
    intake: IntakeSettings = Field(default_factory=IntakeSettings)  # OUTFALL_INGEST_*: the same rules
    sm4: SM4RotationSettings = Field(default_factory=SM4RotationSettings)  # OUTFALL_HJ212_SM4_*


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


class HistorySettings(BaseSettings):
    """How long history is kept and when it is compacted (``OUTFALL_HISTORY_*``); the compliance
    leader's ``compact_readings`` and ``retention`` jobs act on them (README "History and retention").

    Retention of monitoring records: 排污许可管理条例 (State Council decree 736, in force 2021-03-01)
    art. 19 — the discharger keeps its original monitoring records (原始监测记录) for no less than
    5 years; art. 21 says the same of the environmental management ledger. So readings (hot or
    archived), the loggers' own minute/hourly/daily records and their status reports are kept
    ``readings_retention_days`` = 5 years and a day (1827 days) by default; a setting, since a local
    rule or a case may ask for longer. Nothing is dropped before it is compacted and its park-local
    days are closed (``compliance_closed``)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_HISTORY_")

    # Readings older than this (whole UTC days) leave the hot table. At least 3 days: the closing of
    # hours and days looks 48 h back in the hot table, and "today" on any park's clock must stay hot.
    compact_after_days: int = Field(default=7, ge=3)
    readings_retention_days: int = Field(default=1827, ge=1827)
    # HJ 212 logger statistics (minute/hourly/daily records), equipment status, sample checks
    statistics_retention_days: int = Field(default=1827, ge=1827)
    # The live event stream's log (api_events): a client resumes from it after a disconnection; the
    # alerts and their audit trails themselves are kept.
    events_retention_days: int = Field(default=90, gt=0)
    # Delivered (or given up) notifications
    deliveries_retention_days: int = Field(default=90, gt=0)
