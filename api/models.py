"""Request and response models of the HTTP API (they are the OpenAPI schema)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from compliance.models import ALERT_KINDS, AlertStateName, AlertView, Severity
from compliance.repo.reads import AlertRecord
from compliance.routing import Explanation
from compliance.rules import ValueLevel
from ingest.hj212.repo import SampleRow


def _examples(*items: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(items)})


class Problem(BaseModel):
    """Every 4xx/5xx body: what went wrong and what to fix."""

    model_config = _examples({"detail": "from needs a UTC offset, e.g. 2026-11-29T08:00:00+08:00"})
    detail: str
    errors: list[dict[str, Any]] | None = None


class Health(BaseModel):
    status: str
    database: str
    broker: str
    problems: list[str] = []
    components: list[dict[str, Any]] = []  # every process's last heartbeat
    jobs: list[dict[str, Any]] = []  # each scheduled job against its period
    inbox_backlog: int | None = None  # readings waiting for the real-time rules
    inbox_oldest_s: float | None = None


class Me(BaseModel):
    role: str
    name: str
    park: str | None
    plant: str | None
    may_change_alerts: bool
    may_declare_maintenance: bool
    may_change_registry: bool


# --- registry ---------------------------------------------------------------------------------------
class Park(BaseModel):
    model_config = _examples(
        {
            "id": "demo-plating",
            "name": "示范电镀园区",
            "timezone": "Asia/Shanghai",
            "industry": "electroplating",
            "plants": 58,
            "config": {"reuse_target": 0.5},
            "loaded_at": "2026-11-29T00:00:00Z",
        }
    )
    id: str
    name: str
    name_zh: str | None = None  # the name split into its Chinese and English parts, as for plants
    name_en: str | None = None
    timezone: str
    industry: str
    plants: int
    config: dict[str, Any]
    loaded_at: datetime


class Plant(BaseModel):
    id: str
    park: str
    name: str
    kind: str
    points: int


class Parameter(BaseModel):
    code: str
    name_zh: str
    name_en: str
    unit: str  # catalogue unit: values in this API are in it
    instrument_unit: str


class Point(BaseModel):
    id: str
    park: str
    plant: str
    name: str
    kind: str
    discharge_mode: str
    standard: str | None
    mn: str | None
    interval_s: int
    active: bool
    parameters: list[Parameter]
    # what the point's HJ 212 logger sends that the standard does not allow (accepted, counted)
    logger_quirks: list[LoggerQuirk] = Field(default_factory=list)


class LoggerQuirk(BaseModel):
    quirk: str
    description: str
    count: int
    first_seen: datetime
    last_seen: datetime


class NamedThing(BaseModel):
    """A plant or point by its id and its name as the park file gives it (the registry's one name)."""

    plant: str
    id: str
    name: str
    name_zh: str | None  # the name's Chinese and English parts (`电镀一厂 (Plating One)`), api/plantfile.py
    name_en: str | None
    kind: str


class ParkNames(BaseModel):
    """Everything the dashboard names in one park: its plants and points from the registry, and the
    parameter catalogue in Chinese and English with the unit values are served in."""

    park: str
    name: str
    name_zh: str | None  # the name split into its Chinese and English parts, as for plants
    name_en: str | None
    plants: list[NamedThing]  # ``plant`` repeats ``id``
    points: list[NamedThing]
    parameters: list[Parameter]  # ``instrument_unit`` is the catalogue's HJ 212 default


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class NameChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    _check = field_validator("name")(_no_nul)


class PointChange(BaseModel):
    """Changes an admin may make; reloading the park file overwrites them (the file is the source)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"interval_s": 300}]})
    name: str | None = Field(default=None, min_length=1, max_length=200)
    interval_s: int | None = Field(default=None, ge=1, le=86_400)
    active: bool | None = None
    _check = field_validator("name")(_no_nul)


# --- readings ---------------------------------------------------------------------------------------
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


class LimitPeriod(BaseModel):
    parameter: str
    valid_from: datetime | None
    valid_to: datetime | None
    upper: float | None
    lower: float | None
    source: str


class ReadingsPage(BaseModel):
    model_config = _examples(
        {
            "park": "demo-plating",
            "plant": "shop-01",
            "point": "total",
            "timezone": "Asia/Shanghai",
            "bucket": None,
            "units": {"cod": "mg/L"},
            "limits": [
                {
                    "parameter": "cod",
                    "valid_from": None,
                    "valid_to": None,
                    "upper": 80.0,
                    "lower": None,
                    "source": "GB21900-2008-T2",
                }
            ],
            "items": [{"time": "2026-11-29T00:00:00Z", "parameter": "cod", "value": 42.1, "flag": "N"}],
            "truncated": False,
            "next": None,
        }
    )
    park: str
    plant: str
    point: str
    timezone: str
    bucket: str | None
    units: dict[str, str]
    limits: list[LimitPeriod] = []
    items: list[RawReading] | list[BucketMean]
    truncated: bool = False  # more rows than one page: ask again with from = `next`
    next: datetime | None = None


# --- status -----------------------------------------------------------------------------------------
class ParameterStatus(BaseModel):
    parameter: str
    unit: str
    time: datetime | None
    value: float | None
    flag: str | None
    limit_upper: float | None
    limit_lower: float | None
    ratio: float | None  # value / upper limit
    level: Literal[ValueLevel, "no_data"]  # as compliance's real-time rules take the value
    valid_rate_today: float | None  # valid values / expected values since park-local midnight


class PointStatus(BaseModel):
    point: str
    name: str
    kind: str
    online: bool
    last_seen: datetime | None
    interval_s: int
    parameters: list[ParameterStatus]
    open_alerts: int
    worst_severity: Severity | None


if TYPE_CHECKING:
    AlertKind = str
else:  # built from the domain's tuple, so a kind added to compliance is accepted here unchanged
    AlertKind = Literal[ALERT_KINDS]
AlertState = AlertStateName


@dataclass(frozen=True)
class Alert(AlertView):
    """An alert as the API serves it: compliance's view of the alert (``AlertView``, the one list of
    alert fields) with its kind and state checked against the domain's, plus when it last changed."""

    kind: AlertKind
    severity: Severity
    state: AlertState
    explanation: Explanation | None
    updated_at: datetime
    # Sample retention (HJ 212 CN 3015) sent when the violation opened: the bottle the point's
    # sampler kept as evidence, or why there is none. None: no sample was asked for.
    sample: SampleEvidence | None = None


