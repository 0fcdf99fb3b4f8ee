"""Data marks, the pure rules (compliance/marks.py): the code catalogue, the bounds and the correction
window, the one check that takes marked data out of judgement, when marks cover an alert's data, the
"marked stopped but still running" activity, and evidence files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance import marks
from compliance.models import MarkSpan
from compliance.settings import MaintenanceSettings, MarkSettings

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)
BOUNDS = MarkSettings().bounds()
MAINT = MaintenanceSettings().bounds()
S = timedelta(seconds=1)


def test_the_catalogue_has_the_equipment_and_production_states() -> None:
    codes = marks.catalogue()
    assert {"maintenance", "calibration", "fault", "comparison", "stopped"} <= set(codes)
    assert {"production_stopped", "startup_shutdown"} <= set(codes)
    assert {c.group for c in codes.values()} == {"equipment", "production"}
    assert codes["maintenance"].hj212_flag == "M" and codes["calibration"].hj212_flag == "C"
    assert {c for c, m in codes.items() if m.claims_stopped} >= {"stopped", "production_stopped"}
    assert not codes["comparison"].invalidates  # the analyser measures normally during a comparison


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("codes: {}", "including 'maintenance'"),
        ("other: 1", "including 'maintenance'"),
        ("codes: {maintenance: {group: x, zh: a, en: b, invalidates: true, claims_stopped: false}}", "group"),
        ("codes: {maintenance: {group: equipment}}", "missing or malformed"),
        ("codes: {Bad-Code: {}, maintenance: {}}", "lower-case"),
    ],
)
def test_a_broken_catalogue_says_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        marks.parse_catalogue(text)


def test_the_defaults_and_their_wording() -> None:
    assert (BOUNDS.correction, BOUNDS.max_lead, BOUNDS.max_length) == (10 * D, 30 * D, 31 * D)
    assert [marks.span_text(d) for d in (D, 10 * D, 36 * H, 72 * H, 90 * timedelta(minutes=1))] == [
        "1 day",
        "10 days",
        "36 h",
        "3 days",
        "1.50 h",
    ]


@pytest.mark.parametrize(
    ("start", "length", "refused"),
    [
        (NOW - 10 * D, H, None),  # marked afterwards, on the last day of the correction window
        (NOW - 10 * D - S, H, "at most 10 days before now (the correction window)"),
        (NOW + 30 * D, H, None),
        (NOW + 30 * D + S, H, "at most 30 days ahead"),
        (NOW, 31 * D, None),
        (NOW, 31 * D + S, "may last at most 31 days"),
        (NOW, timedelta(0), "must end after it starts"),
    ],
)
def test_bounds_of_a_mark_at_their_edges(start: datetime, length: timedelta, refused: str | None) -> None:
    found = marks.refusal("calibration", start, start + length, NOW, BOUNDS, MAINT)
    assert (found is None) if refused is None else (refused in (found or ""))


def test_a_maintenance_mark_keeps_the_maintenance_bounds() -> None:
    # two days back is inside the correction window, but a maintenance window starts at most 24 h back
    why = marks.refusal("maintenance", NOW - 2 * D, NOW - 2 * D + H, NOW, BOUNDS, MAINT)
    assert why == "a maintenance window may start at most 24 h before now"
    assert marks.refusal("fault", NOW - 2 * D, NOW - 2 * D + H, NOW, BOUNDS, MAINT) is None
    assert marks.needs_review_first("maintenance", NOW, NOW + 13 * H, MAINT)
    assert not marks.needs_review_first("fault", NOW, NOW + 13 * D, MAINT)  # officers review afterwards


@given(offset_s=st.integers(-12 * 86_400, 33 * 86_400), length_s=st.integers(-3_600, 40 * 86_400))
def test_refusal_means_a_bound_is_broken(offset_s: int, length_s: int) -> None:
    start = NOW + timedelta(seconds=offset_s)
    end = start + timedelta(seconds=length_s)
    within = (
        start < end <= start + BOUNDS.max_length and NOW - BOUNDS.correction <= start <= NOW + BOUNDS.max_lead
    )
    assert (marks.refusal("production_stopped", start, end, NOW, BOUNDS, MAINT) is None) == within


def test_a_mark_locks_when_the_correction_window_after_its_end_is_over() -> None:
    end = NOW - 10 * D
    assert marks.locked_at(end, BOUNDS) == NOW
    assert not marks.is_locked(end, NOW, BOUNDS)
    assert marks.is_locked(end, NOW + S, BOUNDS)


# --- the one check ------------------------------------------------------------------------------------
def test_marked_data_is_not_judged_but_criticals_always_are() -> None:
    spans = [MarkSpan(NOW, NOW + H, 7, "calibration"), MarkSpan(NOW + H, NOW + 2 * H, 8, "comparison", False)]
    assert marks.excluded(NOW, spans) == spans[0]
    assert marks.excluded(NOW, spans, "violation") == spans[0]
    assert marks.excluded(NOW, spans, "critical") is None
    assert marks.excluded(NOW + H, spans) is None  # half-open, and a comparison test invalidates nothing
    assert marks.excluded(NOW - S, spans) is None
    samples = [(NOW - S, 1.0, "N"), (NOW, 2.0, "N"), (NOW + H, 3.0, "N")]
    assert marks.judged(samples, spans) == [samples[0], samples[2]]


def _instants(a: int, b: int) -> range:
    return range(a, b + 1)


@given(
    spans=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 30), st.booleans()), max_size=6),
    a=st.integers(0, 70),
    width=st.integers(0, 30),
)
def test_covered_means_every_instant_is_marked(
    spans: list[tuple[int, int, bool]], a: int, width: int
) -> None:
    """On a grid of whole seconds (marks start and end on it), the union covers [a, b] exactly when
    each second of it is inside some invalidating mark."""
    ms = [MarkSpan(NOW + s * S, NOW + (s + n) * S, i, "fault", inv) for i, (s, n, inv) in enumerate(spans)]
    b = a + width
    brute = all(marks.covering(NOW + t * S, ms) is not None for t in _instants(a, b))
    assert marks.covered(NOW + a * S, NOW + b * S, ms) == brute


def test_an_alert_stands_on_its_window_and_a_mean_on_whole_windows() -> None:
    assert marks.alert_span("exceedance", NOW, NOW + H) == (NOW, NOW + H)
    a, b = marks.alert_span("hourly_mean", NOW, NOW + H)
    assert a == NOW and NOW + 2 * H - S < b < NOW + 2 * H
    assert marks.alert_span("daily_mean", NOW, NOW)[1] < NOW + D
    assert marks.withdrawable("exceedance", "violation") and marks.withdrawable("offline", "violation")
    assert not marks.withdrawable("exceedance", "critical")
    assert not marks.withdrawable("integrity", "violation") and not marks.withdrawable(
        "stopped_running", "violation"
    )
    assert not marks.withdrawable("reuse_ratio", "warning")


def test_a_withdrawn_alert_returns_to_its_state_unless_a_twin_is_active() -> None:
    assert marks.reinstated_state("open", False) == "open"
    assert marks.reinstated_state("acknowledged", True) == "cleared"
    assert marks.reinstated_state("cleared", True) == "cleared"


# --- marked stopped but still running -------------------------------------------------------------------
def test_activity_needs_enough_readings_close_together() -> None:
    minute = timedelta(minutes=1)
    flows = [(NOW + i * minute, v, "N") for i, v in enumerate([0.0, 3.0, 4.0, 0.1, 5.0, 0.0])]
    found = marks.running(flows, 0.5, 3, H)
    assert found == marks.Activity(NOW + minute, NOW + 4 * minute, 5.0, 3)
    assert marks.running(flows, 0.5, 4, H) is None
    assert marks.running(flows, 0.5, 3, 2 * minute) is None  # three, but not within two minutes
    flagged = [(t, v, "D") for t, v, _f in flows]  # a fault-flagged value shows nothing
    assert marks.running(flagged, 0.5, 1, H) is None
    assert marks.is_activity("flow", "w00000") and marks.is_activity("elec_treat_power", "d30002")
    assert not marks.is_activity("elec_prod_power", "d20002") and not marks.is_activity("cod", "w01018")


@given(
    values=st.lists(st.tuples(st.integers(0, 600), st.floats(0, 10)), max_size=30),
    min_count=st.integers(1, 5),
    window_s=st.integers(1, 300),
)
def test_activity_is_the_readings_in_dense_enough_runs(
    values: list[tuple[int, float]], min_count: int, window_s: int
) -> None:
    samples = [(NOW + t * S, v, "N") for t, v in values]
    window = timedelta(seconds=window_s)
    found = marks.running(samples, 1.0, min_count, window)
    active = sorted((t, v) for t, v, _f in samples if v > 1.0)
    # brute force: a reading counts when some run of min_count active readings within the window holds it
    dense = {
        k
        for i in range(len(active) - min_count + 1)
        if active[i + min_count - 1][0] - active[i][0] <= window
        for k in range(i, i + min_count)
    }
    if not dense:
        assert found is None
        return
    assert found is not None and found.count == len(dense) >= min_count
    assert found.peak == max(active[k][1] for k in dense) > 1.0
    assert found.start == min(active[k][0] for k in dense) and found.end == max(active[k][0] for k in dense)


# --- evidence files -------------------------------------------------------------------------------------
ALLOWED = MarkSettings().evidence_types


@pytest.mark.parametrize(
    ("name", "ctype", "body", "why"),
    [
        ("ledger.pdf", "application/pdf", b"%PDF-1.7 ...", None),
        ("photo.jpg", "image/jpeg", b"\xff\xd8\xff\xe0....", None),
        ("note.txt", "text/plain", "维护记录".encode(), None),
        ("page.html", "text/html", b"<script>", "evidence must be one of"),
        ("fake.png", "image/png", b"<html>", "not image/png"),
        ("../etc/passwd", "text/plain", b"x", "file name"),
        ("empty.txt", "text/plain", b"", "empty"),
        ("big.txt", "text/plain", b"x" * 101, "at most 100 bytes"),
        ("bin.txt", "text/plain", b"\xff\xfe", "UTF-8"),
    ],
)
def test_evidence_files(name: str, ctype: str, body: bytes, why: str | None) -> None:
    found = marks.evidence_refusal(name, ctype, body, ALLOWED, 100)
    assert (found is None) if why is None else (why in (found or ""))
