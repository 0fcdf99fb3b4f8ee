"""Each replay parses its whole source file and publishes the expected number of readings."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from ingest import park
from simulators import replay
from simulators.__main__ import build_parser, sample_park_path
from simulators.plan import make_plan
from tests.simulators.streams import land

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
HJ212_FILE = DATA / "hj212_2005_water_hourly_daily_2016-08-24.h212"
START = datetime.fromisoformat("2025-01-01T00:00:00+08:00")

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present")


@pytest.fixture(scope="module")
def dyeing() -> park.ParkSpec:
    return park.parse(sample_park_path("dyeing").read_text(encoding="utf-8"))


def args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_uci_replays_every_row_as_the_central_outlet_in_date_order(dyeing):
    lines = [line.split(",") for line in (DATA / replay.UCI_FILE).read_text().splitlines() if line.strip()]
    expected = sum(1 for cells in lines for col in replay.UCI_COLUMNS if cells[col] != "?")
    loaded = replay.load("uci", dyeing, START)
    assert loaded.rows == len(lines) == 527
    assert loaded.readings == expected
    assert sum(len(r.values) for r in loaded.records) == expected
    assert {(r.plant, r.point) for r in loaded.records} == {("central", "outlet")}
    times = [r.ts for r in loaded.records]
    assert times == sorted(times) and times[0] == START
    # D-1/1/90 (line 50; the file is grouped by month): PH-S 7.5, DBO-S 16, DQO-S 97, SS-S 17, COND-S 903
    first = {"ph": 7.5, "bod5": 16.0, "cod": 97.0, "ss": 17.0, "conductivity": 903.0}
    assert dict(loaded.records[0].values) == first
    assert not loaded.skipped


def test_uci_into_a_park_that_measures_less_counts_what_it_skips():
    plating = park.parse(sample_park_path().read_text(encoding="utf-8"))
    loaded = replay.load("uci", plating, START)
    assert set(loaded.skipped) == {"bod5", "ss", "conductivity"}
    assert all(set(r.values) <= {"ph", "cod"} for r in loaded.records)


@pytest.mark.parametrize("source", ["bsm1-dry", "bsm1-rain", "bsm1-storm"])
def test_bsm1_replays_every_15_minute_step_at_the_central_inlet(dyeing, source):
    loaded = replay.load(source, dyeing, START)
    assert loaded.rows == len(loaded.records) == 1345
    assert loaded.readings == 1345 * 4
    steps = {b.ts - a.ts for a, b in zip(loaded.records, loaded.records[1:], strict=False)}
    assert steps == {timedelta(minutes=15)}
    assert {(r.plant, r.point) for r in loaded.records} == {("central", "inlet")}
    flows = [r.values["flow"] * 86.4 for r in loaded.records]  # L/s -> m3/d
    peak = {"bsm1-dry": 32_180, "bsm1-rain": 52_126, "bsm1-storm": 60_000}[source]
    assert max(flows) == pytest.approx(peak, rel=1e-6)


def test_bsm1_derives_cod_tss_and_ammonia_from_the_fractions(dyeing):
    first = replay.load("bsm1-dry", dyeing, START).records[0].values
    # t=0: Si 30, Ss 63.63455, Xi 58.476, Xs 224.352, Xbh 31.425, Xba 0, Xp 0, Snh 30.24762, Q 21477
    assert first["cod"] == pytest.approx(30 + 63.63455 + 58.476 + 224.352 + 31.425)
    assert first["ss"] == pytest.approx(0.75 * (224.352 + 58.476 + 31.425))
    assert first["nh3_n"] == pytest.approx(30.24762)
    assert first["flow"] == pytest.approx(21477 / 86.4)


def test_bsm1_lands_through_ingest_decoder(dyeing):
    plan = make_plan(args("--replay", "bsm1-storm", "--start", START.isoformat()))
    rows, rejected = land(plan.park, plan.messages())
    assert not rejected
    assert len(rows) == 1345 * 4


def test_hj212_file_frames_go_out_unchanged_on_their_mn_topics():
    plan = make_plan(args("--replay", "hj212-file", str(HJ212_FILE)))
    frames = HJ212_FILE.read_bytes().splitlines(keepends=True)
    messages = list(plan.messages())
    assert len(messages) == len(frames) == 3675
    assert [m.payload for m in messages] == frames
    assert all(
        m.topic == f"outfall/hj212/{m.payload.split(b'MN=')[1].split(b';')[0].decode()}" for m in messages
    )
    truth = plan.truth()
    assert truth["rows"] == 3675 and not truth["skipped"]  # every MN is a point of the shipped park
    # one reading per distinct factor per frame (a few real frames repeat a factor)
    assert truth["readings"] == sum(len(set(re.findall(rb"([A-Za-z0-9]+)-Avg=", f))) for f in frames)
    times = [m.sim_time for m in messages]
    assert times == sorted(times)


def test_the_shipped_hj212_park_is_generated_from_the_file():
    shipped = sample_park_path("hj212-2016").read_text(encoding="utf-8")
    assert shipped == replay.hj212_park_yaml(HJ212_FILE.read_bytes())
    assert len(park.parse(shipped).plants) == 148


def test_uci_through_the_plan_with_duration_and_a_ground_truth():
    plan = make_plan(args("--replay", "uci", "--start", START.isoformat(), "--duration", "30d"))
    messages = list(plan.messages())
    assert 20 <= len(messages) <= 30
    assert all(m.topic == "outfall/v1/demo-dyeing/central/outlet" for m in messages)
    assert orjson.loads(messages[0].payload)["ts"] == START.isoformat()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--replay", "hj212-file"), "needs a file path"),
        (("--replay", "bsm1-fog"), "one of"),
        (("--replay", "uci", "/nonexistent.data"), "cannot read"),
    ],
)
def test_replay_arguments_are_checked(argv, message):
    with pytest.raises(ValueError, match=message):
        make_plan(args(*argv))
