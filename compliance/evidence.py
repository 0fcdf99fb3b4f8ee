"""An alert's evidence, gathered from the tables of their owners (named queries) and bundled into one
checkable zip (compliance/bundle.py): the messages as received, byte for byte (JSON v1 payloads, HJ 212
frames with their CRC), the readings stored from them, the limit with its source, the notes, the
commands sent to the logger (sample retention, 3015), the data marks over the window and the audit
trails.

``gather`` reads in the caller's transaction (the API's request, `outfall evidence export`), which also
records the export in its audit log; ``files`` turns the parts into the bundle's files, the one place
where a new kind of evidence is added.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from compliance import bundle
from compliance.repo import marks as mrepo
from compliance.repo import reads
from compliance.repo.marks import Mark
from compliance.repo.reads import AlertFilter, AlertRecord, AuditLogRow, LimitPeriod
from compliance.settings import EvidenceSettings
from ingest.core import parameters
from ingest.core import reads as ingest_reads
from ingest.core.reads import PointRow, RawMessage, StoredReading
from ingest.hj212 import repo as hj212_repo
from ingest.hj212.repo import AuditRow as CommandAudit
from ingest.hj212.repo import CommandRow

_MN = re.compile(rb"MN=([0-9A-Za-z_-]{1,64})[;&]")
# a bound, not a cap met in practice: a mark's maximum length and the trigger keep a window's marks few
MAX_MARKS = 10_000


@dataclass(frozen=True)
class Parts:
    """What an alert's bundle is made of; ``marks``: the data marks (MEE Announcement 2022 No. 21) at
    the alert's point overlapping the window, whatever their status (a rejected or withdrawn mark is
    part of the record too)."""

    alert: AlertRecord
    point: PointRow
    start: datetime  # the evidence window in data time, both ends included: the alert's first and
    end: datetime  # last evidence with a margin (``EvidenceSettings.margin_s``)
    messages: Sequence[RawMessage]
    readings: Sequence[StoredReading]
    limits: Sequence[LimitPeriod]
    audit: Sequence[AuditLogRow]
    commands: Sequence[CommandRow]
    command_audit: Sequence[CommandAudit]
    marks: Sequence[Mark] = ()
    capped: Mapping[str, int] = field(default_factory=dict)  # what reached its cap, and the cap


def gather(
    conn: psycopg.Connection,
    alert_id: int,
    scope: tuple[str | None, str | None],
    settings: EvidenceSettings,
) -> Parts | None:
    """The parts of an alert's bundle; None when the alert is not in the scope (park, plant)."""
    alert = reads.alert_records(AlertFilter(ids=[alert_id]), *scope, 1).first(conn)
    if alert is None:
        return None
    point = ingest_reads.points(alert.park, alert.plant, alert.point).first(conn)
    assert point is not None  # an alert's point is never deleted while the alert exists (cascade)
    margin = timedelta(seconds=settings.margin_s)
    start, end = alert.first_time - margin, alert.last_time + margin
    messages = ingest_reads.raw_messages(point.id, start, end, settings.max_messages + 1).fetch(conn)
    readings = ingest_reads.stored_readings(point.id, start, end, settings.max_readings + 1).fetch(conn)
    capped = {
        name: cap
        for name, rows, cap in (
            ("messages", messages, settings.max_messages),
            ("readings", readings, settings.max_readings),
        )
        if len(rows) > cap
    }
    wanted = {alert.parameter_id} if alert.parameter_id else set(point.parameter_ids)
    limits = [p for p in reads.limit_periods([point.id], start, end).fetch(conn) if p.parameter_id in wanted]
    until = (alert.resolved_at or datetime.now(alert.created_at.tzinfo)) + margin
    commands = hj212_repo.evidence_commands(alert.id, point.id, alert.created_at - margin, until).fetch(conn)
    trail = hj212_repo.audits_of([c.id for c in commands]).fetch(conn) if commands else []
    marked = mrepo.marks_at_point(point.id, start, end, MAX_MARKS).fetch(conn)
    return Parts(
        alert=alert,
        point=point,
        start=start,
        end=end,
        messages=messages[: settings.max_messages],
        readings=readings[: settings.max_readings],
        limits=limits,
        audit=reads.audit_log(alert.id).fetch(conn),
        commands=commands,
        command_audit=trail,
        marks=marked,
        capped=capped,
    )


