"""Settings of the compliance engine, one class per concern, read from ``OUTFALL_COMPLIANCE_*``,
``OUTFALL_MAINTENANCE_*``, ``OUTFALL_WEBHOOK_*``, ``OUTFALL_SMTP_*`` and ``OUTFALL_ROBOT_*`` in
``main()``, never at import."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from compliance.digest import Limit
from compliance.models import MaintenanceBounds, MarkBounds


class RuleSettings(BaseSettings):
    """Thresholds of the rules. Park files may override some per park (see limits.py / jobs.py)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_COMPLIANCE_")

    warn_fraction: float = Field(default=0.8, gt=0, lt=1)  # >= 80 % of the limit: warning
    clear_fraction: float = Field(default=0.9, gt=0, le=1)  # hysteresis: clear below 90 % of the limit
    clear_hold_s: float = Field(default=300, ge=0)  # ... held this long before resolving
    # Validity of the stored means (compliance/validity.py, README "The legal record"). HJ 356-2019
    # ch. 7 ("calculation of the effective mean value") sets these, but its text could not be read: the
    # figures are settings, defaulting to the 75 % of HJ/T 356-2007 practice. A valid hour: at least
    # this share of the values the point's interval makes expected are valid (N, S, plausible) ...
    min_valid_fraction: float = Field(default=0.75, gt=0, le=1)
    # ... per parameter code where it differs (JSON, e.g. '{"cod": 0.5}' for a 2-hour analyser cycle)
    min_valid_fraction_by_parameter: dict[str, float] = Field(default_factory=dict)
    # A valid day: at least this share of its hours are valid hours (0.75: 18 of 24) ...
    day_min_valid_fraction: float = Field(default=0.75, gt=0, le=1)
    day_min_valid_fraction_by_parameter: dict[str, float] = Field(default_factory=dict)
    # A valid month: at least this share of its days have a valid daily mean.
    month_min_valid_fraction: float = Field(default=0.75, gt=0, le=1)
    # Daily and monthly concentration means: "arithmetic" (of the valid hourly / daily means) or
    # "flow_weighted" (weighted by each hour's / day's volume); HJ 212-2017 Annex D gives both.
    concentration_mean: Literal["arithmetic", "flow_weighted"] = "arithmetic"
    # Values read while the point's flow is 0 are invalid (HJ/T 356-2007 practice, secondary source;
    # unconfirmed for the 2019 edition): off by default.
    zero_flow_invalid: bool = False
    # KPIs: effective transmission rate (transmission x validity) below this warns (assessments began
    # at a 75 % pass mark in 2014; targets are now 90 %).
    kpi_target: float = Field(default=0.9, gt=0, le=1)
    offline_k: float = Field(default=5, gt=1)  # offline after k x the point's expected interval
    # A gap found in data time asks the point's logger for its records of the gap (HJ 212 2051
    # minute, 2061 hourly, 2031 daily, with BeginTime/EndTime), so it back-fills what it holds.
    history_pull: bool = True
    fault_hold_s: float = Field(default=1800, ge=0)  # D/B/F held this long: instrument fault
    flatline_s: float = Field(default=7200, gt=0)  # the same value this long: stuck or falsified
    flatline_min_count: int = Field(default=10, ge=3)
    rate_max_step_fraction: float = Field(default=2.0, gt=0)  # a jump of 2x the limit between readings
    # Abnormal data (异常数据; README "Abnormal data"). The platforms name the patterns (zero,
    # negative, constant values, sudden jumps, held just under the limit) but no public rule we found
    # fixes their windows and fractions: every figure here is an assumption, to be set per park.
    zero_s: float = Field(default=3600, gt=0)  # a concentration at exactly 0 this long: zero values
    zero_min_count: int = Field(default=3, ge=2)
    # Parameters for which zero is a normal reading: no flow at night, water at 0 °C in winter.
    zero_exempt: list[str] = Field(default_factory=lambda: ["flow", "temp"])
    near_limit_fraction: float = Field(default=0.9, gt=0, lt=1)  # an hourly mean in [0.9 L, L] ...
    near_limit_share: float = Field(default=0.75, gt=0, le=1)  # ... in 75 % of the day's judged hours
    near_limit_min_hours: int = Field(default=8, ge=1)  # a day with fewer judged hours is not judged
    # Abnormal-data alerts go to the plant's operator first; unexplained this long, officers see them.
    abnormal_refer_after_s: float = Field(default=4 * 3600, ge=0)
    reuse_target: float = Field(default=0.4, ge=0, le=1)  # when the park file sets none
    mass_balance_tolerance: float = Field(default=0.2, gt=0)  # |sum(plants) - inlet| / inlet
    escalate_after_s: float = Field(default=3600, gt=0)  # unacknowledged violations escalate
    critical_repeat_s: float = Field(default=3600, gt=0)  # repeat notification of open critical alerts
    late_grace_s: float = Field(default=120, ge=0)  # an hour is closed this long after it ends
    # Marked stopped but still running (标停未停): during a data mark whose code claims the plant stopped,
    # at least stopped_min_count valid readings above these levels within stopped_window_s show it
    # running (canonical parameter code -> level in the catalogue's unit: flow L/s; HJ 212-2025 ST 44
    # treatment-facility power kW, current A). ASSUMPTION: no source gives the levels; they sit above
    # metering noise.
    stopped_activity: dict[str, float] = Field(
        default_factory=lambda: {"flow": 0.5, "elec_treat_power": 0.5, "elec_treat_current": 0.5}
    )
    stopped_min_count: int = Field(default=3, ge=1)
    stopped_window_s: float = Field(default=3600, gt=0)  # ... within this long of each other


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_COMPLIANCE_")

    leader_lock: int = 7_212_003  # PostgreSQL advisory lock key: one scheduler leader
    # This instance's name in component_heartbeats (/healthz); unique per instance (compliance-1, -2).
    instance: str = Field(default_factory=lambda: f"compliance@{socket.gethostname()}")
    poll_s: float = Field(default=1.0, gt=0)  # real-time inbox poll when no NOTIFY arrives
    inbox_chunk: int = Field(default=20_000, ge=1)
    notify_group_s: float = Field(default=10, ge=0)  # alerts of one plant within this window: one message
    # Periods of jobs in seconds, by job name, overriding the job table; a cron job given one runs on
    # that interval instead (JSON in the environment, e.g.
    # OUTFALL_COMPLIANCE_JOB_PERIODS='{"offline_sweep": 5}').
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


