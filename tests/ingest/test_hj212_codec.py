"""The HJ 212 codec: the public test vectors (tests/ingest/hj212_vectors.py), 2005-edition traffic in the
field's style (our fixture, and the real file when present), round trips and fuzzing."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.hj212 import cli as hj212_cli
from ingest.hj212 import codec as hj212
from tests.ingest.hj212_vectors import BAD_CRC, VALID
from tests.realdata import HJ212_DAY, SENTINEL, field_2005_frames, needs, real_frames

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_crc_of_the_annex_a_example_is_1c80_not_the_typo_and_not_modbus():
    segment = VALID["V1"].encode()[6:-4]
    assert hj212.crc16(segment) == 0x1C80
    assert _modbus(segment) != 0x1C80
    assert hj212.wrap(segment.decode()) == VALID["V1"].encode() + b"\r\n"


def _annex_a_bitwise(data: bytes) -> int:
    """Annex A's algorithm as written: byte into the high half, eight shifts per byte."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@given(st.binary(max_size=1100))
def test_the_table_crc_is_the_bitwise_annex_a_crc(data):
    assert hj212.crc16(data) == _annex_a_bitwise(data)


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_valid_vector_decodes_with_and_without_crlf(name):
    raw = VALID[name].encode()
    frame = hj212.decode(raw)
    assert hj212.decode(raw + b"\r\n") == frame
    assert frame.mn in VALID[name]


@pytest.mark.parametrize("name", sorted(BAD_CRC))
def test_every_negative_vector_fails_on_its_crc_naming_both_values(name):
    raw, carried, computed = BAD_CRC[name]
    with pytest.raises(hj212.HJ212Error) as err:
        hj212.decode(raw.encode())
    assert err.value.reason == f"bad CRC: frame carries {carried}, data gives {computed}"


def test_2017_real_time_vector_values_flags_and_header():
    frame = hj212.decode(VALID["V2"].encode())
    assert (frame.edition, frame.st, frame.cn, frame.qn, frame.flag) == (
        "2017",
        "32",
        "2011",
        "20210320163101890",
        4,
    )
    assert not frame.wants_reply
    assert frame.factors["w01018"] == {"SampleTime": "20210320013400", "Rtd": 194.2, "Flag": "N"}
    assert frame.factors["w00000"] == {"Rtd": 181.682, "Flag": "N"}
    assert frame.data_time == "20210320013400"
    assert hj212.to_utc(frame.data_time, SHANGHAI) == datetime(2021, 3, 19, 17, 34, tzinfo=UTC)


def test_2005_vectors_17_digit_time_no_qn_no_flag_and_fault_flags():
    v3 = hj212.decode(VALID["V3"].encode())
    assert (v3.edition, v3.qn, v3.flag, v3.pw) == ("2005", None, None, "123456")
    assert v3.factors == {
        "B01": {"Rtd": 36.91},
        "011": {"Rtd": 231.0, "Flag": "N"},
        "060": {"Rtd": 1.803, "Flag": "N"},
    }
    assert hj212.local_time(v3.data_time or "") == datetime(2016, 8, 24, 0, 38, 17)
    v4 = hj212.decode(VALID["V4"].encode())
    assert v4.factors["023"] == {"Rtd": 0.0, "Flag": "D"}
    assert hj212.code_2017("023") == "w20116"


def test_alarm_reply_and_split_headers():
    v7 = hj212.decode(VALID["V7"].encode())
    assert (v7.cn, v7.edition, v7.wants_reply) == ("2072", "2005", True)
    assert v7.factors["B01"] == {"Ala": 16.0}
    assert v7.other == {"AlarmTime": "20160823235559", "AlarmType": "1"}
    assert hj212.decode(VALID["R1"].encode()).factors == {}
    assert hj212.decode(VALID["V11"].encode()).other == {"QnRtn": "1"}
    split = hj212.decode(
        hj212.wrap("QN=1;ST=32;CN=2011;PW=1;MN=AB12;Flag=7;PNUM=2;PNO=1;CP=&&DataTime=20260101000000&&")
    )
    assert (split.pnum, split.pno, split.is_split, split.wants_reply) == (2, 1, True, True)


def test_tolerated_quirks_trailing_semicolon_any_header_order_unknown_fields():
    frame = hj212.decode(
        hj212.wrap(
            "MN=AB12;CN=2011;ST=32;PW=1;Flag=5;XX=7;CP=&&DataTime=20260101000000;w01018-Rtd=5,w01018-EFlag=ab1;Foo=bar;&&"
        )
    )
    assert frame.factors == {"w01018": {"Rtd": 5.0, "EFlag": "ab1"}}
    assert frame.other == {"DataTime": "20260101000000", "Foo": "bar"}
    assert frame.extra_header == {"XX": "7"}


