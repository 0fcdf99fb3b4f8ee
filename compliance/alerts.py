"""Alert transitions: pure functions from (active alert or None, observation) to an ``AlertChange``.

Noise control lives here. An alert opens at its first breach and then only grows (count, peak, last
value; severity only escalates). It resolves when values stay at or below the clear level (under the
opening level: hysteresis) for the hold time, so noise around the limit never flaps. Officer actions
(acknowledge, resolve, annotate) are validated by ``officer_action``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from compliance import rules
from compliance.models import (
    SEVERITY_RANK,
    AlertChange,
    AlertState,
    AlertStateName,
    AuditEntry,
    Limit,
    Severity,
)


class InvalidTransition(ValueError):
    pass


def _max_severity(a: Severity, b: Severity) -> Severity:
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b


def _open(kind: str, t: datetime, value: float | None, sev: Severity) -> AlertChange:
    alert = AlertState(0, kind, sev, "open", value, value, 1, t, t)
    return AlertChange("open", alert, ("opened",))


def closed_state(severity: Severity) -> AlertStateName:
    """The state an alert takes when its condition clears by the data: violations and criticals stay
    in the officer's queue (cleared) until an officer closes them; warnings close by themselves."""
    return "cleared" if SEVERITY_RANK[severity] >= SEVERITY_RANK["violation"] else "resolved"


def _end(a: AlertState, t: datetime, value: float | None, note: str | None) -> AlertChange:
    done = replace(a, state=closed_state(a.severity), last_value=value if value is not None else a.last_value)
    return AlertChange("resolve", done, ("resolved",), resolved_at=t, note=note)


def _grow(
    a: AlertState, t: datetime, value: float | None, sev: Severity, low_side: bool = False
) -> AlertChange:
    worst = min if low_side else max  # the peak of a breach under a lower limit is its lowest value
    peak = a.peak if value is None else value if a.peak is None else worst(a.peak, value)
    new_sev = _max_severity(a.severity, sev)
    updated = replace(
        a,
        severity=new_sev,
        peak=peak,
        last_value=value if t >= a.last_time else a.last_value,
        count=a.count + 1,
        first_time=min(a.first_time, t),
        last_time=max(a.last_time, t),
        clear_since=None,
    )
    return AlertChange("update", updated, ("escalated",) if new_sev != a.severity else ())


def step_value(
    alert: AlertState | None,
    kind: str,
    code: str,
    t: datetime,
    value: float,
    limit: Limit,
    policy: rules.Policy,
) -> AlertChange:
    """One valid, plausible value against its limit (instant rule with hysteresis)."""
    sev = rules.severity(code, value, limit, policy)
    if alert is None:
        return _open(kind, t, value, sev) if sev else AlertChange("none", None)
    if sev is not None:
        return _grow(alert, t, value, sev, low_side=rules.breach_side(value, limit) == "lower")
    if t < alert.last_time:
        return AlertChange("none", alert)  # a late value below the open level changes nothing
    if not rules.is_clear(value, limit, alert.severity, policy):
        changed = alert.clear_since is not None or alert.last_value != value
        updated = replace(alert, clear_since=None, last_value=value)
        return AlertChange("update" if changed else "none", updated)
    since = alert.clear_since or t
    if (t - since).total_seconds() >= policy.clear_hold_s:
        return _end(replace(alert, clear_since=since), t, value, "back under the clear level")
    return AlertChange("update", replace(alert, clear_since=since, last_value=value))


def step_condition(
    alert: AlertState | None,
    kind: str,
    active: bool,
    t: datetime,
    value: float | None,
    sev: Severity,
    note: str | None = None,
) -> AlertChange:
    """A yes/no condition (offline, fault, flatline, a mean over its limit...): open or grow while it
    holds; resolve as soon as it does not (these conditions carry their own hold: a window, a run)."""
    if alert is None:
        return _open(kind, t, value, sev) if active else AlertChange("none", None)
    if active:
        return _grow(alert, t, value, sev)
    return _end(alert, t, value, note)


def fold_values(
    alert: AlertState | None,
    kind: str,
    code: str,
    samples: list[tuple[datetime, float]],
    limit: Limit,
    policy: rules.Policy,
) -> list[AlertChange]:
    """Apply a key's values in time order and collapse the steps into one change per alert: usually
    one, two when an alert resolved and a later value in the same batch opened the next one. An alert
    opened and resolved within the batch comes out as one "resolve" of an alert with id 0."""
    out: list[AlertChange] = []
    current = alert
    events: list[str] = []
    touched = False
    for t, v in sorted(samples):
        if current is not None and t >= current.last_time and rules.switches_side(current.peak, v, limit):
            # pH 9.5 then 5.5: a breach of the other bound is a distinct condition, with its own alert
            note = "breach of the other bound of the range"
            out.append(replace(_end(current, t, None, note), events=(*events, "resolved")))
            current, events, touched = None, [], False
        change = step_value(current, kind, code, t, v, limit, policy)
        if change.action == "none":
            continue
        events.extend(e for e in change.events if e not in events)
        if change.action == "resolve":
            out.append(replace(change, events=tuple(events)))
            current, events, touched = None, [], False
            continue
        current, touched = change.alert, True
    if touched and current is not None:
        out.append(AlertChange("open" if current.id == 0 else "update", current, tuple(events)))
    return out


# --- officer actions ---------------------------------------------------------------------------------
_ALLOWED = {
    ("open", "acknowledge"): "acknowledged",
    ("open", "resolve"): "resolved",
    ("acknowledged", "resolve"): "resolved",
    ("cleared", "acknowledge"): "cleared",  # seen by an officer, still to be closed
    ("cleared", "resolve"): "resolved",
}


def officer_action(state: str, action: str, actor: str, note: str | None) -> AuditEntry:
    """Validate an officer's action on an alert; returns the audit entry to append."""
    if not actor.strip():
        raise InvalidTransition("an actor is required")
    if action == "annotate":
        if not note:
            raise InvalidTransition("a note is required to annotate")
        return AuditEntry("annotate", actor, state, state, note)
    target = _ALLOWED.get((state, action))
    if target is None:
        raise InvalidTransition(f"cannot {action} an alert that is {state}")
    return AuditEntry(action, actor, state, target, note)
