"""Each replay parses its whole source file and publishes the expected number of readings."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta

import orjson
import pytest

from ingest.core import park
from simulators import replay
from simulators.__main__ import build_parser, sample_park_path
from simulators.plan import make_plan
from tests.realdata import BSM1, DATA, HJ212_DAY, UCI, field_2005_frames, needs
from tests.simulators.streams import land

HJ212_FILE = HJ212_DAY
START = datetime.fromisoformat("2025-01-01T00:00:00+08:00")


@pytest.fixture(scope="module")
def dyeing() -> park.ParkSpec:
    return park.parse(sample_park_path("dyeing").read_text(encoding="utf-8"))


def args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@needs(UCI)
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


@needs(UCI)
def test_uci_into_a_park_that_measures_less_counts_what_it_skips():
    plating = park.parse(sample_park_path().read_text(encoding="utf-8"))
    loaded = replay.load("uci", plating, START)
    assert set(loaded.skipped) == {"bod5", "ss", "conductivity"}
    assert all(set(r.values) <= {"ph", "cod"} for r in loaded.records)


@needs(BSM1)
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


@needs(BSM1)
def test_bsm1_derives_cod_tss_and_ammonia_from_the_fractions(dyeing):
    first = replay.load("bsm1-dry", dyeing, START).records[0].values
    # t=0: Si 30, Ss 63.63455, Xi 58.476, Xs 224.352, Xbh 31.425, Xba 0, Xp 0, Snh 30.24762, Q 21477
    assert first["cod"] == pytest.approx(30 + 63.63455 + 58.476 + 224.352 + 31.425)
    assert first["ss"] == pytest.approx(0.75 * (224.352 + 58.476 + 31.425))
    assert first["nh3_n"] == pytest.approx(30.24762)
    assert first["flow"] == pytest.approx(21477 / 86.4)


@needs(BSM1)
def test_bsm1_lands_through_ingest_decoder(dyeing):
    plan = make_plan(args("--replay", "bsm1-storm", "--start", START.isoformat()))
    rows, rejected = land(plan.park, plan.messages())
    assert not rejected
    assert len(rows) == 1345 * 4


@needs(HJ212_DAY)
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


@needs(HJ212_DAY)
def test_the_shipped_hj212_park_is_generated_from_the_file():
    shipped = sample_park_path("hj212-2016").read_text(encoding="utf-8")
    assert shipped == replay.hj212_park_yaml(HJ212_FILE.read_bytes())
    assert len(park.parse(shipped).plants) == 148


@needs(UCI)
def test_uci_through_the_plan_with_duration_and_a_ground_truth():
    plan = make_plan(args("--replay", "uci", "--start", START.isoformat(), "--duration", "30d"))
    messages = list(plan.messages())
    assert 20 <= len(messages) <= 30
    assert all(m.topic == "outfall/v1/demo-dyeing/central/outlet" for m in messages)
    assert orjson.loads(messages[0].payload)["ts"] == START.isoformat()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--replay", "hj212-file"), "needs a file: --replay-file PATH"),
        (("--replay-file", "/x.h212"), "needs --replay SOURCE"),
        (("--replay", "hj212-file", "/a", "--replay-file", "/b"), "give the replay's file once"),
        (("--replay", "bsm1-fog"), "one of"),
        (("--replay", "uci", "/nonexistent.data"), "cannot read"),
    ],
)
def test_replay_arguments_are_checked(argv, message):
    with pytest.raises(ValueError, match=message):
        make_plan(args(*argv))


# --- fixtures the tests make themselves: the same code paths without the third-party files ---------
BSM1_HEADER = "t\tSi\tSs\tXi\tXs\tXbh\tXba\tXp\tSo\tSno\tSnh\tSnd\tXnd\tSalk\tQ"


def test_bsm1_from_a_file_given_by_path(dyeing, tmp_path):
    # BSM1 influent layout (tab-separated, CRLF, t in days, Q in m3/d), four 15-minute steps
    rows = [
        f"{k / 96:.6f}\t30\t63.6\t58.5\t224.4\t31.4\t0\t0\t0\t0\t30.2\t6.9\t10.6\t7\t{21477 + k}"
        for k in range(4)
    ]
    path = tmp_path / "Inf_strm_2006.txt"
    path.write_bytes(("\r\n".join([BSM1_HEADER, *rows]) + "\r\n").encode())
    plan = make_plan(args("--replay", "bsm1-storm", "--replay-file", str(path), "--start", START.isoformat()))
    records, rejected = land(plan.park, plan.messages())
    assert not rejected and len(records) == 4 * 4
    first = replay.load("bsm1-storm", dyeing, START, path).records[0].values
    assert first["cod"] == pytest.approx(30 + 63.6 + 58.5 + 224.4 + 31.4)
    assert first["flow"] == pytest.approx(21477 / 86.4)


def test_uci_from_a_file_given_by_path(dyeing, tmp_path):
    cells = ["?"] * 38
    cells[22], cells[23], cells[24] = "7.5", "16", "97"  # columns 23-25: PH-S, DBO-S, DQO-S
    path = tmp_path / "water-treatment.data"
    path.write_text("\n".join(f"D-{d}/1/90," + ",".join(cells) for d in (2, 1)) + "\n")
    loaded = replay.load("uci", dyeing, START, path)
    assert loaded.rows == 2 and loaded.records[0].ts == START
    assert dict(loaded.records[0].values) == {"ph": 7.5, "bod5": 16.0, "cod": 97.0}


def test_a_named_replay_without_its_file_says_where_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("OUTFALL_SHARED_DATA", str(tmp_path))
    with pytest.raises(replay.ReplayError, match="--replay-file PATH"):
        make_plan(args("--replay", "bsm1-storm"))


def test_hj212_file_with_corrupt_lines_replays_the_rest_and_reports_them(tmp_path, capsys):
    frames = field_2005_frames()
    good = len(frames)
    corrupt = frames[10][:-4] + b"0000"  # bad CRC
    lines = [*frames[:10], corrupt, *frames[10:20], b"garbage", *frames[20:]]
    path = tmp_path / "day.h212"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    park_path = tmp_path / "park.yaml"
    park_path.write_text(replay.hj212_park_yaml(path.read_bytes(), "field-2005"))
    plan = make_plan(args("--replay", "hj212-file", "--replay-file", str(path), "--park", str(park_path)))
    assert [m.payload.rstrip(b"\r\n") for m in plan.messages()] == frames
    truth = plan.truth()
    assert truth["rows"] == good and truth["bad_lines"] == 2
    assert [b["line"] for b in truth["first_bad_lines"]] == [11, 22]
    assert any(n.startswith("bad lines     : 2 not replayed (first: line 11: bad CRC") for n in plan.notes())


def test_hj212_file_where_no_line_is_readable_is_an_error(tmp_path):
    path = tmp_path / "junk.h212"
    path.write_bytes(b"junk\r\nmore junk\r\n")
    with pytest.raises(replay.ReplayError, match="no line could be read"):
        make_plan(args("--replay", "hj212-file", str(path), "--park", str(sample_park_path("hj212-2016"))))
