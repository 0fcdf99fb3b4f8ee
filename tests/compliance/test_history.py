"""Episodes found in data time (offline gaps, flat runs) against the alerts already recorded: pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from compliance.history import Episode, episode_change
from compliance.models import FLATLINE, OFFLINE, AlertState

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_gap_in_the_past_is_recorded_opened_and_cleared_by_the_data() -> None:
    change = episode_change(
        None, OFFLINE, Episode(at(0), at(40), None, 1, at(40)), "violation", "back", False
    )
    assert change.action == "resolve" and change.events == ("opened", "resolved")
    assert change.alert is not None and change.alert.id == 0
    assert change.alert.state == "cleared"  # a violation stays in the officer's queue
    assert (change.alert.first_time, change.alert.last_time) == (at(0), at(40))
    assert change.resolved_at == at(40) and change.note == "back"


def test_a_run_still_going_opens_with_the_run_as_its_window() -> None:
    change = episode_change(None, FLATLINE, Episode(at(0), at(120), 7.0, 121, None), "warning", "", True)
    assert change.action == "open" and change.alert is not None
    a = change.alert
    assert (a.first_time, a.last_time, a.peak, a.count, a.state) == (at(0), at(120), 7.0, 121, "open")


def test_an_open_run_grows_then_resolves_when_the_value_changes() -> None:
    a = AlertState(5, FLATLINE, "warning", "open", 7.0, 7.0, 121, at(0), at(120))
    grow = episode_change(a, FLATLINE, Episode(at(0), at(130), 7.0, 131, None), "warning", "", True)
    assert grow.action == "update" and grow.alert is not None and grow.alert.last_time == at(130)
    same = episode_change(grow.alert, FLATLINE, Episode(at(0), at(130), 7.0, 131, None), "warning", "", True)
    assert same.action == "none"  # a re-scan of the same run changes nothing
    done = episode_change(
        grow.alert, FLATLINE, Episode(at(0), at(130), 7.0, 131, at(131)), "warning", "x", True
    )
    assert done.action == "resolve" and done.resolved_at == at(131) and done.events == ("resolved",)
    assert done.alert is not None and done.alert.state == "resolved"  # a warning closes by itself


def test_the_wall_clock_alert_is_widened_to_the_gap_but_left_to_the_engine_to_resolve() -> None:
    swept = AlertState(9, OFFLINE, "violation", "open", None, None, 1, at(5), at(7))
    change = episode_change(swept, OFFLINE, Episode(at(0), at(40), None, 1, at(40)), "violation", "", False)
    assert change.action == "update" and change.alert is not None
    assert (change.alert.first_time, change.alert.last_time, change.alert.state) == (at(0), at(40), "open")


@given(st.integers(0, 100), st.integers(1, 100), st.integers(0, 100), st.integers(1, 100))
def test_widening_only_ever_grows_the_window(s0: int, d0: int, s1: int, d1: int) -> None:
    a = AlertState(1, OFFLINE, "violation", "cleared", None, None, 1, at(s0), at(s0 + d0))
    change = episode_change(
        a, OFFLINE, Episode(at(s1), at(s1 + d1), None, 1, at(s1 + d1)), "violation", "", True
    )
    assert change.alert is not None and change.alert.state == "cleared"  # a closed record stays closed
    assert change.alert.first_time == min(at(s0), at(s1))
    assert change.alert.last_time == max(at(s0 + d0), at(s1 + d1))