def export(parts: Parts, exported_by: str, at: datetime) -> bytes:
    """The bundle's zip bytes."""
    return bundle.build(files(parts), subject(parts, exported_by), at)


def files(parts: Parts) -> list[bundle.File]:
    """The bundle's files, in the order the zip holds them. New evidence is added here, and listed in the
    README's table below."""
    zone = ZoneInfo(parts.point.timezone)
    raw, index = _raw_files(parts, zone)
    out = [
        bundle.File("README.txt", _readme(parts).encode()),
        bundle.File("alert.json", _json(_alert(parts))),
        bundle.File("limits.json", _json([_limit(p) for p in parts.limits])),
        bundle.File("readings.csv", _csv(_READINGS, _readings(parts.readings, zone))),
        bundle.File("raw/index.csv", _csv(_INDEX, index)),
        *raw,
        bundle.File("marks.csv", _csv(_MARKS, [_mark(m) for m in parts.marks])),
        bundle.File("notes.csv", _csv(_NOTES, _notes(parts.audit))),
        bundle.File("commands.json", _json([asdict(c) for c in parts.commands])),
        bundle.File("audit/alert_audit.csv", _csv(_AUDIT, [_row(asdict(a)) for a in parts.audit])),
        bundle.File(
            "audit/hj212_command_audit.csv",
            _csv(_COMMAND_AUDIT, [_row(asdict(a)) for a in parts.command_audit]),
        ),
    ]
    return out


def subject(parts: Parts, exported_by: str) -> dict[str, Any]:
    """What the bundle is about, for its manifest."""
    a = parts.alert
    return {
        "kind": "alert",
        "alert": a.id,
        "park": a.park,
        "plant": a.plant,
        "point": a.point,
        "parameter": a.parameter,
        "alert_kind": a.kind,
        "window": {"from": _iso(parts.start), "to": _iso(parts.end)},
        "exported_by": exported_by,
        "counts": {"messages": len(parts.messages), "readings": len(parts.readings)},
        "capped": dict(parts.capped),
    }


# --- the files --------------------------------------------------------------------------------------
_READINGS = ("time", "time_local", "parameter", "value", "unit", "flag", "received_at", "source")
_INDEX = ("file", "time", "time_local", "received_at", "source", "topic", "peer", "bytes", "sha256")
_NOTES = ("at", "actor", "action", "note")
_AUDIT = ("id", "at", "actor", "action", "from_state", "to_state", "note", "detail")
_COMMAND_AUDIT = ("command_id", "at", "event", "actor", "frame", "detail")
_MARKS = (
    "id",
    "point",
    "code",
    "group",
    "invalidates",
    "claims_stopped",
    "start",
    "end",
    "status",
    "reason",
    "created_by",
    "source",
    "created_at",
    "decided_by",
    "decided_at",
    "decision_note",
    "withdrawn_by",
    "withdrawn_at",
    "evidence",
)


def _raw_files(parts: Parts, zone: ZoneInfo) -> tuple[list[bundle.File], list[dict[str, Any]]]:
    """Each message as a file of its own, exactly the bytes received, and the index describing them."""
    out, index = [], []
    for n, m in enumerate(parts.messages, 1):
        ext = "json" if m.source.startswith("mqtt-json") else "hj212"
        stamp = m.time.astimezone(zone).strftime("%Y%m%dT%H%M%S%z")
        path = f"raw/{n:05d}_{stamp}_{m.source.replace(':', '-')}.{ext}"
        out.append(bundle.File(path, m.payload))
        index.append(
            {
                "file": path,
                "time": _iso(m.time),
                "time_local": m.time.astimezone(zone).isoformat(),
                "received_at": _iso(m.received_at),
                "source": m.source,
                "topic": _topic(parts.point, m),
                "peer": m.peer or "",
                "bytes": len(m.payload),
                "sha256": bundle.sha256(m.payload),
            }
        )
    return out, index