BAD = [
    (b"#0101QN=1;ST=32&&1C80", "does not start with ##"),
    (b"##01x1QN=1&&1C80", "bad length field"),
    (
        hj212.wrap("ST=32;CN=2011;MN=A;CP=&&&&").replace(b"##0026", b"##0027"),
        "bad length: the length field says 27, the data segment has 26",
    ),
    (b"##2000" + b"x" * 2000 + b"0000", "over the 1024-character limit"),
    (hj212.wrap("ST=32;CN=2011;CP=&&&&"), "missing field MN"),
    (hj212.wrap("ST=32;CN=20111;MN=A;CP=&&&&"), "bad header: CN='20111'"),
    (hj212.wrap("ST=32;CN=2011;MN=A;Flag=300;CP=&&&&"), "Flag='300'"),
    (hj212.wrap("ST=32;CN=2011;MN=A;Flag=9;CP=&&&&"), "unsupported protocol version 2"),
    (hj212.wrap("ST=32;CN=2011;MN=A;Flag=7;CP=&&&&"), "needs both PNUM and PNO"),
    (hj212.wrap("ST=32;CN=2011;MN=A;CP=&&w01018-Rtd=1e5&&"), "bad number: w01018-Rtd='1e5'"),
    (hj212.wrap("ST=32;CN=2011;MN=A;CP=&&w01018-Rtd=nan&&"), "bad number"),
    (hj212.wrap("ST=32;CN=2011;MN=A;CP=&&DataTime=20261301000000&&"), "bad DataTime"),
    (hj212.wrap("ST=32;CN=2011;MN=A;CP=&&DataTime=2026&&"), "bad DataTime"),
    (hj212.wrap("ST=32;CN=2011;MN=A;CP=&&w01018-Rtd=1,w01018-Rtd=2&&"), "appears twice"),
    (hj212.wrap("ST=32;CN=2011;MN=A;CP=&&w01018&&"), "expected KEY=VALUE"),
    (hj212.wrap("ST=32;CN=2011;MN=A;CP=&&w01018-Rtd=1"), "not closed with &&"),
    (hj212.wrap("ST=32;CN=2011;MN=A;"), "no CP=&&"),
    (b"##0002\xff\xfe" + b"%04X" % hj212.crc16(b"\xff\xfe"), "not valid UTF-8"),
]


@pytest.mark.parametrize(("raw", "reason"), BAD)
def test_bad_frames_raise_the_typed_error_with_a_reason(raw, reason):
    with pytest.raises(hj212.HJ212Error) as err:
        hj212.decode(raw)
    assert reason in err.value.reason


def test_every_frame_of_a_2005_day_decodes(day_of_2005_frames):
    frames = [hj212.decode(raw) for raw in day_of_2005_frames]
    assert {f.cn for f in frames} == {"2061", "2031"}
    assert {f.edition for f in frames} == {"2005"}
    assert {f.qn for f in frames} == {None} or HJ212_DAY.exists()
    assert {len(f.data_time or "") for f in frames} >= {17}


def test_field_style_2005_quirks_decode_as_the_real_ones_do():
    frames = field_2005_frames()
    first = hj212.decode(frames[0])
    assert (first.cn, first.mn, first.data_time) == ("2061", "LD130103000186", "20160824000000000")
    assert (first.qn, first.flag) == (None, None)
    assert first.factors["B01"]["Cou"] == pytest.approx(first.factors["B01"]["Avg"] * 3.6, rel=1e-3)
    broken = next(hj212.decode(f) for f in frames if b"MN=LD130105000375" in f and b"-6805646" in f)
    assert broken.factors["011"]["Min"] == pytest.approx(SENTINEL)  # kept, judged elsewhere
    repeated = next(hj212.decode(f) for f in frames if f.count(b"B01-Cou") > 1)
    assert repeated.repeated == ("B01",) * len(repeated.repeated) and repeated.repeated
    assert repeated.factors["B01"]["Min"] == pytest.approx(20 + 2 - 1 + 0.7)  # the first item counts


def test_the_real_2005_file_has_every_frame():
    if not HJ212_DAY.exists():
        pytest.skip(f"third-party data {HJ212_DAY} is not present (public, not shipped: see the README)")
    assert len(real_frames()) == 3675


@needs(HJ212_DAY)
def test_spot_checked_real_frames():
    frames = real_frames()
    first = hj212.decode(frames[0])
    assert (first.cn, first.mn, first.data_time) == ("2061", "LD130103000186", "20160824000000000")
    assert first.factors == {"B01": {"Cou": 2862.28, "Min": 783.39, "Avg": 795.07, "Max": 812.72}}
    # hourly volume = mean flow (L/s) x 3600 / 1000, as data/README.md checks
    assert first.factors["B01"]["Cou"] == pytest.approx(795.07 * 3.6, rel=1e-3)
    broken = next(hj212.decode(f) for f in frames if b"MN=LD130105000375" in f and b"-6805646" in f)
    assert broken.factors["011"]["Min"] == pytest.approx(-6.8056469e38)  # a logger's float sentinel, kept
    repeated = next(hj212.decode(f) for f in frames if f.count(b"B01-Cou") > 1)
    assert repeated.repeated == ("B01", "B01")
    assert repeated.factors["B01"]["Min"] == 18.71  # the first item counts