@dataclass(frozen=True)
class SampleEvidence:
    """``state``: queued, sent, accepted (on its way), done (retained), refused, failed, expired."""

    state: str
    at: datetime | None  # when the logger reported it done (or the command ended)
    text: str  # "sample retained at 10:32", "no sample: refused by the logger: refused (QnRtn=2)"


ALERT_JSON: TypeAdapter[Alert] = TypeAdapter(Alert)
_ALERT_FIELDS = [f for f in fields(Alert) if f.name != "sample"]


def public_alert(row: AlertRecord, sample: SampleRow | None = None) -> Alert:
    """Compliance's alert record as the API serves it (without the ids its evidence is found by),
    with the sample its violation retained (read from the HJ 212 command queue)."""
    return Alert(**{f.name: getattr(row, f.name) for f in _ALERT_FIELDS}, sample=sample_evidence(sample))


def sample_evidence(row: SampleRow | None) -> SampleEvidence | None:
    if row is None:
        return None
    if row.state == "done" and row.finished_at is not None:
        local = row.finished_at.astimezone(ZoneInfo(row.timezone))
        return SampleEvidence(row.state, row.finished_at, f"sample retained at {local:%H:%M}")
    if row.state in ("queued", "sent", "accepted"):
        return SampleEvidence(row.state, None, "sample retention asked, waiting for the logger")
    return SampleEvidence(row.state, row.finished_at, f"no sample: {row.reason or row.state}")


