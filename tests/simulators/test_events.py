"""Every scripted event produces the data it claims, checked on the published JSON v1 stream as ingest's
own decoder reads it, against a run of the same seed without the scenario."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from simulators import encode, scenario
from simulators.engine import Engine
from simulators.records import Message
from tests.simulators.streams import Landed, land, series, small_park

FIXTURE = Path(__file__).parent / "fixtures" / "every_event.yaml"
SEED = 7


@dataclass
class Run:
    messages: list[Message]
    rows: list[Landed]
    rejected: list[tuple[int, str]]
    truth: dict[str, dict[str, Any]]


def simulate(with_events: bool) -> Run:
    spec = small_park()
    scen = scenario.parse(FIXTURE.read_text(), str(FIXTURE))
    assert scen.start is not None and scen.duration is not None
    events = scenario.resolve(scen, spec, scen.start) if with_events else []
    engine = Engine(spec, scen.start, SEED, events, scen.start + scen.duration)
    messages = [encode.json_v1(spec.id, r) for r in engine.records()]
    rows, rejected = land(spec, messages)
    return Run(messages, rows, rejected, {e["id"]: e for e in engine.truth()["events"]})


@pytest.fixture(scope="module")
def run() -> Run:
    return simulate(with_events=True)


@pytest.fixture(scope="module")
def base() -> Run:
    return simulate(with_events=False)


def window(run: Run, event_id: str) -> tuple[datetime, datetime]:
    event = run.truth[event_id]
    return datetime.fromisoformat(event["start"]), datetime.fromisoformat(event["end"])


def inside(values: dict[datetime, float], start: datetime, end: datetime) -> list[float]:
    return [v for t, v in sorted(values.items()) if start <= t < end]


def flags_at(run: Run, point: str, start: datetime, end: datetime) -> dict[tuple[str, datetime], str]:
    return {(r.parameter, r.time): r.flag for r in run.rows if r.point == point and start <= r.time < end}


def test_every_event_touched_data(run):
    untouched = [i for i, e in run.truth.items() if not e["messages"]]
    assert not untouched
    assert len(run.truth) == 22


def test_same_seed_same_stream_and_other_seed_differs(run, base):
    again = simulate(with_events=True)
    assert [m.payload for m in again.messages] == [m.payload for m in run.messages]
    spec = small_park()
    start = datetime(2026, 11, 30, tzinfo=UTC)

    def payloads(seed: int) -> list[bytes]:
        engine = Engine(spec, start, seed, until=start + timedelta(hours=1))
        return [encode.json_v1(spec.id, r).payload for r in engine.records()]

    assert payloads(SEED + 1) != payloads(SEED)


def test_outside_event_windows_the_data_is_the_unscripted_data(run, base):
    touched = set()
    for event in run.truth.values():
        start, end = datetime.fromisoformat(event["start"]), datetime.fromisoformat(event["end"])
        for point in {s.get("point") for s in event["samples"]} | {f"{event['plant']}/{event['point']}"}:
            touched.add((point, start, end))

    # The equalisation tank spreads a bypass over the treated flow of the hours after it.
    bypass_start, _ = window(run, "shop1-bypass")
    for point in ("central/outlet", "central/reuse"):
        touched.add((point, bypass_start, bypass_start + timedelta(days=1)))

    def is_touched(row: Landed) -> bool:
        return any(p == row.point and s <= row.time < e for p, s, e in touched)

    mine = {(r.point, r.parameter, r.time): (r.value, r.flag) for r in run.rows if not is_touched(r)}
    theirs = {(r.point, r.parameter, r.time): (r.value, r.flag) for r in base.rows if not is_touched(r)}
    # Clock-skewed readings land at other times; everything else is identical.
    skewed = {k for k in mine if k not in theirs}
    assert all(k[0] == "shop-02/total" for k in skewed)
    assert {k: v for k, v in mine.items() if k not in skewed} == theirs


def test_step_holds_the_value_for_the_window(run):
    start, end = window(run, "cod-step")
    values = inside(series(run.rows, "shop-01/total", "cod"), start, end)
    assert values == [150.0] * 5


def test_ramp_rises_steadily_to_the_value(run, base):
    start, end = window(run, "cod-ramp")
    values = inside(series(run.rows, "shop-01/total", "cod"), start, end)
    assert len(values) == 10
    assert values == sorted(values)
    assert values[-1] == 200.0
    assert values[0] < 100


def test_spike_peaks_at_once_then_washes_out(run):
    start, end = window(run, "nh3-spike")
    values = inside(series(run.rows, "shop-01/total", "nh3_n"), start, end)
    assert values[0] == 30.0
    assert values == sorted(values, reverse=True)
    assert values[-1] < 10


def test_drift_adds_a_growing_offset(run, base):
    start, end = window(run, "nh3-drift")
    mine = inside(series(run.rows, "shop-01/total", "nh3_n"), start, end)
    theirs = inside(series(base.rows, "shop-01/total", "nh3_n"), start, end)
    offsets = [a - b for a, b in zip(mine, theirs, strict=True)]
    assert offsets == pytest.approx([5 * (i + 1) / 30 for i in range(30)], abs=0.01)


def test_flatline_repeats_one_value(run, base):
    start, end = window(run, "cod-flat")
    mine = inside(series(run.rows, "shop-01/total", "cod"), start, end)
    theirs = inside(series(base.rows, "shop-01/total", "cod"), start, end)
    assert len(mine) == 20 and len(set(mine)) == 1
    assert mine[0] == theirs[0] and len(set(theirs)) > 10


def test_implausible_values_are_flagged_normal(run):
    start, end = window(run, "ph-zero")
    assert inside(series(run.rows, "shop-01/total", "ph"), start, end) == [0.0] * 3
    start, end = window(run, "cod-negative")
    assert inside(series(run.rows, "shop-01/total", "cod"), start, end) == [-3.5] * 2
    flags = flags_at(run, "shop-01/total", *window(run, "ph-zero"))
    assert set(flags.values()) == {"N"}


def test_heavy_metal_goes_out_in_micrograms_and_lands_in_milligrams(run):
    start, end = window(run, "cr6-ug")
    assert inside(series(run.rows, "shop-01/workshop", "cr6"), start, end) == pytest.approx([0.5] * 3)
    sent = [orjson.loads(m.payload) for m in run.messages if m.topic.endswith("shop-01/workshop")]
    in_window = [b for b in sent if start <= datetime.fromisoformat(b["ts"]) < end]
    assert [b["values"]["cr6"] for b in in_window] == [500.0] * 3
    assert run.truth["cr6-ug"]["samples"][0]["wire"] == {"cr6": 500.0}


def test_over_range_sends_the_ceiling_flagged_t(run):
    start, end = window(run, "ni-over")
    assert inside(series(run.rows, "shop-01/workshop", "ni"), start, end) == [5.0] * 5
    flags = flags_at(run, "shop-01/workshop", start, end)
    assert {f for (p, _), f in flags.items() if p == "ni"} == {"T"}
    assert {f for (p, _), f in flags.items() if p != "ni"} == {"N"}


@pytest.mark.parametrize(
    ("event_id", "flag", "parameters"),
    [
        ("ws-maint", "M", {"cr_total", "cr6", "ni", "ph"}),
        ("cr-cal", "C", {"cr_total"}),
        ("ws-fault-d", "D", {"cr_total", "cr6", "ni", "ph"}),
        ("ph-fault-b", "B", {"ph"}),
        ("ws-stopped", "F", {"cr_total", "cr6", "ni", "ph"}),
    ],
)
def test_flag_windows_flag_exactly_their_parameters(run, event_id, flag, parameters):
    start, end = window(run, event_id)
    flags = flags_at(run, "shop-01/workshop", start, end)
    assert {p for (p, _), f in flags.items() if f == flag} == parameters
    assert {f for (p, _), f in flags.items() if p not in parameters} <= {"N"}
    assert len({t for _, t in flags}) == run.truth[event_id]["messages"]
    if event_id == "cr-cal":  # the analyser reads its span standard while calibrating
        assert set(inside(series(run.rows, "shop-01/workshop", "cr_total"), start, end)) == {1.0}


def test_dropout_sends_nothing_for_the_window(run, base):
    start, end = window(run, "ws-offline")
    assert not inside(series(run.rows, "shop-01/workshop", "ph"), start, end)
    assert len(inside(series(base.rows, "shop-01/workshop", "ph"), start, end)) == 15
    assert run.truth["ws-offline"]["messages"] == 15


def test_clock_skew_shifts_the_timestamp_not_the_values(run, base):
    start, end = window(run, "utc-clock")
    offset = timedelta(hours=-8)
    mine = series(run.rows, "shop-02/total", "cod")
    theirs = inside(series(base.rows, "shop-02/total", "cod"), start, end)
    assert inside(mine, start, end) == []
    assert inside(mine, start + offset, end + offset) == theirs


def test_malformed_messages_are_rejected_by_ingest_each_for_its_defect(run):
    truth = run.truth["garbage"]
    assert [s["defect"] for s in truth["samples"]] == [
        "truncated", "not_a_number", "no_offset", "bad_flag", "not_utf8",
    ]  # fmt: skip
    reasons = [reason for _, reason in run.rejected]
    assert len(reasons) == 5
    for needle in ("not valid UTF-8 JSON", "not a number", "no UTC offset", "HJ 212 flags", "UTF-8"):
        assert any(needle in r for r in reasons), needle
    start, end = window(run, "garbage")
    assert not inside(series(run.rows, "shop-02/total", "cod"), start, end)


def _delivery(run: Run, point: str, start: datetime, end: datetime) -> list[tuple[int, datetime, datetime]]:
    out = []
    for index, msg in enumerate(run.messages):
        if msg.topic.endswith(point):
            try:
                ts = datetime.fromisoformat(orjson.loads(msg.payload)["ts"])
            except (orjson.JSONDecodeError, ValueError, TypeError):
                continue  # the malformed ones
            if ts.tzinfo is not None and start <= ts < end:
                out.append((index, ts, msg.sim_time))
    return out


def test_out_of_order_delivers_the_window_shuffled_once_each(run):
    start, end = window(run, "shuffled")
    sent = _delivery(run, "shop-02/total", start, end)
    times = [ts for _, ts, _ in sent]
    assert len(times) == 5 and len(set(times)) == 5
    assert times != sorted(times)
    assert {sim for _, _, sim in sent} == {end}


def test_late_batch_arrives_together_after_the_delay(run):
    start, end = window(run, "backfill")
    sent = _delivery(run, "shop-02/total", start, end)
    assert [ts for _, ts, _ in sent] == [start + timedelta(minutes=i) for i in range(5)]
    assert {sim for _, _, sim in sent} == {end + timedelta(minutes=30)}
    indexes = [i for i, _, _ in sent]
    assert indexes == list(range(indexes[0], indexes[0] + 5))  # one burst
    # ... after messages measured later than the batch
    later = [m for m in run.messages[: indexes[0]] if m.sim_time > end]
    assert later


def test_duplicates_send_each_message_several_times(run):
    start, end = window(run, "resend")
    sent = _delivery(run, "shop-02/total", start, end)
    assert len(sent) == 15
    payloads = [run.messages[i].payload for i, _, _ in sent]
    assert len(set(payloads)) == 5
    rows = [r for r in run.rows if r.point == "shop-02/total" and start <= r.time < end]
    assert len(rows) == 15 * 4 and len({(r.parameter, r.time) for r in rows}) == 5 * 4


def _ratio(run: Run, start: datetime, end: datetime) -> float:
    reuse = sum(inside(series(run.rows, "central/reuse", "flow"), start, end))
    discharge = sum(inside(series(run.rows, "central/outlet", "flow"), start, end))
    return reuse / (reuse + discharge)


def test_reuse_drop_pulls_the_reuse_ratio_below_target(run, base):
    start, end = window(run, "reuse-low")
    truth = run.truth["reuse-low"]
    assert _ratio(base, start, end) == pytest.approx(truth["normal_ratio"], abs=0.02)
    assert _ratio(run, start, end) == pytest.approx(truth["expected_ratio"], abs=0.02)
    assert truth["expected_ratio"] < 0.5 < truth["normal_ratio"]


def test_bypass_loses_the_plant_flow_before_the_central_inlet(run, base):
    start, end = window(run, "shop1-bypass")
    mine = inside(series(run.rows, "central/inlet", "flow"), start, end)
    theirs = inside(series(base.rows, "central/inlet", "flow"), start, end)
    missing = [s["missing_flow"] for s in run.truth["shop1-bypass"]["samples"]]
    for got, usual, lost in zip(mine, theirs, missing, strict=True):
        assert usual - got == pytest.approx(lost * 1.03, rel=0.12)
    # The shop itself still reports its discharge: the water went somewhere else.
    assert inside(series(run.rows, "shop-01/total", "flow"), start, end) == inside(
        series(base.rows, "shop-01/total", "flow"), start, end
    )


def test_stream_is_in_delivery_order(run):
    times = [m.sim_time for m in run.messages]
    assert times == sorted(times)