# --- property-based ---------------------------------------------------------------------------
_code = st.from_regex(r"[a-zA-Z0-9]{2,6}", fullmatch=True)
_number = st.decimals(min_value=-1e9, max_value=1e9, places=4, allow_nan=False).map(float)
_fields = st.dictionaries(
    st.sampled_from(["Rtd", "Min", "Avg", "Max", "Cou"]), _number, min_size=1, max_size=4
).flatmap(lambda d: st.sampled_from("NFMSDCTB").map(lambda f: {**d, "Flag": f}))
_time = st.datetimes(datetime(2000, 1, 1), datetime(2099, 1, 1)).map(hj212.format_time)
_frames = st.builds(
    hj212.Frame,
    st=st.sampled_from(["32", "91", "22"]),
    cn=st.sampled_from(["2011", "2051", "2061", "2031", "9014"]),
    mn=st.from_regex(r"[0-9A-F]{14,24}", fullmatch=True),
    qn=st.none() | st.from_regex(r"[0-9]{17}", fullmatch=True),
    pw=st.none() | st.from_regex(r"[0-9]{6}", fullmatch=True),
    flag=st.none() | st.sampled_from([0, 1, 4, 5]),
    factors=st.dictionaries(_code, _fields, max_size=8),
    other=st.fixed_dictionaries({"DataTime": _time}),
)


@given(_frames)
@settings(max_examples=300, deadline=None)
def test_encode_then_decode_round_trips(frame):
    try:
        raw = hj212.encode(frame)
    except hj212.HJ212Error as exc:
        assert "limit" in exc.reason  # too many factors for 1024 characters
        return
    assert hj212.decode(raw) == frame


@given(st.binary(max_size=1100))
@settings(max_examples=500, deadline=None)
def test_random_bytes_never_raise_anything_but_the_codec_error(raw):
    try:
        frame = hj212.decode(raw)
    except hj212.HJ212Error as exc:
        assert exc.reason
    else:
        assert raw.startswith(b"##") and frame.mn


_SEEDS = (
    (real_frames()[:200] if HJ212_DAY.exists() else [])
    + field_2005_frames()
    + [v.encode() for v in VALID.values()]
)


@st.composite
def _mutated(draw):
    frame = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op, at = (
            draw(st.sampled_from(["flip", "cut", "insert", "delete"])),
            draw(st.integers(0, len(frame) - 1)),
        )
        if op == "flip":
            frame[at] = draw(st.integers(0, 255))
        elif op == "cut":
            frame = frame[:at]
        elif op == "insert":
            frame[at:at] = draw(
                st.sampled_from([b";", b",", b"=", b"&&", b"-", b"##", b"\r\n", b"\x00", b"\xe4\xb8"])
            )
        elif len(frame) > 1:
            del frame[at]
        if not frame:
            break
    refresh_crc = draw(st.booleans())  # a correct CRC over broken content reaches the parser
    if refresh_crc and len(frame) > 10:
        body = bytes(frame[6:-4])
        frame = bytearray(b"##%04d" % len(body) + body + b"%04X" % hj212.crc16(body))
    return bytes(frame)


@given(_mutated())
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_real_frames_never_raise_anything_but_the_codec_error(raw):
    try:
        hj212.decode(raw)
    except hj212.HJ212Error as exc:
        assert exc.reason


# --- the command line ---------------------------------------------------------------------------
def test_decode_command_writes_one_json_object_per_input_line():
    lines = [VALID["V2"].encode() + b"\r\n", b"not a frame\n", b"\n", VALID["V3"].encode() + b"\r\n"]
    out = io.StringIO()
    assert hj212_cli.decode_lines(lines, out, "Asia/Shanghai") == 0
    rows = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 4
    assert rows[0]["ok"] and rows[0]["edition"] == "2017" and rows[0]["cn"] == "2011"
    assert rows[0]["data_time"] == "2021-03-20T01:34:00+08:00"
    assert rows[0]["values"]["w01018"] == {
        "SampleTime": "2021-03-20T01:34:00+08:00",
        "Rtd": 194.2,
        "Flag": "N",
    }
    assert rows[1] == {"ok": False, "error": "frame does not start with ## (starts with b'not a fr')"}
    assert rows[2]["ok"] is False
    # 2005 codes come out as 2017 codes; the 17-digit time keeps its milliseconds' second
    assert rows[3]["edition"] == "2005" and rows[3]["values"]["w01018"] == {"Rtd": 231.0, "Flag": "N"}
    assert rows[3]["data_time"] == "2016-08-24T00:38:17+08:00"


def test_outfall_hj212_decode_console_command_exits_0_on_bad_input():
    stdin = VALID["V1"] + "\r\n" + BAD_CRC["N5"][0] + "\r\n"
    proc = subprocess.run(
        [sys.executable, "-m", "outfall", "hj212", "decode"],
        input=stdin.encode(),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert [r["ok"] for r in rows] == [True, False]
    assert rows[1]["error"] == "bad CRC: frame carries 4981, data gives 4980"
