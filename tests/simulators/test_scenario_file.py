"""The scenario file: offsets and absolute times, defaults, and errors that name the event and line."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from simulators import scenario
from tests.simulators.streams import small_park

START = datetime.fromisoformat("2026-11-30T08:00:00+08:00")


def resolve(text: str) -> list[scenario.Event]:
    return scenario.resolve(scenario.parse(text, "s.yaml"), small_park(), START)


def test_offsets_absolute_times_and_the_default_window_of_one_interval():
    events = resolve(
        """
events:
  - {type: maintenance, at: 90m, duration: 1h, plant: shop-01, point: workshop}
  - {type: dropout, at: "2026-11-30T12:00:00+08:00", plant: shop-02, point: total}
  - {type: bypass, at: 1.5h, duration: 30m, plant: shop-01}
"""
    )
    assert events[0].start == START + timedelta(minutes=90)
    assert events[0].end == START + timedelta(hours=2, minutes=30)
    assert events[1].end - events[1].start == timedelta(seconds=60)
    assert events[0].id == "maintenance-1"
    assert events[2].parameter == "flow" and events[2].point is None


def test_reuse_drop_finds_the_reuse_outlet_itself():
    (event,) = resolve("events: [{type: reuse_drop, at: 0s, duration: 1h, factor: 0.5}]")
    assert (event.plant, event.point) == ("central", "reuse")


def test_hj212_codes_are_accepted_for_parameters():
    (event,) = resolve(
        "events: [{type: exceedance, plant: shop-01, point: total, parameter: w01018, value: 300}]"
    )
    assert event.parameter == "cod"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("{type: exceedance, plant: shop-09, point: total, parameter: cod, value: 1}", "unknown plant"),
        ("{type: exceedance, plant: shop-01, point: outlet, parameter: cod, value: 1}", "unknown point"),
        ("{type: exceedance, plant: shop-01, point: total, parameter: cr6, value: 1}", "not measured"),
        ("{type: exceedance, plant: shop-01, point: total, parameter: cod}", "value is required"),
        ("{type: drift, plant: shop-01, point: total, parameter: cod}", "by is required"),
        ("{type: flatline, plant: shop-01, point: total}", "parameter is required"),
        ("{type: clock_skew, plant: shop-01, point: total}", "offset is required"),
        ("{type: heavy_metal_ug, plant: shop-01, point: workshop, parameter: ni, value: 1}", "needs µg/L"),
        ("{type: heavy_metal_ug, plant: shop-01, point: total, parameter: cod, value: 1}", "not one"),
        ("{type: bypass, plant: central}", "enterprise"),
    ],
)
def test_errors_name_the_event_and_its_line(event, message):
    with pytest.raises(scenario.ScenarioError) as err:
        resolve(f"name: x\nevents:\n  - {{type: dropout, plant: shop-01, point: total}}\n  - {event}\n")
    assert "s.yaml: event 2" in str(err.value) and "(line 4)" in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("events: [{type: meteor, plant: shop-01}]", "field type"),
        ("events: [{type: dropout, at: soon}]", "neither an offset"),
        ("events: [{type: dropout, at: '2026-11-30T08:00:00'}]", "UTC offset"),
        ("events: [{type: duplicates, copies: 1}]", "copies"),
        ("events: [{type: dropout, colour: red}]", "colour"),
        ("- just a list", "YAML mapping"),
        ("events: [", "not valid YAML"),
    ],
)
def test_malformed_scenario_files_are_refused_with_the_field(text, message):
    with pytest.raises(scenario.ScenarioError, match=message):
        resolve(text)
