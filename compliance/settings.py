"""Settings of the compliance engine, one class per concern, read from ``OUTFALL_COMPLIANCE_*``,
``OUTFALL_WEBHOOK_*`` and ``OUTFALL_SMTP_*`` in ``main()``, never at import."""

from __future__ import annotations

import socket

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RuleSettings(BaseSettings):
    """Thresholds of the rules. Park files may override some per park (see limits.py / jobs.py)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_COMPLIANCE_")

    warn_fraction: float = Field(default=0.8, gt=0, lt=1)  # >= 80 % of the limit: warning
    clear_fraction: float = Field(default=0.9, gt=0, le=1)  # hysteresis: clear below 90 % of the limit
    clear_hold_s: float = Field(default=300, ge=0)  # ... held this long before resolving
    # ASSUMPTION pending HJ 356-2019 §7 (data validity): share of expected values needed for a mean.
    min_valid_fraction: float = Field(default=0.75, gt=0, le=1)
    offline_k: float = Field(default=5, gt=1)  # offline after k x the point's expected interval
    fault_hold_s: float = Field(default=1800, ge=0)  # D/B/F held this long: instrument fault
    flatline_s: float = Field(default=7200, gt=0)  # the same value this long: stuck or falsified
    flatline_min_count: int = Field(default=10, ge=3)
    rate_max_step_fraction: float = Field(default=2.0, gt=0)  # a jump of 2x the limit between readings
    reuse_target: float = Field(default=0.4, ge=0, le=1)  # when the park file sets none
    mass_balance_tolerance: float = Field(default=0.2, gt=0)  # |sum(plants) - inlet| / inlet
    escalate_after_s: float = Field(default=3600, gt=0)  # unacknowledged violations escalate
    critical_repeat_s: float = Field(default=3600, gt=0)  # repeat notification of open critical alerts
    late_grace_s: float = Field(default=120, ge=0)  # an hour is closed this long after it ends
    retention_days: int = Field(default=3 * 365, gt=0)


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_COMPLIANCE_")

    leader_lock: int = 7_212_003  # PostgreSQL advisory lock key: one scheduler leader
    # This instance's name in component_heartbeats (/healthz); unique per instance (compliance-1, -2).
    instance: str = Field(default_factory=lambda: f"compliance@{socket.gethostname()}")
    poll_s: float = Field(default=1.0, gt=0)  # real-time inbox poll when no NOTIFY arrives
    inbox_chunk: int = Field(default=20_000, ge=1)
    notify_group_s: float = Field(default=10, ge=0)  # alerts of one plant within this window: one message
    # Periods of interval jobs in seconds, by job name, overriding the job table (JSON in the
    # environment, e.g. OUTFALL_COMPLIANCE_JOB_PERIODS='{"offline_sweep": 5}').
    job_periods: dict[str, float] = Field(default_factory=dict)


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_WEBHOOK_")

    # HMAC-SHA256 key for X-Outfall-Signature. Webhook subscriptions are not delivered without it.
    secret: SecretStr | None = None
    timeout_s: float = 10.0


class SmtpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_SMTP_")

    host: str | None = None  # e-mail subscriptions are not delivered without it
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    sender: str = "outfall@localhost"
    timeout_s: float = 10.0
