"""Settings of the compliance engine, one class per concern, read from ``OUTFALL_COMPLIANCE_*``,
``OUTFALL_MAINTENANCE_*``, ``OUTFALL_WEBHOOK_*`` and ``OUTFALL_SMTP_*`` in ``main()``, never at import."""

from __future__ import annotations

import socket
from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from compliance.models import MaintenanceBounds


class RuleSettings(BaseSettings):
    """Thresholds of the rules. Park files may override some per park (see limits.py / jobs.py)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_COMPLIANCE_")

    warn_fraction: float = Field(default=0.8, gt=0, lt=1)  # >= 80 % of the limit: warning
    clear_fraction: float = Field(default=0.9, gt=0, le=1)  # hysteresis: clear below 90 % of the limit
    clear_hold_s: float = Field(default=300, ge=0)  # ... held this long before resolving
    # ASSUMPTION pending HJ 356-2019 §7 (data validity): share of expected values needed for a mean.
    min_valid_fraction: float = Field(default=0.75, gt=0, le=1)
    offline_k: float = Field(default=5, gt=1)  # offline after k x the point's expected interval
    # A gap found in data time asks the point's logger for its records of the gap (HJ 212 2051
    # minute, 2061 hourly, 2031 daily, with BeginTime/EndTime), so it back-fills what it holds.
    history_pull: bool = True
    fault_hold_s: float = Field(default=1800, ge=0)  # D/B/F held this long: instrument fault
    flatline_s: float = Field(default=7200, gt=0)  # the same value this long: stuck or falsified
    flatline_min_count: int = Field(default=10, ge=3)
    rate_max_step_fraction: float = Field(default=2.0, gt=0)  # a jump of 2x the limit between readings
    reuse_target: float = Field(default=0.4, ge=0, le=1)  # when the park file sets none
    mass_balance_tolerance: float = Field(default=0.2, gt=0)  # |sum(plants) - inlet| / inlet
    escalate_after_s: float = Field(default=3600, gt=0)  # unacknowledged violations escalate
    critical_repeat_s: float = Field(default=3600, gt=0)  # repeat notification of open critical alerts
    late_grace_s: float = Field(default=120, ge=0)  # an hour is closed this long after it ends


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


class MaintenanceSettings(BaseSettings):
    """Bounds of maintenance windows (``OUTFALL_MAINTENANCE_*``). `outfall db upgrade` writes them into
    the ``maintenance_policy`` row, which the API and the database's trigger both judge windows by;
    change a setting, then run `outfall db upgrade` again.

    Where the defaults come from (see ../shared/reference/standards.md §b.2–b.3, workflows.md): the MEE
    marking rules (公告2022年第21号) let an enterprise mark maintenance ahead or afterwards and officers
    reject a mark; local rules want a broken monitor reported within 12 h and back within 24 h (Bengbu),
    48 h (Shaanxi) or 5 working days (Chongqing 2020 draft). So: at most 72 h per window, marked at most
    24 h afterwards, at most 30 days ahead, and a window over 12 h waits for an officer's approval.
    """

    model_config = SettingsConfigDict(env_prefix="OUTFALL_MAINTENANCE_")

    max_length_h: float = Field(default=72, gt=0, le=24 * 31)
    max_backdate_h: float = Field(default=24, ge=0, le=24 * 31)
    max_lead_days: float = Field(default=30, ge=0, le=366)
    approval_over_h: float = Field(default=12, gt=0)

    def bounds(self) -> MaintenanceBounds:
        return MaintenanceBounds(
            timedelta(hours=self.max_length_h),
            timedelta(hours=self.max_backdate_h),
            timedelta(days=self.max_lead_days),
            timedelta(hours=self.approval_over_h),
        )


class WebhookSettings(BaseSettings):
    """Webhooks are signed with each subscription's own secret, from the secret store
    (``receiver/{park}/{subscription}/webhook-secret``, set with `outfall receiver secret set`); a
    subscription without one is not delivered (retried until one is set)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_WEBHOOK_")

    timeout_s: float = 10.0


class SmtpSettings(BaseSettings):
    """The SMTP relay. Its password is in the secret store (``receiver/smtp/password``), never in the
    environment or a park file. STARTTLS is on by default so the password and the alerts never cross
    the network in clear; turn it off only for a local test server (OUTFALL_SMTP_STARTTLS=false)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_SMTP_")

    host: str | None = None  # e-mail subscriptions are not delivered without it
    port: int = 25
    username: str | None = None
    starttls: bool = True
    sender: str = "outfall@localhost"
    timeout_s: float = 10.0
