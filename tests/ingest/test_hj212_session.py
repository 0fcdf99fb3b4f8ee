"""The pure side of an HJ 212 TCP session: stream splitting, replies, split packets, gap detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.hj212 import codec as hj212
from ingest.hj212.session import FrameSplitter, GapTracker, Junk, Reassembler, history_request, reply_to
from tests.ingest.hj212_vectors import VALID

FRAMES = [VALID[k].encode() + b"\r\n" for k in ("V1", "V2", "V3", "V7", "V11")]


def _frames(items):
    return [i for i in items if not isinstance(i, Junk)]


# garbage without # or white space (stray line ends between frames are dropped silently, by design)
_garbage = st.lists(st.sampled_from(list(b"abc\x00\xff<>!&;=")), max_size=50).map(bytes)


@given(st.lists(st.integers(1, 300), min_size=1, max_size=40), _garbage)
@settings(max_examples=200, deadline=None)
def test_frames_come_out_whole_however_the_stream_is_cut(cuts, garbage):
    stream = garbage + b"".join(f + garbage for f in FRAMES)
    splitter, out, at = FrameSplitter(), [], 0
    for size in cuts * 20:
        out += splitter.feed(stream[at : at + size])
        at += size
        if at >= len(stream):
            break
    out += splitter.feed(stream[at:])
    assert _frames(out) == FRAMES
    junk = [i for i in out if isinstance(i, Junk)]
    assert sum(j.size for j in junk) == len(garbage) * (len(FRAMES) + 1)
    assert splitter.close() is None


def test_oversized_cut_off_and_unfinished_frames_are_junk_with_reasons():
    splitter = FrameSplitter()
    over = hj212.MAX_FRAME + 10  # an encrypted 2025 frame may be longer than 1,024 characters, not more
    out = splitter.feed(b"##0999" + b"A" * over)
    assert [type(i) for i in out] == [Junk] and "oversized" in out[0].reason and out[0].size == over + 6
    out = splitter.feed(b"more of it" + FRAMES[0])
    assert out[0].reason.startswith("bytes outside any frame") and out[1] == FRAMES[0]
    out = splitter.feed(b"##0101QN=2016080108" + FRAMES[1])
    assert out[0].reason == "frame cut off by the start of another" and out[0].data == b"##0101QN=2016080108"
    assert out[1] == FRAMES[1]
    assert splitter.feed(FRAMES[2][:30]) == []
    tail = splitter.close()
    assert tail is not None and tail.data == FRAMES[2][:30] and "closed in the middle" in tail.reason


def test_data_reply_echoes_qn_pw_mn_with_st_91_and_no_reply_flag():
    frame = hj212.decode(
        hj212.wrap(
            "QN=20160801090000001;ST=32;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&DataTime=20160801090000&&"
        )
    )
    assert reply_to(frame) == VALID["R1"].encode() + b"\r\n"  # the Annex C 9014 packet
    assert reply_to(hj212.decode(FRAMES[1])) is None  # Flag=4: no answer wanted
    assert reply_to(hj212.decode(FRAMES[4])) is None  # a reply is never answered
    alarm = hj212.decode(FRAMES[3])  # 2005 alarm with Flag=1
    assert hj212.decode(reply_to(alarm) or b"").flag == 0


def test_history_request_asks_for_a_local_time_range():
    frame = hj212.decode(FRAMES[1])
    raw = history_request(
        frame,
        "2061",
        datetime(2026, 3, 1, 9),
        datetime(2026, 3, 1, 10),
        datetime(2026, 3, 1, 11, 0, 5, 120000),
    )
    request = hj212.decode(raw)
    assert (request.cn, request.mn, request.flag, request.qn) == ("2061", frame.mn, 5, "20260301110005120")
    assert request.other == {"BeginTime": "20260301090000", "EndTime": "20260301100000"}


def test_split_packets_are_merged_when_all_parts_are_in():
    def part(no, cp):
        return hj212.decode(hj212.wrap(f"QN=1;ST=32;CN=2011;PW=1;MN=AB;Flag=7;PNUM=2;PNO={no};CP=&&{cp}&&"))

    r, now = Reassembler(), datetime(2026, 1, 1, tzinfo=UTC)
    assert r.add(part(2, "w01018-Rtd=2"), now) is None
    merged = r.add(part(1, "DataTime=20260101000000;w00000-Rtd=1"), now)
    assert merged is not None and merged.pnum is None and merged.flag == 5
    assert merged.factors == {"w00000": {"Rtd": 1.0}, "w01018": {"Rtd": 2.0}}
    assert merged.data_time == "20260101000000"
    assert r.add(part(2, "w01018-Rtd=2"), now) is None
    assert (
        r.add(part(1, "DataTime=20260101000000"), now + timedelta(minutes=5)) is None
    )  # the stale part expired


def test_gaps_in_hourly_and_minute_records():
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    gaps = GapTracker()
    hour = (1, "hour")
    gaps.seed(hour, None)
    assert gaps.observe(hour, t0) is None
    assert gaps.observe(hour, t0 + timedelta(hours=1)) is None
    assert gaps.observe(hour, t0 + timedelta(hours=4)) == (t0 + timedelta(hours=2), t0 + timedelta(hours=3))
    assert gaps.observe(hour, t0 + timedelta(hours=2)) is None  # back-filled: no new request
    minute = (1, "minute")
    gaps.seed(minute, t0)
    assert gaps.observe(minute, t0 + timedelta(minutes=10)) is None  # learns the 10-minute interval
    assert gaps.observe(minute, t0 + timedelta(minutes=40)) == (
        t0 + timedelta(minutes=20),
        t0 + timedelta(minutes=30),
    )
    assert GapTracker(max_span=timedelta(hours=5)).observe(hour, t0) is None
    far = GapTracker(max_span=timedelta(hours=5))
    far.seed(hour, t0)
    assert far.observe(hour, t0 + timedelta(days=3)) == (
        t0 + timedelta(days=3, hours=-5),
        t0 + timedelta(days=3, hours=-1),
    )