class PlantStatus(BaseModel):
    park: str
    plant: str
    name: str
    kind: str
    timezone: str
    as_of: datetime
    points: list[PointStatus]
    open_alerts: list[Alert]
    valid_rate_today: float | None


class PlantSummary(BaseModel):
    plant: str
    name: str
    kind: str
    points: int
    online: int
    last_seen: datetime | None
    open_alerts: int
    worst_severity: Severity | None
    # Where the plant sits on the park's site plan, [x, y] in percent of its width and height from the
    # top-left corner (the park file's `position`); null when the park file gives none.
    position: tuple[float, float] | None = None


class CentralPlant(BaseModel):
    """Today's (park-local) mean flows at the central plant, in L/s, and the reuse ratio."""

    plant: str
    inflow: float | None
    outflow: float | None
    reuse: float | None
    reuse_ratio: float | None
    reuse_target: float | None


class ParkOverview(BaseModel):
    park: str
    name: str
    timezone: str
    as_of: datetime
    plants: list[PlantSummary]
    central: CentralPlant | None


# --- alerts -----------------------------------------------------------------------------------------
class AuditItem(BaseModel):
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    note: str | None


class AlertDetail(BaseModel):
    alert: Alert
    evidence_from: datetime
    evidence_to: datetime
    evidence: list[RawReading]
    audit: list[AuditItem]


class AlertAction(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "电话联系企业，已停产排查"}]}
    )
    note: str | None = Field(default=None, max_length=2000)
    _check = field_validator("note")(_no_nul)


class AnnotateAction(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"note": "取样送检"},
                {"note": "停产检修，进水为零，分析仪空测", "kind": "explanation"},
            ]
        },
    )
    note: str = Field(min_length=1, max_length=2000)
    # explanation: the plant's explanation of an abnormal-data alert (operators and admins), which an
    # officer then accepts or rejects
    kind: Literal["note", "explanation"] = "note"
    _check = field_validator("note")(_no_nul)


# --- maintenance ------------------------------------------------------------------------------------
class MaintenanceIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "park": "demo-plating",
                    "plant": "shop-01",
                    "point": "workshop",
                    "from": "2026-11-29T09:00:00+08:00",
                    "to": "2026-11-29T11:00:00+08:00",
                    "reason": "更换镍分析仪电极",
                }
            ]
        },
    )
    park: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    plant: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    point: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,64}$")
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    reason: str = Field(min_length=1, max_length=500)
    _check = field_validator("reason")(_no_nul)


class Maintenance(BaseModel):
    id: int
    park: str
    plant: str
    point: str | None  # null: the whole plant
    start: datetime = Field(serialization_alias="from")
    end: datetime | None = Field(serialization_alias="to")
    reason: str
    created_by: str
    source: str
    created_at: datetime
    status: Literal["pending", "approved", "rejected", "withdrawn"]  # only approved windows silence anything
    decided_by: str | None  # the officer who approved or rejected it
    decided_at: datetime | None
    decision_note: str | None


class MaintenanceDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "已核实检修计划"}]})
    note: str | None = Field(default=None, max_length=2000)
    _check = field_validator("note")(_no_nul)