class MarkSettings(BaseSettings):
    """Data marks (``OUTFALL_MARKS_*``; MEE Announcement 2022 No. 21, README "Data marks"). `outfall db
    upgrade` writes the bounds into the ``mark_policy`` row (the API and the database's trigger judge
    marks by it) and the code catalogue into ``mark_codes``; change a setting, then upgrade again.

    - ``correction_days``: a mark may start at most this long before now, and is locked for the plant
      this long after its end (the national platform gives 10 days to correct or back-fill, medium-low
      confidence: one secondary source).
    - ``max_lead_days``, ``max_length_days``: marks other than maintenance (maintenance keeps the
      ``OUTFALL_MAINTENANCE_*`` bounds). ASSUMPTION: a month covers a stop over a holiday.
    - ``catalogue``: another mark-code file with the fields of compliance/marks.yaml.
    - Evidence files are stored in the database (``data_mark_evidence``), at most ``evidence_max_bytes``
      each (it must stay under the API's OUTFALL_API_MAX_BODY_BYTES, default 1 MiB, which the request
      guard enforces first) and ``evidence_max_files`` per mark, of the listed content types.
    """

    model_config = SettingsConfigDict(env_prefix="OUTFALL_MARKS_")

    correction_days: float = Field(default=10, gt=0, le=366)
    max_lead_days: float = Field(default=30, ge=0, le=366)
    max_length_days: float = Field(default=31, gt=0, le=366)
    catalogue: str | None = None
    evidence_max_bytes: int = Field(default=900_000, ge=1, le=16 * 1024 * 1024)
    evidence_max_files: int = Field(default=10, ge=1, le=100)
    evidence_types: tuple[str, ...] = (
        "application/pdf",
        "image/jpeg",
        "image/png",
        "text/plain",
        "text/csv",
    )

    def bounds(self) -> MarkBounds:
        return MarkBounds(
            timedelta(days=self.correction_days),
            timedelta(days=self.max_lead_days),
            timedelta(days=self.max_length_days),
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


class EvidenceSettings(BaseSettings):
    """An alert's evidence bundle (``OUTFALL_EVIDENCE_*``; compliance/evidence.py)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_EVIDENCE_")

    # Data time before the alert's first and after its last evidence that the bundle covers too.
    margin_s: float = Field(default=1800, ge=0, le=7 * 86_400)
    # A bundle is built in memory: caps on what it holds (a long-open alert at minute data has about
    # 1,500 messages a day). Past a cap the oldest rows are kept and the manifest says so.
    max_messages: int = Field(default=50_000, ge=1)
    max_readings: int = Field(default=400_000, ge=1)


class RobotSettings(BaseSettings):
    """Chat robots (``OUTFALL_ROBOT_*``): a rate limit per robot below the vendor's, and the size of
    one message. Vendors' figures (compliance/robots.py): WeCom 20 a minute, markdown ≤ 4,096 bytes;
    DingTalk 20 a minute (over that, throttled for 10 minutes); Feishu 100 a minute and 5 a second,
    body ≤ 20 KB. DingTalk does not state a size for markdown: ASSUMPTION 5,000 bytes. A subscription
    may set a lower ``rate_limit`` (a robot shared with another system)."""

    model_config = SettingsConfigDict(env_prefix="OUTFALL_ROBOT_")

    timeout_s: float = Field(default=10.0, gt=0)
    window_s: float = Field(default=60.0, gt=0, le=3600)  # the vendors count per minute
    wecom_per_window: int = Field(default=15, ge=1)
    dingtalk_per_window: int = Field(default=15, ge=1)
    feishu_per_window: int = Field(default=80, ge=1)
    wecom_per_second: int = Field(default=5, ge=1)
    dingtalk_per_second: int = Field(default=5, ge=1)
    feishu_per_second: int = Field(default=4, ge=1)
    wecom_max_bytes: int = Field(default=4000, ge=1000)  # markdown content ≤ 4,096 (text: 2,048)
    dingtalk_max_bytes: int = Field(default=5000, ge=1000)
    feishu_max_bytes: int = Field(default=18000, ge=1000)  # the whole body ≤ 20 KB

    def limit(self, channel: str, rate_limit: int | None = None) -> Limit:
        per_window = int(getattr(self, f"{channel}_per_window"))
        if rate_limit is not None:
            per_window = max(1, min(per_window, rate_limit))
        window = timedelta(seconds=self.window_s)
        return Limit(per_window, window, int(getattr(self, f"{channel}_per_second")))

    def max_bytes(self, channel: str, mention: bool = False) -> int:
        if channel == "wecom" and mention:  # a text message (the one that can mention) ≤ 2,048 bytes
            return min(self.wecom_max_bytes, 2000)
        return int(getattr(self, f"{channel}_max_bytes"))
