"""Data marks (MEE Announcement 2022 No. 21, 污染物排放自动监测设备标记规则): pure rules.

A plant's operator marks a point, or the whole plant, for a period with a code from the catalogue
(``marks.yaml``): equipment states (maintenance, calibration, fault, ...) and production states (stopped
production, start-up/shut-down, ...). Data a mark in effect makes invalid is not judged: ``excluded`` is
the one check the real-time engine, the hourly/daily means, the data-time history and the scheduled
sweeps all ask. Criticals (the criminal thresholds of 法释〔2023〕7号) are judged whatever the marks say.

A maintenance mark keeps the bounds maintenance windows always had (``rules.maintenance_refusal``);
other marks are bounded by the correction window (default 10 days after the fact, as the national
platform gives enterprises, README "Data marks"), a lead and a length. A mark is locked for its plant
once the correction window after its end has passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml

from compliance import rules
from compliance.models import (
    CONCENTRATION_KINDS,
    FLATLINE,
    IMPLAUSIBLE,
    INSTRUMENT_FAULT,
    OFFLINE,
    OVER_RANGE,
    RATE_OF_CHANGE,
    MaintenanceBounds,
    MarkBounds,
    MarkSpan,
    Severity,
)

MAINTENANCE = "maintenance"
Group = Literal["equipment", "production"]
# Alerts a mark can explain: judgements of the point's data. Integrity (a second value for a stored
# reading), stopped-but-running (a mark's own contradiction) and the park rules are never withdrawn.
WITHDRAWABLE = CONCENTRATION_KINDS | {
    OFFLINE,
    INSTRUMENT_FAULT,
    OVER_RANGE,
    IMPLAUSIBLE,
    FLATLINE,
    RATE_OF_CHANGE,
}
_SPAN_OF_WINDOW = {"hourly_mean": timedelta(hours=1), "daily_mean": timedelta(days=1)}
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class MarkCode:
    code: str
    group: Group
    zh: str
    en: str
    hj212_flag: str | None
    invalidates: bool  # data under the mark is not judged
    claims_stopped: bool  # the "marked stopped but still running" rule watches it
    confidence: str


def catalogue(path: str | None = None) -> dict[str, MarkCode]:
    """The mark codes: ``marks.yaml`` (package data), or the file at ``path``."""
    return _load(path) if path else _packaged()


@cache
def _packaged() -> dict[str, MarkCode]:
    return parse_catalogue(resources.files("compliance").joinpath("marks.yaml").read_text("utf-8"))


def _load(path: str) -> dict[str, MarkCode]:
    return parse_catalogue(Path(path).read_text(encoding="utf-8"))


def parse_catalogue(text: str) -> dict[str, MarkCode]:
    """Codes from a catalogue file's text. Raises ValueError naming what is wrong."""
    doc = yaml.safe_load(text)
    codes = doc.get("codes") if isinstance(doc, dict) else None
    if not isinstance(codes, dict) or MAINTENANCE not in codes:
        raise ValueError("a mark catalogue needs 'codes:' including 'maintenance'")
    out = {}
    for code, e in codes.items():
        if not (isinstance(code, str) and code.replace("_", "").isalnum() and code.islower()):
            raise ValueError(f"mark code {code!r}: use lower-case letters, digits and _")
        try:
            group = str(e["group"])
            if group not in ("equipment", "production"):
                raise ValueError(f"mark code {code}: group must be equipment or production")
            flag = e.get("hj212_flag")
            out[code] = MarkCode(
                code,
                group,  # type: ignore[arg-type]
                str(e["zh"]),
                str(e["en"]),
                str(flag) if flag else None,
                bool(e["invalidates"]),
                bool(e["claims_stopped"]),
                str(e.get("confidence", "unknown")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"mark code {code}: missing or malformed field {exc}") from None
    return out


# --- bounds and locking ------------------------------------------------------------------------------
def span_text(d: timedelta) -> str:
    """An interval as refusals word it: whole days as days, else hours (the database says the same)."""
    if d > timedelta(0) and d % timedelta(days=1) == timedelta(0):
        days = d // timedelta(days=1)
        return f"{days} day" if days == 1 else f"{days} days"
    return rules.hours_text(d)


def refusal(
    code: str, start: datetime, end: datetime, now: datetime, mb: MarkBounds, maint: MaintenanceBounds
) -> str | None:
    """Why a mark [start, end) of ``code`` made at ``now`` is refused, or None. Maintenance keeps its own
    bounds; the database's trigger (migration 045) refuses the same."""
    if code == MAINTENANCE:
        return rules.maintenance_refusal(start, end, now, maint)
    if end <= start:
        return "a mark must end after it starts"
    if end - start > mb.max_length:
        return f"a mark may last at most {span_text(mb.max_length)} (this one: {span_text(end - start)})"
    if start < now - mb.correction:
        return f"a mark may start at most {span_text(mb.correction)} before now (the correction window)"
    if start > now + mb.max_lead:
        return f"a mark may start at most {span_text(mb.max_lead)} ahead"
    return None


def needs_review_first(code: str, start: datetime, end: datetime, maint: MaintenanceBounds) -> bool:
    """A mark that waits for an officer before it takes effect: a maintenance window longer than the
    approval threshold. Other marks take effect at once and officers review them afterwards, as the
    marking rules have it."""
    return code == MAINTENANCE and rules.needs_approval(start, end, maint)


def locked_at(end: datetime, mb: MarkBounds) -> datetime:
    """When the plant can no longer withdraw a mark or add evidence to it."""
    return end + mb.correction


def is_locked(end: datetime, now: datetime, mb: MarkBounds) -> bool:
    return now > locked_at(end, mb)


# --- judgement ---------------------------------------------------------------------------------------
def covering(t: datetime, spans: Iterable[MarkSpan]) -> MarkSpan | None:
    """The mark in effect that makes data at ``t`` invalid, if any."""
    return next((s for s in spans if s.invalidates and s.start <= t < s.end), None)


def excluded(t: datetime, spans: Iterable[MarkSpan], severity: Severity | None = None) -> MarkSpan | None:
    """The one mark check of every judging path: the mark that takes a value at ``t`` out of judgement,
    or None when it is judged. A critical value is always judged (criticals are never silenced: the alert
    opens marked with the mark's id)."""
    if severity == "critical":
        return None
    return covering(t, spans)


def judged(
    samples: Iterable[tuple[datetime, float, str]], spans: Sequence[MarkSpan]
) -> list[tuple[datetime, float, str]]:
    """The samples no mark takes out of judgement (means, rates of change)."""
    return [s for s in samples if excluded(s[0], spans) is None] if spans else list(samples)


def covered(a: datetime, b: datetime, spans: Iterable[MarkSpan]) -> bool:
    """Every instant of [a, b] lies in some invalidating mark (the marks' union covers it)."""
    ordered = sorted((s for s in spans if s.invalidates), key=lambda s: s.start)
    reach = a
    while True:
        ends = [s.end for s in ordered if s.start <= reach < s.end]
        if not ends:
            return False
        reach = max(ends)
        if reach > b:
            return True


def alert_span(kind: str, first: datetime, last: datetime) -> tuple[datetime, datetime]:
    """The data an alert stands on: its evidence window, and for a mean alert the whole windows."""
    width = _SPAN_OF_WINDOW.get(kind)
    return (first, last + width - _TICK) if width else (first, last)


def withdrawable(kind: str, severity: str) -> bool:
    return kind in WITHDRAWABLE and severity != "critical"


def reinstated_state(from_state: str, twin_active: bool) -> str:
    """The state a withdrawn alert returns to when its mark is rejected or withdrawn: the state it had,
    unless it was active and another alert of its key is active now (one active alert per key): then
    it goes back to the officer's queue as cleared."""
    if from_state in ("open", "acknowledged") and twin_active:
        return "cleared"
    return from_state


# --- marked stopped but still running ----------------------------------------------------------------
def is_activity(code: str, hj212_code: str | None) -> bool:
    """Series that show a plant running: its wastewater flow, and its treatment facilities' electricity
    (HJ 212-2025 ST 44, the d3xxxx family of the parameter catalogue)."""
    return code == "flow" or (hj212_code or "").startswith("d3")


@dataclass(frozen=True)
class Activity:
    """Readings that show a plant running: first and last time, the highest value, how many."""

    start: datetime
    end: datetime
    peak: float
    count: int


def running(
    samples: Iterable[tuple[datetime, float, str]], threshold: float, min_count: int, window: timedelta
) -> Activity | None:
    """The readings that show a plant running: valid readings above ``threshold`` (flow, treatment-
    facility power or current), counted where at least ``min_count`` of them fall within ``window`` of
    each other (a lone spike of metering noise is not a plant running). None when there are none."""
    active = sorted((t, v) for t, v, flag in samples if rules.is_valid(flag) and v > threshold)
    n = max(1, min_count)
    kept: set[int] = set()
    for i in range(len(active) - n + 1):
        if active[i + n - 1][0] - active[i][0] <= window:
            kept.update(range(i, i + n))
    if not kept:
        return None
    chosen = [active[i] for i in sorted(kept)]
    return Activity(chosen[0][0], chosen[-1][0], max(v for _t, v in chosen), len(chosen))


# --- evidence files ------------------------------------------------------------------------------------
_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


def evidence_refusal(
    name: str, content_type: str, body: bytes, allowed: Sequence[str], max_bytes: int
) -> str | None:
    """Why an evidence file is refused, or None: a name that is a plain file name, an allowed type whose
    bytes are what the type says (a file served back to a browser must not be HTML in disguise), at most
    ``max_bytes``, not empty."""
    if not name or len(name) > 200 or any(c in name for c in "/\\\0") or not name.isprintable():
        return "the file name must be 1-200 printable characters without / or \\"
    if content_type not in allowed:
        return f"evidence must be one of {', '.join(allowed)} (this one: {content_type or 'no type'})"
    if not body:
        return "the evidence file is empty"
    if len(body) > max_bytes:
        return f"an evidence file may be at most {max_bytes} bytes (this one: {len(body)})"
    magic = _MAGIC.get(content_type)
    if magic is not None and not body.startswith(magic):
        return f"the file's bytes are not {content_type}"
    if content_type.startswith("text/"):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return f"a {content_type} file must be UTF-8 text"
        if "\0" in text:
            return f"a {content_type} file must be text"
    return None
