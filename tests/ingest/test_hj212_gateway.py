"""The HJ 212 TCP gateway against the real database: replies after commit, many loggers, bad input,
dropped links, limits, back-fill, split packets and a replay of the real 2005 traffic file."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest

from ingest.core import parameters
from ingest.hj212 import codec as hj212
from tests.ingest.gateway_support import RunningGateway, nothing_more, read_frames
from tests.ingest.hj212_support import dead_letters, frame, new_mn, park_yaml, readings, statistics
from tests.support import wait_for

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def start_gateway(services):
    started: list[RunningGateway] = []

    def _start(**overrides) -> RunningGateway:
        gw = RunningGateway(services.database_url, **overrides)
        started.append(gw)
        return gw

    yield _start
    for gw in started:
        gw.stop()


@pytest.fixture
def hj_park(make_park):
    workshop, total = new_mn(), new_mn()
    return make_park(park_yaml(workshop, total)), workshop, total


def park_of(mns, measured):
    """A park file (``{id}`` placeholder) with one plant and a point per MN, in block YAML."""
    lines = ["id: {id}", "name: many loggers", "industry: mixed", "plants:", "  - id: all", "    name: All"]
    lines.append("    points:")
    for i, mn in enumerate(mns):
        lines += [f"      - id: p{i:03d}", "        kind: total_outlet", f"        mn: '{mn}'"]
        lines.append(f"        parameters: [{', '.join(measured)}]")
    return "\n".join(lines)


def _count_dead(db):
    return db.execute("SELECT coalesce(max(id), 0) FROM dead_letters").fetchone()[0]


def rt(mn, minute, cod, flag=5):
    qn = f"20260301{8 + minute // 60:02d}{minute % 60:02d}00000"
    cp = f"DataTime=20260301{8 + minute // 60:02d}{minute % 60:02d}00;w01018-Rtd={cod},w01018-Flag=N"
    return frame(mn, "2011", cp, flag=flag, qn=qn)


def test_the_data_reply_is_sent_only_after_the_readings_are_committed(services, db, hj_park, start_gateway):
    park, _, total = hj_park
    gw = start_gateway()

    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        with psycopg.connect(services.database_url) as blocker:
            blocker.execute("LOCK TABLE readings IN EXCLUSIVE MODE")  # the commit cannot finish
            writer.write(rt(total, 0, 40.5))
            await writer.drain()
            assert await nothing_more(reader, 1.5), "answered before the commit"
            blocker.rollback()
        (reply,) = await read_frames(reader, 1)
        assert readings(db, park.id)[0][3] == 40.5  # stored by the time the answer arrives
        writer.write(rt(total, 1, 41.0, flag=4))  # Flag=4: no answer wanted
        await writer.drain()
        assert await nothing_more(reader, 0.5)
        writer.close()
        return reply

    reply = asyncio.run(scenario())
    assert (reply.st, reply.cn, reply.mn, reply.qn, reply.flag) == (
        "91",
        "9014",
        total,
        "20260301080000000",
        4,
    )
    wait_for(lambda: len(readings(db, park.id)) == 2, message="the Flag=4 reading")
    assert {r[5] for r in readings(db, park.id)} == {"tcp-hj212"}


def test_50_concurrent_loggers_with_partial_writes_and_one_sending_garbage(
    services, db, make_park, start_gateway
):
    mns = [new_mn() for _ in range(50)]
    park = make_park(park_of(mns, ["cod", "nh3_n"]))
    dead_before = _count_dead(db)
    gw = start_gateway(max_junk_bytes=1_000_000)
    per_logger = 20

    async def logger(mn, seed):
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        stream = b"".join(
            frame(
                mn,
                "2011",
                f"DataTime=202603010{8 + m // 60}{m % 60:02d}00;w01018-Rtd={m}.5;w21003-Rtd=1.{m}",
                flag=5,
                qn=f"{m:017d}",
            )
            for m in range(per_logger)
        )
        while stream:
            cut = rng.randint(1, 200)
            writer.write(stream[:cut])
            await writer.drain()
            stream = stream[cut:]
            await asyncio.sleep(rng.random() * 0.01)
        replies = await read_frames(reader, per_logger, timeout=60)
        writer.close()
        return replies

    async def garbage():
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        rng = random.Random(7)
        for _ in range(50):
            writer.write(bytes(rng.randrange(256) for _ in range(200)) + b"##0042QN=1;CN=20")
            await writer.drain()
            await asyncio.sleep(0.005)
        # a frame longer than any frame may be: refused as oversized however the stream is cut
        writer.write(b"##0999" + b"x" * hj212.MAX_FRAME + b"\r\n")
        await writer.drain()
        silent = await nothing_more(reader, 1.0)
        writer.close()
        return silent

    async def scenario():
        return await asyncio.gather(garbage(), *(logger(mn, i) for i, mn in enumerate(mns)))

    silent, *answers = asyncio.run(scenario())
    assert silent  # garbage is never answered
    for mn, replies in zip(mns, answers, strict=True):
        assert [(r.cn, r.mn, r.qn) for r in replies] == [("9014", mn, f"{m:017d}") for m in range(per_logger)]
    rows = readings(db, park.id)
    assert len(rows) == 50 * per_logger * 2
    assert sorted(r[3] for r in rows if r[1] == "cod") == sorted([m + 0.5 for m in range(per_logger)] * 50)
    reasons = [r[0] for r in db.execute("SELECT reason FROM dead_letters WHERE id > %s", (dead_before,))]
    assert any(r.startswith("bytes outside any frame") for r in reasons)
    assert any("oversized" in r or r.startswith("frame over") for r in reasons)


def test_a_logger_cut_off_mid_frame_reconnects_and_nothing_is_lost_or_doubled(db, hj_park, start_gateway):
    park, _, total = hj_park
    gw = start_gateway()
    frames = [rt(total, m, 30 + m) for m in range(6)]

    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"".join(frames[:5]) + frames[5][:40])  # the link drops inside frame 6
        await writer.drain()
        first = await read_frames(reader, 5)
        writer.transport.abort()
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(frames[4] + frames[5])  # unsure about frame 5, it sends it again; frame 6 in full
        await writer.drain()
        second = await read_frames(reader, 2)
        writer.close()
        return first, second

    first, second = asyncio.run(scenario())
    assert [r.qn for r in first + second] == [f"2026030108{m:02d}00000" for m in (0, 1, 2, 3, 4, 4, 5)]
    assert [r[3] for r in readings(db, park.id)] == [30, 31, 32, 33, 34, 35]
    cut = [r for r in dead_letters(db, "tcp:%") if bytes(r[2]) == frames[5][:40]]
    assert len(cut) == 1 and "closed in the middle of a frame" in cut[0][3]


def test_bad_crc_is_dropped_unknown_mn_is_kept_and_answered(db, hj_park, start_gateway):
    park, _, total = hj_park
    gw = start_gateway()
    stranger = new_mn()
    bad = rt(total, 0, 1.0)[:-6] + b"ABCD\r\n"

    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(bad)
        await writer.drain()
        assert await nothing_more(reader, 0.5)
        writer.write(rt(stranger, 0, 1.0))
        await writer.drain()
        (reply,) = await read_frames(reader, 1)
        writer.close()
        return reply

    reply = asyncio.run(scenario())
    assert reply.mn == stranger and reply.cn == "9014"
    reasons = {bytes(r[2]): r[3] for r in dead_letters(db, "tcp:%")}
    assert reasons[bad].startswith("bad CRC: frame carries ABCD, data gives")
    assert (
        reasons[rt(stranger, 0, 1.0)]
        == f"unknown MN {stranger}: no point in the park registry has this device"
    )
    assert readings(db, park.id) == []


def test_connection_limit_and_idle_timeout(hj_park, start_gateway):
    """The idle timeout applies once a logger has sent a frame with its PW (before that, the shorter
    first-frame deadline does: tests/security/test_gateway.py)."""
    _, _, total = hj_park
    gw = start_gateway(max_connections=2, idle_timeout_s=0.5)

    async def scenario():
        a = await asyncio.open_connection("127.0.0.1", gw.port)
        b = await asyncio.open_connection("127.0.0.1", gw.port)
        a[1].write(rt(total, 0, 1.0, flag=4))
        await asyncio.sleep(0.1)
        c_reader, _ = await asyncio.open_connection("127.0.0.1", gw.port)
        refused = await asyncio.wait_for(c_reader.read(1), 2) == b""
        idle_closed = await asyncio.wait_for(a[0].read(1), 3) == b""
        b_open = await nothing_more(b[0], 0.5) and not b[0].at_eof()
        for _, w in (a, b):
            w.close()
        return refused, idle_closed, b_open

    assert asyncio.run(scenario()) == (True, True, True)
    assert gw.gateway is not None and gw.gateway.refused == {"connections": 1}


def test_a_gap_in_hourly_records_is_back_filled(db, hj_park, start_gateway):
    park, _, total = hj_park
    gw = start_gateway()

    def hourly(hour):
        return frame(
            total,
            "2061",
            f"DataTime=20260301{hour:02d}0000;w01018-Avg={hour}.0,w01018-Cou=1",
            qn=f"{hour:017d}",
            flag=5,
        )

    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(hourly(8) + hourly(11))
        await writer.drain()
        answers = await read_frames(reader, 3)
        writer.write(hourly(9) + hourly(10))  # the logger answers the request
        await writer.drain()
        answers += await read_frames(reader, 2)
        assert await nothing_more(reader, 0.5)  # back-filled records raise no new request
        writer.close()
        return answers

    answers = asyncio.run(scenario())
    assert [a.cn for a in answers] == ["9014", "9014", "2061", "9014", "9014"]
    request = answers[2]
    assert (
        request.other == {"BeginTime": "20260301090000", "EndTime": "20260301100000"} and request.mn == total
    )
    assert [r[4] for r in statistics(db, park.id)] == [8.0, 9.0, 10.0, 11.0]


def test_split_packets_are_stored_whole(db, hj_park, start_gateway):
    park, _, total = hj_park
    gw = start_gateway()
    head = f"QN=20260301080000000;ST=32;CN=2011;PW=123456;MN={total};Flag=7;PNUM=2"
    part1 = hj212.wrap(f"{head};PNO=1;CP=&&DataTime=20260301080000;w01018-Rtd=40&&")
    part2 = hj212.wrap(f"{head};PNO=2;CP=&&w21003-Rtd=2.5&&")

    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(part1 + part2)
        await writer.drain()
        answers = await read_frames(reader, 2)
        writer.close()
        return answers

    assert [a.cn for a in asyncio.run(scenario())] == ["9014", "9014"]
    rows = readings(db, park.id)
    assert [(r[1], r[3]) for r in rows] == [("cod", 40.0), ("nh3_n", 2.5)]
    assert {r[2] for r in rows} == {datetime(2026, 3, 1, 0, 0, tzinfo=UTC)}


def test_replay_of_a_2005_day_stores_every_record_once(db, make_park, start_gateway, day_of_2005_frames):
    # Fresh MNs (MNs are unique across the database): same frames, re-framed with a new MN and CRC.
    originals = [hj212.decode(raw) for raw in day_of_2005_frames]
    fresh = {mn: new_mn()[:14] for mn in sorted({f.mn for f in originals})}
    measured = ["flow", "cod", "nh3_n", "cr_total", "bod5", "ph"]
    park = make_park(park_of(list(fresh.values()), measured))
    by_mn = defaultdict(list)
    for raw in day_of_2005_frames:
        text = raw[6:-4].decode()
        old = text.split("MN=", 1)[1].split(";", 1)[0]
        by_mn[fresh[old]].append(hj212.wrap(text.replace(f"MN={old};", f"MN={fresh[old]};")))
    expected = set()
    for f in originals:
        for code, fields in f.factors.items():
            param = parameters.BY_2005.get(code)
            if param is not None and param.code in measured and {"Avg", "Min", "Max", "Cou"} & fields.keys():
                period = {"2061": "hour", "2031": "day"}[f.cn]
                expected.add((fresh[f.mn], param.code, period, hj212.local_time(f.data_time or "")))
    gw = start_gateway()

    async def replay(chunks, done):
        # Like a logger: the connection stays open (a peer that hangs up unread makes TCP reset and drop
        # what it sent last, which is the network's doing, not the gateway's).
        _, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        for stream in chunks:
            writer.write(stream)
            await writer.drain()
        await done.wait()
        writer.close()

    def stored():
        return db.execute(
            "SELECT p.mn, k.code, s.period, s.time AT TIME ZONE 'Asia/Shanghai', s.avg, s.cou, s.source"
            " FROM logger_statistics s JOIN points p ON p.id = s.point_id"
            " JOIN parameters k ON k.id = s.parameter_id WHERE p.park_id = %s",
            (park.id,),
        ).fetchall()

    async def scenario(run):
        groups, done = list(by_mn.values()), asyncio.Event()
        clients = [asyncio.create_task(replay([b"".join(g) for g in groups[i::8]], done)) for i in range(8)]
        await asyncio.to_thread(
            wait_for, lambda: store.totals.frames >= run * len(originals), 60, 0.1, "frames"
        )
        done.set()
        await asyncio.gather(*clients)

    assert gw.gateway is not None
    store = gw.gateway.store
    asyncio.run(scenario(1))
    assert store.totals.statistics == len(expected)
    asyncio.run(scenario(2))  # the second replay is all retransmissions
    assert store.totals.statistics == len(expected)
    rows = stored()
    assert {r[:4] for r in rows} == expected and len(rows) == len(expected)
    first = originals[0]  # LD130103000186 hourly flow, 2016-08-24 00:00 local
    spot = next(
        r
        for r in rows
        if r[0] == fresh[first.mn] and r[1] == "flow" and r[2] == "hour" and r[3] == datetime(2016, 8, 24)
    )
    b01 = first.factors["B01"]  # 795.07 L/s and 2862.28 m3 in the real file
    assert spot[4:] == (b01["Avg"], b01["Cou"], "tcp-hj212")
    assert readings(db, park.id) == []  # hourly/daily records are statistics, never readings


def test_a_slow_database_stops_the_reading_of_sockets_and_loses_no_answered_frame(
    services, db, make_park, start_gateway
):
    """The store's queue is bounded: while the database is blocked the gateway stops reading (TCP
    back-pressure) instead of queueing every frame, and every frame answered with 9014 is stored."""
    mns = [new_mn() for _ in range(6)]
    park = make_park(park_of(mns, ["cod"]))
    gw = start_gateway(store_queue_frames=20, batch_frames=10)
    per_logger = 150  # 900 frames: far more than the queue (20), a batch (10) and the read buffers

    async def logger(mn, got):
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"".join(rt(mn, m, float(m), flag=5) for m in range(per_logger)))
        with contextlib.suppress(TimeoutError):
            got.extend(await read_frames(reader, per_logger, timeout=30))
        writer.close()

    async def scenario():
        answers = {mn: [] for mn in mns}
        with psycopg.connect(services.database_url) as blocker:
            blocker.execute("LOCK TABLE readings IN EXCLUSIVE MODE")
            tasks = [asyncio.create_task(logger(mn, answers[mn])) for mn in mns]
            peak = 0
            for _ in range(30):  # 3 s of a blocked database
                await asyncio.sleep(0.1)
                peak = max(peak, gw.gateway.store.queued())
            blocked_answers = sum(len(a) for a in answers.values())
            blocker.rollback()
        await asyncio.gather(*tasks)
        return peak, blocked_answers, answers

    assert gw.gateway is not None
    peak, blocked_answers, answers = asyncio.run(scenario())
    assert peak <= 20 and blocked_answers == 0  # bounded, and nothing answered before its commit
    stored = {(r[0], r[2]) for r in readings(db, park.id)}
    answered = {(mn, f.qn) for mn, frames in answers.items() for f in frames}
    assert len(answered) == len(mns) * per_logger  # everything went through once the database was back
    assert len(stored) == len(mns) * per_logger


def test_a_connecting_logger_gets_its_clock_set_when_configured(db, hj_park, start_gateway):
    """clock_on_connect: the first admitted frame of a connection queues 1012; the logger's 9011 and
    9012 finish it, with the gateway as its actor (reverse control, ingest/hj212/control.py)."""
    _park, _, total = hj_park
    gw = start_gateway(clock_on_connect=True, command_poll_s=0.1)

    async def scenario():
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(rt(total, 0, 40.5))
        frames = await read_frames(reader, 2)
        (request,) = [f for f in frames if f.cn == "1012"]
        for cn, cp in (("9011", "QnRtn=1"), ("9012", "ExeRtn=1")):
            writer.write(frame(total, cn, cp, qn=request.qn))
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()
        return request

    request = asyncio.run(scenario())
    sent = hj212.local_time(request.other["SystemTime"])
    assert abs((sent - datetime.now(UTC).astimezone(ZONE).replace(tzinfo=None)).total_seconds()) < 5
    row = wait_for(
        lambda: db.execute(
            "SELECT state, actor, purpose FROM hj212_commands WHERE mn = %s AND state = 'done'", (total,)
        ).fetchone(),
        message="1012 done",
    )
    assert row == ("done", "gateway", "time_calibration")
