"""Prometheus text exposition of the service's health figures (format 0.0.4), from rows repo loads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from compliance.repo.reads import Backlog, JobRunTimes, Pending, StateCount
from ingest.core.reads import Heartbeat, IngestTotals

SEVERITIES = ("warning", "violation", "critical")


def _esc(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


Number = int | float | Decimal


def _num(value: Number) -> str:
    # Counts and exact (numeric) Unix times in full; :g would round them to six digits.
    return str(value) if isinstance(value, int) else f"{value:g}"


def _family(name: str, kind: str, help_: str, samples: Iterable[tuple[dict[str, object], Number]]) -> str:
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{label}}} {_num(value)}" if label else f"{name} {_num(value)}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Snapshot:
    """The figures /metrics shows, each read from its table's owner."""

    ingest: IngestTotals
    backlog: Backlog
    alerts: list[StateCount]
    jobs: list[JobRunTimes]
    pending: Pending
    beats: list[Heartbeat]


def render(snapshot: Snapshot) -> str:
    totals, backlog = snapshot.ingest, snapshot.backlog
    messages, readings, duplicates = totals.messages, totals.readings, totals.duplicates
    rejects, age = totals.rejects, totals.last_commit_age_s
    inbox, inbox_age = backlog.queued, backlog.oldest_s
    open_by = {(r.severity, r.state): r.count for r in snapshot.alerts}
    out = [
        _family("outfall_ingest_messages_total", "counter", "MQTT messages committed", [({}, messages)]),
        _family(
            "outfall_ingest_readings_total",
            "counter",
            "readings committed (rate() = ingest rate)",
            [({}, readings)],
        ),
        _family(
            "outfall_ingest_duplicates_total",
            "counter",
            "retransmitted readings dropped by key",
            [({}, duplicates)],
        ),
        _family(
            "outfall_ingest_rejects_total",
            "counter",
            "messages rejected to the dead-letter table",
            [({}, rejects)],
        ),
        _family(
            "outfall_dead_letters",
            "gauge",
            "rows in the dead-letter table",
            [({}, totals.dead_letters)],
        ),
        _family(
            "outfall_ingest_last_commit_age_seconds",
            "gauge",
            "seconds since any ingest worker last committed a batch",
            [({}, -1 if age is None else age)],
        ),
        _family("outfall_rules_backlog", "gauge", "readings queued for the real-time rules", [({}, inbox)]),
        _family(
            "outfall_rules_lag_seconds",
            "gauge",
            "age of the oldest reading waiting for the rules",
            [({}, inbox_age)],
        ),
        _family(
            "outfall_alerts_open",
            "gauge",
            "alerts not resolved, by severity and state",
            [
                ({"severity": s, "state": st}, open_by.get((s, st), 0))
                for s in SEVERITIES
                for st in ("open", "acknowledged")
            ],
        ),
        _family(
            "outfall_notifications_pending",
            "gauge",
            "notification deliveries not yet delivered",
            [({}, snapshot.pending.deliveries)],
        ),
    ]
    out.extend(_jobs(sorted(snapshot.jobs, key=lambda r: r.name)))
    out.extend(_components(snapshot))
    return "\n".join(out) + "\n"


def _jobs(jobs: list[JobRunTimes]) -> list[str]:
    return [
        _family(
            "outfall_job_last_start_timestamp_seconds",
            "gauge",
            "last start of each scheduled job",
            [({"job": j.name}, j.started_s or 0) for j in jobs],
        ),
        _family(
            "outfall_job_last_success",
            "gauge",
            "1 if the job's last run succeeded, 0 if it failed",
            [({"job": j.name}, 1 if j.ok else 0) for j in jobs if j.finished_s is not None],
        ),
        _family(
            "outfall_job_last_success_timestamp_seconds",
            "gauge",
            "last successful run of each scheduled job (compare with its period)",
            [({"job": j.name}, j.last_ok_s) for j in jobs if j.last_ok_s is not None],
        ),
    ]


def _components(snapshot: Snapshot) -> list[str]:
    beats = sorted(snapshot.beats, key=lambda b: b.name)
    compliance = [b for b in beats if b.kind == "compliance"]
    return [
        _family(
            "outfall_component_heartbeat_age_seconds",
            "gauge",
            "seconds since each process last beat (ingest, hj212, compliance)",
            [({"name": b.name, "kind": b.kind}, b.age_s) for b in beats],
        ),
        _family(
            "outfall_compliance_leader",
            "gauge",
            "1 for the compliance instance that leads (scheduler and real-time consumer)",
            [({"name": b.name}, 1 if _flag(b, "leader") else 0) for b in compliance],
        ),
        _family(
            "outfall_compliance_consumer_alive",
            "gauge",
            "1 when the leader's real-time consumer thread is alive",
            [({"name": b.name}, 1 if _flag(b, "consumer") else 0) for b in compliance if _flag(b, "leader")],
        ),
        _family(
            "outfall_hj212_refused_total",
            "counter",
            "HJ 212 gateway refusals by reason (connection caps, first-frame deadline, PW, address)",
            [
                ({"name": b.name, "reason": reason}, int(count))
                for b in beats
                if b.kind == "hj212" and isinstance(b.detail.get("refused"), dict)
                for reason, count in sorted(b.detail["refused"].items())
            ],
        ),
        _family(
            "outfall_rules_set_aside",
            "gauge",
            "inbox rows the rules could not judge, kept with their reason",
            [({}, snapshot.backlog.set_aside)],
        ),
    ]


def _flag(beat: Heartbeat, key: str) -> bool:
    """A boolean a compliance instance reports in its heartbeat's detail (absent: false)."""
    return bool(beat.detail.get(key))
