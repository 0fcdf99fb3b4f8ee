"""Prometheus text exposition of the service's health figures (format 0.0.4), from rows repo loads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Row = tuple[Any, ...]
SEVERITIES = ("warning", "violation", "critical")


def _esc(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_: str, samples: Iterable[tuple[dict[str, object], float]]) -> str:
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{label}}} {value:g}" if label else f"{name} {value:g}")
    return "\n".join(lines)


def render(snapshot: dict[str, list[Row]]) -> str:
    messages, readings, duplicates, rejects, age = snapshot["ingest"][0]
    inbox, inbox_age = snapshot["inbox"][0]
    open_by = {(s, st): n for s, st, n in snapshot["alerts"]}
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
            [({}, snapshot["dead_letters"][0][0])],
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
            [({}, snapshot["outbox"][0][0])],
        ),
    ]
    out.extend(_jobs(sorted(snapshot["jobs"], key=lambda r: str(r[0]))))
    out.extend(_components(snapshot))
    return "\n".join(out) + "\n"


def _jobs(jobs: list[Row]) -> list[str]:
    return [
        _family(
            "outfall_job_last_start_timestamp_seconds",
            "gauge",
            "last start of each scheduled job",
            [({"job": j}, s or 0) for j, s, _f, _ok, _last in jobs],
        ),
        _family(
            "outfall_job_last_success",
            "gauge",
            "1 if the job's last run succeeded, 0 if it failed",
            [({"job": j}, 1 if ok else 0) for j, _s, f, ok, _last in jobs if f is not None],
        ),
        _family(
            "outfall_job_last_success_timestamp_seconds",
            "gauge",
            "last successful run of each scheduled job (compare with its period)",
            [({"job": j}, last) for j, _s, _f, _ok, last in jobs if last is not None],
        ),
    ]


def _components(snapshot: dict[str, list[Row]]) -> list[str]:
    beats = sorted(snapshot["components"], key=lambda r: str(r[0]))
    return [
        _family(
            "outfall_component_heartbeat_age_seconds",
            "gauge",
            "seconds since each process last beat (ingest, hj212, compliance)",
            [({"name": n, "kind": k}, age) for n, k, age, _l, _c in beats],
        ),
        _family(
            "outfall_compliance_leader",
            "gauge",
            "1 for the compliance instance that leads (scheduler and real-time consumer)",
            [({"name": n}, 1 if lead else 0) for n, k, _a, lead, _c in beats if k == "compliance"],
        ),
        _family(
            "outfall_compliance_consumer_alive",
            "gauge",
            "1 when the leader's real-time consumer thread is alive",
            [
                ({"name": n}, 1 if alive else 0)
                for n, k, _a, lead, alive in beats
                if k == "compliance" and lead
            ],
        ),
        _family(
            "outfall_rules_set_aside",
            "gauge",
            "inbox rows the rules could not judge, kept with their reason",
            [({}, snapshot["set_aside"][0][0])],
        ),
    ]
