"""The simulated park looks like a real one: shifts and breaks, weekends, plant-to-plant variation,
flow-load correlation, central plant removal, reuse vs discharge volume, reporting intervals."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

import pytest

from ingest.core import park
from simulators import signals
from simulators.__main__ import sample_park_path
from simulators.engine import Engine
from simulators.model import EQUALISATION_H, INFILTRATION, ParkModel
from simulators.records import Record

MONDAY = datetime.fromisoformat("2026-11-30T00:00:00+08:00")


@pytest.fixture(scope="module")
def plating() -> park.ParkSpec:
    return park.parse(sample_park_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dyeing() -> park.ParkSpec:
    return park.parse(sample_park_path("dyeing").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dyeing_day(dyeing) -> list[Record]:
    """A Monday morning, 06:00 to 12:00: shift change, full production."""
    start = MONDAY + timedelta(hours=6)
    return list(Engine(dyeing, start, 3, until=start + timedelta(hours=6)).records())


def values(records: list[Record], point: str, code: str, hours: tuple[float, float] = (0, 24)) -> list[float]:
    plant, pt = point.split("/")
    return [
        r.values[code]
        for r in records
        if r.plant == plant and r.point == pt and hours[0] <= r.ts.hour + r.ts.minute / 60 < hours[1]
    ]


def test_two_shift_rhythm_with_breaks_nights_and_weekends():
    rhythm = signals.RHYTHMS["two-shift"]
    at = lambda day, hh, mm=0: signals.production(rhythm, MONDAY + timedelta(days=day, hours=hh, minutes=mm))  # noqa: E731
    assert at(0, 10) == 1.0
    assert at(0, 12, 30) < 0.5  # lunch
    assert at(0, 3) < 0.2  # night
    assert at(5, 10) == pytest.approx(0.75)  # Saturday
    assert at(6, 10) == pytest.approx(0.2)  # Sunday
    assert 0.15 < at(0, 7, 45) < 1.0  # ramping up, not a step


def test_the_sample_parks_cover_the_issue(plating, dyeing):
    assert len([p for p in plating.plants if p.kind == "enterprise"]) == 57
    enterprises = [p for p in dyeing.plants if p.kind == "enterprise"]
    assert 8 <= len(enterprises) <= 20
    total = enterprises[0].points[1].parameters
    assert {"cod", "colour", "nh3_n", "tn", "tp", "sulfide", "sb", "flow"} <= set(total)
    assert enterprises[0].points[0].parameters == {"cr6": "µg/L", "ph": "pH"}
    kinds = {pt.kind for p in dyeing.plants for pt in p.points}
    assert {"central_inlet", "central_outlet", "reuse_outlet"} <= kinds
    intervals = {pt.interval_s for p in dyeing.plants for pt in p.points}
    assert {30, 60, 300, 3600} <= intervals  # real-time, minute and hourly records


def test_reporting_intervals_follow_the_park_file(dyeing_day):
    assert len(values(dyeing_day, "dye-01/workshop", "cr6")) == 6
    assert len(values(dyeing_day, "dye-01/total", "cod")) == 360
    assert len(values(dyeing_day, "central/inlet", "flow")) == 720
    assert len(values(dyeing_day, "central/reuse", "flow")) == 72


def test_plants_differ_and_flow_and_load_move_together(dyeing_day):
    flows = [statistics.mean(values(dyeing_day, f"dye-{i:02d}/total", "flow")) for i in range(1, 13)]
    assert max(flows) > 1.5 * min(flows)
    for plant in ("dye-01", "dye-05"):
        flow = values(dyeing_day, f"{plant}/total", "flow")
        cod = values(dyeing_day, f"{plant}/total", "cod")
        assert statistics.correlation(flow, cod) > 0.2


def test_central_plant_removes_pollutants_but_not_salt(dyeing_day):
    for code in ("cod", "nh3_n", "tp", "colour", "ss"):
        inlet = statistics.mean(values(dyeing_day, "central/inlet", code))
        outlet = statistics.mean(values(dyeing_day, "central/outlet", code))
        assert outlet < 0.4 * inlet, code
    inlet = statistics.mean(values(dyeing_day, "central/inlet", "conductivity"))
    assert statistics.mean(values(dyeing_day, "central/outlet", "conductivity")) > 0.8 * inlet


def test_inlet_is_the_sum_of_plant_discharges_and_outlet_plus_reuse_is_the_treated_flow(dyeing, dyeing_day):
    model = ParkModel(dyeing, 3)
    noon = MONDAY + timedelta(hours=12)
    plants = sum(model.plant_flow(p, noon) for p in model.enterprises)
    assert model.inlet_flow(noon) == pytest.approx(plants * INFILTRATION)
    reuse = statistics.mean(values(dyeing_day, "central/reuse", "flow", (10, 12)))
    discharge = statistics.mean(values(dyeing_day, "central/outlet", "flow", (10, 12)))
    assert reuse / (reuse + discharge) == pytest.approx(0.48, abs=0.03)  # target 0.4 + margin
    assert EQUALISATION_H >= 1


def test_shops_follow_their_shifts_and_rest_on_sunday(plating):
    model = ParkModel(plating, 5)
    sunday, monday = MONDAY + timedelta(days=6), MONDAY + timedelta(days=7)
    inlet = lambda day, hh, mm=0: model.inlet_flow(day + timedelta(hours=hh, minutes=mm))  # noqa: E731
    assert inlet(monday, 10) > 2 * inlet(sunday, 10)
    assert inlet(monday, 12, 30) < 0.8 * inlet(monday, 10)
    assert inlet(monday, 3) < 0.4 * inlet(monday, 10)
    # The treated flow lags and smooths the inflow (equalisation tank).
    assert model.treated_flow(monday + timedelta(hours=8, minutes=30)) < inlet(monday, 8, 30)
