"""`outfall simulate --transport tcp`: simulated data loggers through the real HJ 212 gateway into the
real database, and the real HJ 212 file replayed over TCP. Plus a link against a scripted gateway:
re-sending after OverTime, giving up after ReCount, answering a back-fill request from its history."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

import orjson
import pytest

from ingest.core import parameters, repo, secrets
from ingest.core import park as park_file
from ingest.hj212 import codec as hj212
from simulators import hj212_logger, hj212_tcp
from simulators.__main__ import build_parser
from simulators.__main__ import main as simulate
from simulators.plan import make_plan
from simulators.records import Message
from simulators.replay import hj212_park_yaml
from tests.ingest.gateway_support import RunningGateway
from tests.ingest.hj212_support import new_mn
from tests.support import unique_id

PARK = """
id: {id}
name: TCP loggers
timezone: Asia/Shanghai
industry: electroplating
plants:
  - id: shop-01
    name: Shop
    points:
      - {{id: workshop, kind: workshop_outlet, mn: "{w}", interval_s: 60,
         parameters: {{cr6: µg/L, ni: mg/L}}}}
      - id: total
        kind: total_outlet
        mn: "{t}"
        interval_s: 60
        parameters: {{cod: mg/L, nh3_n: mg/L, ph: pH, flow: m3/h}}