def _topic(point: PointRow, m: RawMessage) -> str:
    """The MQTT topic a message came on (a JSON v1 topic is its point's; a raw frame's names its MN)."""
    if m.source.startswith("mqtt-json"):
        return f"outfall/v1/{point.park}/{point.plant}/{point.code}"
    found = _MN.search(m.payload)
    if m.source.startswith("mqtt-hj212") and found:
        return f"outfall/hj212/{found[1].decode()}"
    return ""


def _readings(rows: Iterable[StoredReading], zone: ZoneInfo) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        param = parameters.BY_ID.get(r.parameter_id)
        out.append(
            {
                "time": _iso(r.time),
                "time_local": r.time.astimezone(zone).isoformat(),
                "parameter": param.code if param else str(r.parameter_id),
                "value": repr(r.value),
                "unit": param.unit if param else "",
                "flag": r.flag,
                "received_at": _iso(r.received_at),
                "source": r.source,
            }
        )
    return out


def _alert(parts: Parts) -> dict[str, Any]:
    """The alert as compliance holds it, with the limit it was judged against and that limit's source."""
    body = {k: v for k, v in asdict(parts.alert).items() if k not in ("point_id", "parameter_id")}
    body["point_mn"] = parts.point.mn
    body["timezone"] = parts.point.timezone
    body["evidence_window"] = {"from": _iso(parts.start), "to": _iso(parts.end)}
    return body


def _limit(p: LimitPeriod) -> dict[str, Any]:
    param = parameters.BY_ID.get(p.parameter_id)
    return {
        "parameter": param.code if param else str(p.parameter_id),
        "unit": param.unit if param else "",
        "valid_from": p.valid_from,
        "valid_to": p.valid_to,
        "upper": p.upper,
        "lower": p.lower,
        "not_detected": p.not_detected,
        "source": p.source,
    }


def _mark(m: Mark) -> dict[str, Any]:
    values = asdict(m)
    values["point"] = m.point or "(whole plant)"
    return _row({k: values[k] for k in _MARKS})


def _notes(trail: Iterable[AuditLogRow]) -> list[dict[str, Any]]:
    return [_row({"at": a.at, "actor": a.actor, "action": a.action, "note": a.note}) for a in trail if a.note]


def _readme(parts: Parts) -> str:
    a = parts.alert
    capped = "".join(
        f"\nNOTE: more {name} than the cap of {cap} fell in the window; the oldest {cap} are included.\n"
        for name, cap in parts.capped.items()
    )
    return f"""证据包 / Evidence bundle: alert {a.id} ({a.kind}, {a.severity})
Park {a.park}, plant {a.plant}, point {a.point}{f", parameter {a.parameter}" if a.parameter else ""}
Evidence window (data time, UTC): {_iso(parts.start)} .. {_iso(parts.end)}
{capped}
alert.json                      the alert, its limit and the limit's source
limits.json                     every limit period in force over the window, with its source
readings.csv                    the readings stored for the point over the window
raw/index.csv                   the messages received for the point over the window: data time,
                                receipt time, how they came (topic or TCP peer), size, SHA-256
raw/*.json, raw/*.hj212         each message exactly as received (JSON v1 payloads; HJ 212 frames
                                with header, CRC and CR LF; a split packet as its parts joined)
marks.csv                       the data marks at the point overlapping the window (HJ 212 / MEE
                                2022 No. 21 codes), with status, who made and decided them, and why
notes.csv                       notes written on the alert
commands.json                   commands sent to the point's data logger for the alert or meanwhile
                                (e.g. 3015 sample retention), with their answers
audit/alert_audit.csv           every change of the alert, with its actor
audit/hj212_command_audit.csv   every request frame and answer of those commands
manifest.json, SHA256SUMS       every file's size and SHA-256

Check: `outfall evidence verify THIS.zip`, or unpack and run `sha256sum -c SHA256SUMS`.
"""


# --- encodings --------------------------------------------------------------------------------------
def _iso(t: datetime | None) -> str:
    return "" if t is None else t.isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=_plain, sort_keys=True)
    return "" if value is None else value


def _row(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in values.items()}


def _json(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, indent=2, default=_plain, sort_keys=False)
    return text.encode() + b"\n"


def _csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """UTF-8 with a byte-order mark, so a spreadsheet opens Chinese notes right."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")
