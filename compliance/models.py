"""Domain types of the compliance engine: limits, verdicts, alerts. Plain frozen dataclasses so the rule
and transition functions stay pure and easy to test."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

Severity = Literal["warning", "violation", "critical"]
SEVERITY_RANK: dict[str, int] = {"warning": 1, "violation": 2, "critical": 3}
# open -> acknowledged (by an officer) -> cleared (the condition is gone by the data; violations and
# criticals stay in the officer's queue) -> resolved (closed by an officer, or a warning whose condition
# cleared). Only open and acknowledged alerts are active.
AlertStateName = Literal["open", "acknowledged", "cleared", "resolved"]
ALERT_STATES: tuple[AlertStateName, ...] = ("open", "acknowledged", "cleared", "resolved")
ACTIVE_STATES: tuple[AlertStateName, ...] = ("open", "acknowledged")
# Incidents: everything still needing an officer, active or cleared by the data but not yet closed.
INCIDENT_STATES: tuple[AlertStateName, ...] = (*ACTIVE_STATES, "cleared")

# Alert kinds. One active alert per (kind, point, parameter); parameter 0 means "the whole point".
EXCEEDANCE = "exceedance"  # a single valid value against its limit (GB 21900 / GB 4287 §6.2)
HOURLY_MEAN = "hourly_mean"
DAILY_MEAN = "daily_mean"
OFFLINE = "offline"
INSTRUMENT_FAULT = "instrument_fault"  # D, B, F (and T on non-metals) held too long
OVER_RANGE = "over_range"  # T on a heavy metal: the true value is at least the range ceiling
IMPLAUSIBLE = "implausible"
FLATLINE = "flatline"  # constant values (恒值): the same non-zero value over a window
RATE_OF_CHANGE = "rate_of_change"  # sudden jumps (突变)
ZERO_VALUE = "zero_value"  # a concentration held at exactly zero over a window (零值)
NEGATIVE_VALUE = "negative_value"  # a valid value below zero where zero is the physical floor (负值)
NEAR_LIMIT = "near_limit"  # discharge held just under the limit over a park-local day (贴限排放)
REUSE_RATIO = "reuse_ratio"
MASS_BALANCE = "mass_balance"
# A second, different value arrived for a stored reading's key: a fault or tampering. An event, not a
# condition: it stays until an officer closes it.
INTEGRITY = "integrity"
# Abnormal data (issue 13 item 2): a point marked "stopped" (a data mark whose code claims the plant or
# its monitor stopped, compliance/marks.yaml) whose flow or treatment-facility electricity (HJ 212-2025
# ST 44, d3xxxx) shows activity during the mark (标停未停). An event, not a condition: it stays until
# someone closes it. Routed like the other abnormal-data kinds (to the plant's operator first).
STOPPED_RUNNING = "stopped_running"
ALERT_KINDS = (
    EXCEEDANCE,
    HOURLY_MEAN,
    DAILY_MEAN,
    OFFLINE,
    INSTRUMENT_FAULT,
    OVER_RANGE,
    IMPLAUSIBLE,
    FLATLINE,
    RATE_OF_CHANGE,
    REUSE_RATIO,
    MASS_BALANCE,
    INTEGRITY,
    ZERO_VALUE,
    NEGATIVE_VALUE,
    NEAR_LIMIT,
    STOPPED_RUNNING,
)
# Abnormal data (异常数据): kinds the plant's operator is told of first, to explain or repair; officers
# see such an alert only once compliance refers it to them (compliance/routing.py: unexplained past
# RuleSettings.abnormal_refer_after_s, or its explanation rejected). The one list of these kinds: a
# rule that adds an abnormal-data kind adds it here.
ABNORMAL_DATA_KINDS = frozenset(
    {ZERO_VALUE, NEGATIVE_VALUE, FLATLINE, RATE_OF_CHANGE, NEAR_LIMIT, STOPPED_RUNNING}
)
# Kinds that say "the monitor is not telling the truth"; while one is open, concentration alerts at the
# same point are muted (inhibition, as in Alertmanager).
INHIBITING_KINDS = frozenset({OFFLINE, INSTRUMENT_FAULT})
CONCENTRATION_KINDS = frozenset({EXCEEDANCE, HOURLY_MEAN, DAILY_MEAN})
WHOLE_POINT = 0


@dataclass(frozen=True)
class MaintenanceBounds:
    """What a maintenance window may be (the ``maintenance_policy`` row; settings in
    ``compliance/settings.py`` ``MaintenanceSettings``)."""

    max_length: timedelta
    max_backdate: timedelta  # how long before now it may start (marking afterwards)
    max_lead: timedelta  # how far ahead it may start (planned maintenance)
    approval_over: timedelta  # longer than this: pending until an officer approves it


@dataclass(frozen=True)
class MarkBounds:
    """What a data mark other than maintenance may be (the ``mark_policy`` row; settings in
    ``compliance/settings.py`` ``MarkSettings``). Maintenance marks keep ``MaintenanceBounds``."""

    correction: timedelta  # marked at most this long afterwards; locked this long after its end
    max_lead: timedelta  # how far ahead it may start
    max_length: timedelta


class MarkSpan(NamedTuple):
    """A data mark in effect as the rules see it: [start, end), the mark's id, its code, and whether
    the code makes the data invalid (not judged) or only records a state (compliance/marks.yaml)."""

    start: datetime
    end: datetime
    id: int
    code: str = "maintenance"
    invalidates: bool = True


MaintenanceSpan = MarkSpan  # a maintenance window is a data mark with the code "maintenance"


@dataclass(frozen=True)
class Limit:
    """The limit that applies to one point and parameter over a period, with its provenance."""

    upper: float | None
    lower: float | None
    unit: str
    upper_source: str | None = None  # e.g. "GB21900-2008-T2 (GB 21900-2008 Table 2)" or "permit X"
    lower_source: str | None = None
    confirmed: bool = True
    not_detected: bool = False  # 不得检出: no warning or criminal tiers, any detection is a breach

    @property
    def source(self) -> str:
        parts = [s for s in (self.upper_source, self.lower_source) if s]
        return "; ".join(dict.fromkeys(parts))


@dataclass(frozen=True)
class LimitSegment:
    """A limit with the UTC period it is in force for (None = open-ended)."""

    valid_from: datetime | None
    valid_to: datetime | None
    limit: Limit


@dataclass(frozen=True)
class Resolution:
    """Which limit applies at a point for a parameter, and why (``outfall limits show``)."""

    parameter: str
    limit: Limit | None
    reasons: tuple[str, ...]
    segments: tuple[LimitSegment, ...] = ()


@dataclass(frozen=True)
class WindowResult:
    """A park-local hour, day or month of one series as the legal record keeps it (compliance/validity.py
    makes it): the mean of its valid values and whether it is a valid mean by the rule applied (``rule``,
    in words), with what it stands on."""

    start: datetime
    end: datetime
    mean: float | None
    n_valid: int
    n_expected: int
    sufficient: bool
    n_total: int = 0  # values received, whatever their flag
    min: float | None = None  # of the valid values
    max: float | None = None
    flags: dict[str, int] = field(default_factory=dict)  # received per flag; "implausible", "zero_flow"
    rule: str = ""
    parts: int | None = None  # day: hours in it; month: days in it
    parts_valid: int | None = None  # ... that are valid hours / valid days
    volume_m3: float | None = None  # flow: the volume of the valid hours
    mass_kg: float | None = None  # pollutants: discharged mass (day, month)
    mass_method: str | None = None
    cou: float | None = None  # the logger's own HJ 212 Cou total over the window


@dataclass(frozen=True)
class AlertState:
    """The part of an active alert the transition functions need."""

    id: int
    kind: str
    severity: Severity
    state: AlertStateName
    peak: float | None
    last_value: float | None
    count: int
    first_time: datetime
    last_time: datetime
    clear_since: datetime | None = None


@dataclass(frozen=True)
class AlertChange:
    """What to write for one alert key after applying observations. ``events`` are the notification
    events (opened / escalated / resolved) to put in the outbox."""

    action: Literal["none", "open", "update", "resolve"]
    alert: AlertState | None
    events: tuple[str, ...] = ()
    resolved_at: datetime | None = None
    note: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    action: str
    actor: str
    from_state: str | None
    to_state: str | None
    note: str | None = None
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertView:
    """An alert as officers, the API and notifications see it."""

    id: int
    park: str
    plant: str
    point: str
    parameter: str  # "" for whole-point alerts (offline)
    kind: str
    severity: str
    state: str
    basis: str
    opened_at: datetime
    first_time: datetime
    last_time: datetime
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    peak: float | None
    value: float | None
    limit: float | None
    limit_lower: float | None
    limit_source: str | None
    unit: str | None
    count: int
    escalation: int
    muted: str | None
    detail: dict[str, object]
    # The approved maintenance window a critical breach opened this alert in (criticals are never
    # silenced), or None.
    during_maintenance: int | None
    # When compliance put the alert before officers: at opening, or for abnormal data when it was
    # referred (compliance/routing.py). None: the plant's operator only, so far.
    officer_visible_at: datetime | None
    # The operator's explanation of an abnormal-data alert: None (none asked or given), pending (an
    # officer is to decide), accepted or rejected.
    explanation: str | None