class MarkIn(BaseModel):
    """A data mark (MEE Announcement 2022 No. 21): a code from GET /api/v1/marks/codes over [from, to),
    for a point or (without `point`) the whole plant, with a note saying why."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "park": "demo-plating",
                    "plant": "shop-01",
                    "point": "total",
                    "code": "calibration",
                    "from": "2026-11-29T09:00:00+08:00",
                    "to": "2026-11-29T10:30:00+08:00",
                    "note": "COD 分析仪季度校准",
                }
            ]
        },
    )
    park: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    plant: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    point: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,64}$")
    code: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    note: str = Field(min_length=1, max_length=2000)
    _check = field_validator("note")(_no_nul)


class MarkView(BaseModel):
    """A data mark. `status`: pending (waits for an officer, changes nothing: a maintenance window over
    the approval threshold), approved (in effect; `decided_by` null until an officer reviews it),
    rejected (by an officer: its data is judged), withdrawn (by the plant, within the correction
    window). `invalidates`: the code makes marked data invalid, so it is not judged. `locked_at`: the
    end of the correction window, after which the plant can no longer withdraw it or add evidence."""

    id: int
    park: str
    plant: str
    point: str | None  # null: the whole plant
    code: str
    group: str  # equipment | production
    invalidates: bool
    claims_stopped: bool
    start: datetime = Field(serialization_alias="from")
    end: datetime | None = Field(serialization_alias="to")
    note: str = Field(validation_alias=AliasChoices("reason", "note"))
    created_by: str
    source: str
    created_at: datetime
    status: Literal["pending", "approved", "rejected", "withdrawn"]
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    withdrawn_by: str | None
    withdrawn_at: datetime | None
    evidence: int
    locked_at: datetime | None


class MarkAuditItem(BaseModel):
    at: datetime
    actor: str
    action: str  # create | accept | reject | withdraw | evidence
    from_status: str | None
    to_status: str | None
    note: str | None
    detail: dict[str, Any]


class EvidenceItem(BaseModel):
    id: int
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class MarkedAlertItem(BaseModel):
    """An alert the mark withdrew (its data was marked invalid), and whether it came back."""

    alert_id: int
    from_state: str
    withdrawn_at: datetime
    reinstated_at: datetime | None


class MarkDetail(MarkView):
    audit: list[MarkAuditItem]
    evidence_files: list[EvidenceItem]
    alerts: list[MarkedAlertItem]


class MarkCodeView(BaseModel):
    code: str
    group: str
    name_zh: str
    name_en: str
    hj212_flag: str | None  # the HJ 212-2017 data flag of the same state
    invalidates: bool
    claims_stopped: bool
    confidence: str  # how sure the catalogue is of the code (README "Data marks")


class MarkNote(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "运维台账已核实"}]})
    note: str | None = Field(default=None, max_length=2000)
    _check = field_validator("note")(_no_nul)


class CommandRequest(BaseModel):
    """An HJ 212 command to a logger: CN (e.g. 1061, 1062, 1063, 1064, 3019, 3020, 3021) and its CP fields."""

    model_config = ConfigDict(extra="forbid")
    mn: str = Field(pattern=r"^[0-9A-Za-z_-]{6,32}$")
    cn: str = Field(pattern=r"^[0-9]{4}$")
    params: dict[str, str] = Field(default_factory=dict, max_length=16)


class RotationRequest(BaseModel):
    """An HJ 212-2025 SM4 key rotation for one logger, by its point."""

    model_config = ConfigDict(extra="forbid")
    park: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    plant: str = Field(pattern=r"^[a-z0-9-]{1,64}$")
    point: str = Field(pattern=r"^[a-z0-9-]{1,64}$")


class CommandView(BaseModel):
    """A queued command with the logger's answers (9011 QnRtn, 9012 ExeRtn) and who asked for it."""

    id: int
    mn: str
    cn: str
    params: dict[str, str]
    purpose: str
    alert_id: int | None
    actor: str
    state: str
    qn: str | None
    attempts: int
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None
    finished_at: datetime | None
    qn_rtn: int | None
    exe_rtn: int | None
    answer: dict[str, str]
    reason: str | None
    key_generation: int | None = None  # a key rotation (CN 1014): its new key's pending generation
    audit: list[dict[str, Any]] = Field(default_factory=list)


class EnrolmentView(BaseModel):
    """A logger that asked to enter the network (CN 1001) with a serial no point claims."""

    serial: str
    mn_sent: str
    peer: str | None
    first_seen: datetime
    last_seen: datetime