"""
START = "2026-03-01T08:00:00+08:00"


@pytest.fixture
def start_gateway(services):
    """Started after the park is loaded: the gateway reads the registry at start (an unknown MN only
    refreshes it every few seconds, and its frames are answered as dead letters meanwhile)."""
    started = []

    def _start() -> RunningGateway:
        started.append(RunningGateway(services.database_url))
        return started[-1]

    yield _start
    for gw in started:
        gw.stop()


def _code(wire: str) -> str:
    param = parameters.BY_ALIAS.get(wire) or parameters.BY_2005[wire]
    return param.code


def _sent(argv: list[str]) -> list[hj212.Frame]:
    """What the simulator sends for these arguments (the same pure pipeline, no I/O)."""
    args = build_parser().parse_args(argv)
    plan = make_plan(args)
    until = plan.start + timedelta(seconds=plan.total) if plan.start else None
    stream = hj212_tcp.statistics_stream(
        plan.messages(), plan.park, timedelta(minutes=10), until, True, plan.passwords
    )
    return [hj212.decode(m.payload) for m in stream]


def _run(argv: list[str]) -> str:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert simulate(argv) == 0
    return out.getvalue()


def test_a_simulated_run_over_tcp_lands_every_reading_once_and_the_loggers_records(
    db, tmp_path, start_gateway
):
    w, t = new_mn(), new_mn()
    text = PARK.format(id=unique_id("tcp"), w=w, t=t)
    spec = park_file.parse(text)
    repo.load_park(db, spec)
    # each logger's own PW, given to the simulator in the broker helper's credentials file format
    pws = {pt.mn: secrets.new_password() for plant in spec.plants for pt in plant.points}
    creds = {}
    for plant in spec.plants:
        for pt in plant.points:
            name = secrets.logger_name(spec.id, plant.id, pt.id, "hj212-pw")
            secrets.issue(db, name, "hash", secrets.hash_secret(pws[pt.mn]), "test")
            creds[f"{spec.id}/{plant.id}/{pt.id}"] = {"hj212_pw": pws[pt.mn]}
    (tmp_path / "credentials.json").write_bytes(orjson.dumps(creds))
    (tmp_path / "park.yaml").write_text(text)
    argv = [
        "--credentials",
        str(tmp_path / "credentials.json"),
        "--park",
        str(tmp_path / "park.yaml"),
        "--protocol",
        "hj212",
        "--start",
        START,
        "--duration",
        "2h",
    ]
    argv += ["--speed", "0", "--seed", "3"]
    sent = _sent(argv)
    gateway = start_gateway()
    summary = _run(
        [*argv, "--transport", "tcp", "--gateway", f"127.0.0.1:{gateway.port}", "--over-time", "5"]
    )

    assert all(f.flag == 5 for f in sent) and len({(f.mn, f.qn) for f in sent}) == len(sent)
    assert {f.pw for f in sent if f.mn == t} == {pws[t]}  # every frame, records too, carries the real PW
    realtime = {
        (f.mn, _code(c), hj212.local_time(f.data_time or ""))
        for f in sent
        if f.cn == "2011"
        for c in f.factors
    }
    records = {
        (f.mn, _code(c), {"2051": "minute", "2061": "hour"}[f.cn], hj212.local_time(f.data_time or ""))
        for f in sent
        if f.cn != "2011"
        for c in f.factors
    }
    assert len(realtime) == 2 * 60 * 6 and len(records) == (12 + 2) * 6  # 2 h, 10-minute and hourly records
    rows = db.execute(
        "SELECT p.mn, k.code, r.time AT TIME ZONE 'Asia/Shanghai', r.value, r.source FROM readings r"
        " JOIN points p ON p.id = r.point_id JOIN parameters k ON k.id = r.parameter_id WHERE p.park_id = %s",
        (spec.id,),
    ).fetchall()
    assert {r[:3] for r in rows} == realtime and len(rows) == len(realtime)
    assert {r[4] for r in rows} == {"tcp-hj212"}
    stats = db.execute(
        "SELECT p.mn, k.code, s.period, s.time AT TIME ZONE 'Asia/Shanghai', s.avg, s.min, s.max, s.cou"
        " FROM logger_statistics s JOIN points p ON p.id = s.point_id"
        " JOIN parameters k ON k.id = s.parameter_id WHERE p.park_id = %s",
        (spec.id,),
    ).fetchall()
    assert {s[:4] for s in stats} == records and len(stats) == len(records)
    _check_aggregates(rows, stats)
    assert f"{len(sent)} of {len(sent)} uploads answered, 0 re-sent, 0 given up" in summary


def _check_aggregates(rows, stats):
    """Each record agrees with the real-time values stored for its interval (catalogue units)."""
    values = defaultdict(list)
    for mn, code, when, value, _ in rows:
        values[(mn, code, when.replace(minute=when.minute // 10 * 10))].append(value)
    minutes = {}
    for mn, code, period, start, avg, low, high, cou in stats:
        if period == "minute":
            got = values[(mn, code, start)]
            assert len(got) == 10
            assert (avg, low, high) == pytest.approx((sum(got) / 10, min(got), max(got)), abs=1e-3)
            if code == "flow":  # L/s x 60 s / 1000 per value: m3
                assert cou == pytest.approx(sum(got) * 60 / 1000, rel=1e-3)
            minutes[(mn, code, start)] = (avg, cou)
    for mn, code, period, start, avg, _, _, cou in stats:
        if period == "hour":
            parts = [v for k, v in minutes.items() if k[:2] == (mn, code) and k[2].hour == start.hour]
            assert len(parts) == 6
            assert avg == pytest.approx(sum(p[0] for p in parts) / 6, abs=1e-3)
            if cou is not None:
                assert cou == pytest.approx(sum(p[1] for p in parts), rel=1e-3)


def test_a_2005_day_replayed_over_tcp_stores_every_statistic_once(
    db, tmp_path, start_gateway, day_of_2005_frames
):
    originals = [hj212.decode(raw) for raw in day_of_2005_frames]
    fresh = {mn: "T" + new_mn()[:13] for mn in sorted({f.mn for f in originals})}  # a letter: YAML ids
    lines = []
    for raw in day_of_2005_frames:
        text = raw[6:-4].decode()
        old = text.split("MN=", 1)[1].split(";", 1)[0]
        lines.append(hj212.wrap(text.replace(f"MN={old};", f"MN={fresh[old]};")))
    data = b"".join(lines)
    (tmp_path / "real.h212").write_bytes(data)
    text = hj212_park_yaml(data, unique_id("real"))
    spec = park_file.parse(text)
    repo.load_park(db, spec)
    # the real loggers' PWs, as they are in the file, registered as their points' secrets
    file_pw = {fresh[f.mn]: f.pw for f in originals if f.pw}
    for plant in spec.plants:
        for pt in plant.points:
            if pt.mn in file_pw:
                name = secrets.logger_name(spec.id, plant.id, pt.id, "hj212-pw")
                secrets.issue(db, name, "hash", secrets.hash_secret(file_pw[pt.mn]), "test")
    (tmp_path / "park.yaml").write_text(text)
    expected = set()
    for f in originals:
        for code, fields in f.factors.items():
            if {"Avg", "Min", "Max", "Cou"} & fields.keys() and code in parameters.BY_2005:
                period = {"2061": "hour", "2031": "day"}[f.cn]
                expected.add(
                    (fresh[f.mn], parameters.BY_2005[code].code, period, hj212.local_time(f.data_time or ""))
                )
    argv = ["--replay", "hj212-file", str(tmp_path / "real.h212"), "--park", str(tmp_path / "park.yaml")]
    gateway = start_gateway()
    argv += ["--speed", "0", "--transport", "tcp", "--gateway", f"127.0.0.1:{gateway.port}"]

    def stored():
        return db.execute(
            "SELECT p.mn, k.code, s.period, s.time AT TIME ZONE 'Asia/Shanghai' FROM logger_statistics s"
            " JOIN points p ON p.id = s.point_id JOIN parameters k ON k.id = s.parameter_id"
            " WHERE p.park_id = %s",
            (spec.id,),
        ).fetchall()

    summary = _run(argv)
    rows = stored()
    assert set(rows) == expected and len(rows) == len(expected)
    assert f"HJ 212 TCP    : 127.0.0.1:{gateway.port}" in summary
    _run(argv)  # all retransmissions the second time
    assert len(stored()) == len(expected)


# --- a link against a scripted gateway -------------------------------------------------------------


def _upload(mn: str, cn: str, when: str, flag: int = 5, qn: str = "20260301080000001") -> bytes:
    factors: hj212.Factors = {"w01018": {"Avg": 40.0, "Flag": "N"}}
    return hj212.encode(
        hj212.Frame("32", cn, mn, qn, "123456", flag, factors=factors, other={"DataTime": when})
    )


async def _scripted(script, uploads: list[bytes], re_count: int = 2):
    """Serve one link; ``script(frame, writer, seen)`` answers (or not) each frame it receives."""
    seen: list[hj212.Frame] = []

    async def handle(reader, writer):
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                frame = hj212.decode(await reader.readuntil(b"\r\n"))
                seen.append(frame)
                await script(frame, writer, seen)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    totals = hj212_tcp.Totals()
    link = hj212_tcp.Link("MN1", hj212_tcp.LinkSettings("127.0.0.1", port, 0.2, re_count), totals)
    task = asyncio.create_task(link.run())
    for raw in uploads:
        await link.queue.put(Message("outfall/hj212/MN1", raw, datetime(2026, 3, 1)))
    await link.queue.put(None)
    await asyncio.wait_for(task, 20)
    server.close()
    return seen, totals


def _reply(frame: hj212.Frame) -> bytes:
    return hj212.encode(hj212.Frame("91", "9014", frame.mn, frame.qn, frame.pw, 4))


def test_a_link_re_sends_after_over_time_and_gives_up_after_re_count():
    async def silent_first(frame, writer, seen):
        if frame.cn == "2061" and [f.qn for f in seen].count(frame.qn) >= 2:
            writer.write(_reply(frame))

    async def never(frame, writer, seen):
        pass

    seen, totals = asyncio.run(_scripted(silent_first, [_upload("MN1", "2061", "20260301080000")]))
    assert len(seen) == 2 and (totals.answered, totals.resent, totals.given_up) == (1, 1, 0)
    seen, totals = asyncio.run(_scripted(never, [_upload("MN1", "2061", "20260301080000")], re_count=1))
    assert len(seen) == 2 and (totals.answered, totals.resent, totals.given_up) == (0, 1, 1)


def test_a_link_answers_a_back_fill_request_from_its_history():
    hours = [
        _upload("MN1", "2061", f"20260301{h:02d}0000", qn=f"20260301{h:02d}0000001") for h in (8, 9, 10, 12)
    ]

    async def gateway(frame, writer, seen):
        if frame.cn == "2061" and frame.wants_reply:
            writer.write(_reply(frame))
            if frame.data_time == "20260301120000" and len(seen) == 4:  # a gap before 12:00: ask 09..11
                request = hj212.Frame("32", "2061", "MN1", "20260301120500000", "123456", 5)
                other = {"BeginTime": "20260301090000", "EndTime": "20260301110000"}
                writer.write(hj212.encode(replace(request, other=other)))

    seen, totals = asyncio.run(_scripted(gateway, hours))
    after = seen[4:]
    assert [f.cn for f in after] == ["9011", "2061", "2061", "9012"]
    assert [f.data_time for f in after[1:3]] == ["20260301090000", "20260301100000"]
    assert after[0].other == {"QnRtn": "1"} and after[3].other == {"ExeRtn": "1"}
    assert after[0].qn == "20260301120500000"
    assert len({f.qn for f in after[1:3]} | {f.qn for f in seen[:4]}) == 6  # fresh QNs for the records
    assert totals.backfill_requests == 1 and totals.answered == 6


def test_history_request_without_records_answers_no_data():
    request = hj212.Frame(
        "32",
        "2051",
        "MN1",
        "20260301120500000",
        "123456",
        5,
        other={"BeginTime": "20260301090000", "EndTime": "20260301100000"},
    )
    out = [hj212.decode(raw) for raw in hj212_logger.answer_history(request, {})]
    assert [(f.cn, f.other) for f in out] == [("9011", {"QnRtn": "1"}), ("9012", {"ExeRtn": "100"})]
    assert all(f.flag == 4 and f.st == "91" for f in out)


def test_logger_records_close_at_interval_end_with_local_start_and_abnormal_flag():
    spec = park_file.parse(PARK.format(id="p", w="WLOG01", t="TLOG01"))
    stream = hj212_logger.LoggerStream(spec, timedelta(minutes=10))

    def rt(minute: int, cod: float, flow: float, flag: str = "N") -> Message:
        when = datetime(2026, 3, 1, 8, 0) + timedelta(minutes=minute)
        factors: hj212.Factors = {"w01018": {"Rtd": cod, "Flag": flag}, "w00000": {"Rtd": flow, "Flag": "N"}}
        frame = hj212.Frame(
            "32",
            "2011",
            "TLOG01",
            "1",
            "123456",
            4,
            factors=factors,
            other={"DataTime": hj212.format_time(when)},
        )
        return Message("outfall/hj212/TLOG01", hj212.encode(frame), when)

    msgs = [rt(m, 40.0 + m, 36.0, "D" if m == 3 else "N") for m in range(10)] + [rt(10, 1.0, 36.0)]
    out = [hj212.decode(m.payload) for m in stream.run(msgs, until=None)]
    assert [f.cn for f in out] == ["2011"] * 10 + ["2051", "2011", "2051", "2061"]
    first = out[10]
    assert first.data_time == "20260301080000" and first.flag == 5
    cod, flow = first.factors["w01018"], first.factors["w00000"]
    assert (cod["Min"], cod["Avg"], cod["Max"], cod["Flag"]) == (40.0, 44.5, 49.0, "D")
    # 36 m3/h = 10 L/s: 10 L/s x 60 s = 0.6 m3 per value; COD mass = 0.6 m3 x C mg/L / 1000 kg
    assert flow["Cou"] == pytest.approx(6.0) and cod["Cou"] == pytest.approx(0.6 * 445 / 1000)
    hour = out[-1]
    assert hour.data_time == "20260301080000" and hour.factors["w01018"]["Avg"] == pytest.approx(
        (44.5 + 1) / 2
    )
    assert hour.factors["w01018"]["Flag"] == "D"


def test_an_upload_over_1024_characters_goes_out_as_split_packets():
    factors: hj212.Factors = {
        f"w{n:05d}": {"Cou": 1234.5678, "Min": 1.2345, "Avg": 2.3456, "Max": 3.4567, "Flag": "N"}
        for n in range(20)
    }
    frame = hj212.Frame(
        "32",
        "2061",
        "MN1",
        "20260301090000001",
        "123456",
        5,
        factors=factors,
        other={"DataTime": "20260301080000"},
    )
    parts = [hj212.decode(p) for p in hj212_logger.packets(frame)]
    assert len(parts) >= 2 and all(p.flag == 7 and p.pnum == len(parts) and p.data_time for p in parts)
    assert [p.pno for p in parts] == list(range(1, len(parts) + 1))
    assert {c for p in parts for c in p.factors} == set(factors)


def test_a_link_answers_the_platforms_commands():
    """9011, the data asked for, 9012, on the connection the command came in on; a refusing logger
    answers 9011 QnRtn=2 only."""

    async def platform(frame, writer, seen):
        if frame.cn == "2061":
            writer.write(_reply(frame))
            for qn, cn, other in (("1", "1061", {}), ("2", "1012", {"SystemTime": "20260301080000"})):
                writer.write(hj212.encode(hj212.Frame("32", cn, "MN1", qn, "123456", 5, other=other)))

    seen, totals = asyncio.run(_scripted(platform, [_upload("MN1", "2061", "20260301080000")]))
    answers = [(f.qn, f.cn, f.other) for f in seen[1:]]
    assert answers == [
        ("1", "9011", {"QnRtn": "1"}),
        ("1", "1061", {"RtdInterval": "30"}),
        ("1", "9012", {"ExeRtn": "1"}),
        ("2", "9011", {"QnRtn": "1"}),
        ("2", "9012", {"ExeRtn": "1"}),
    ]
    assert totals.commands == 2
