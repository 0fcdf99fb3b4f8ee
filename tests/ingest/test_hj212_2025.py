"""HJ 212-2025 in the codec: Flag version 2, RF, SM4 over the data area, the quirks the CRC vouches for
(accepted and named, refused in strict mode), and splitting over 1,024/950 characters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.hj212 import codec as hj212
from ingest.hj212 import sm4
from ingest.hj212.session import Reassembler

KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
OTHER_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
MN = "010000A8900016F000169DC0"


def _frame(**kw: object) -> hj212.Frame:
    base = hj212.Frame(
        st="32",
        cn="2011",
        mn=MN,
        qn="20260301101500123",
        pw="123456",
        flag=9,
        factors={"w01018": {"Rtd": 42.5, "Flag": "N"}, "w21003": {"Rtd": 1.25, "Flag": "N"}},
        other={"DataTime": "20260301101500"},
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_gbt_32907_sm4_vector():
    block = bytes.fromhex("0123456789abcdeffedcba9876543210")
    assert sm4.encrypt(block, KEY).hex() == "681edf34d206965e86b3e94f536e4246"
    assert sm4.decrypt(bytes.fromhex("681edf34d206965e86b3e94f536e4246"), KEY) == block


def test_flag_8_to_11_are_the_2025_edition_and_rf_marks_a_backfill():
    for flag in (8, 9):
        frame = hj212.decode(hj212.encode(_frame(flag=flag, extra_header={"RF": "1"})))
        assert frame.edition == "2025" and frame.backfill and frame.wants_reply == (flag == 9)
    split = hj212.decode(hj212.encode(_frame(flag=11, pnum=2, pno=1)))
    assert split.edition == "2025" and split.is_split
    assert not hj212.decode(hj212.encode(_frame())).backfill


@pytest.mark.parametrize("form", sorted(sm4.FORMS))
def test_an_encrypted_frame_decodes_with_its_key_in_every_text_form(form):
    raw = hj212.encode(_frame(), KEY, form)
    assert b"w01018" not in raw  # the data area is not readable on the wire
    frame = hj212.decode(raw, hj212.Policy(keys=(KEY,)))
    assert frame.encrypted and frame == _frame()


def test_the_crc_is_over_the_plaintext_and_any_live_generation_opens_the_frame():
    raw = hj212.encode(_frame(), KEY)
    plain = hj212.encode(_frame())
    assert raw[-6:] == plain[-6:]  # same CRC: encrypted after the CRC was computed
    assert hj212.decode(raw, hj212.Policy(keys=(OTHER_KEY, KEY))) == _frame()


def test_a_wrong_key_or_a_clear_frame_from_a_keyed_logger_is_refused():
    with pytest.raises(hj212.HJ212Error, match="does not decrypt under any of the 1 live key"):
        hj212.decode(hj212.encode(_frame(), KEY), hj212.Policy(keys=(OTHER_KEY,)))
    with pytest.raises(hj212.HJ212Error, match="in clear"):
        hj212.decode(hj212.encode(_frame()), hj212.Policy(keys=(KEY,)))
    with pytest.raises(hj212.HJ212Error, match="bad CRC"):  # no key known: ciphertext fails the CRC
        hj212.decode(hj212.encode(_frame(), KEY))


def test_2017_frames_and_non_data_commands_stay_in_clear():
    for frame in (_frame(flag=5), _frame(cn="9014", factors={}, other={})):
        assert hj212.encode(frame, KEY) == hj212.encode(frame)
        assert not hj212.decode(hj212.encode(frame, KEY), hj212.Policy(keys=(KEY,))).encrypted


@given(st.binary(max_size=200), st.binary(min_size=16, max_size=16))
@settings(max_examples=200, deadline=None)
def test_encrypt_then_decrypt_is_the_identity_and_the_remainder_stays_plain(data, key):
    sealed = sm4.encrypt(data, key)
    assert len(sealed) == len(data) and sm4.decrypt(sealed, key) == data
    rest = len(data) % 16
    assert sealed[len(data) - rest :] == data[len(data) - rest :]


_factors = st.lists(
    st.tuples(st.integers(0, 99_999), st.integers(-(10**6), 10**6), st.sampled_from("NDS")),
    min_size=1,
    max_size=70,
    unique_by=lambda t: t[0],
).map(lambda items: {f"w{c:05d}": {"Rtd": v / 1000, "Flag": f} for c, v, f in items})


@given(_factors, st.booleans())
@settings(max_examples=40, deadline=None)
def test_split_then_merge_gives_back_the_frame(factors, encrypted):
    frame = _frame(factors=factors)
    parts = hj212.encode_parts(frame, KEY if encrypted else None)
    merger, merged = Reassembler(), None
    for raw in parts:
        part = hj212.decode(raw, hj212.Policy(keys=(KEY,) if encrypted else ()))
        plain = hj212.encode(part)
        assert len(plain) - 12 <= hj212.MAX_DATA
        assert len(plain.split(b"CP=&&", 1)[1]) - 8 <= hj212.MAX_CP
        merged = merger.add(part, datetime.now(UTC))
    assert merged is not None and merged.factors == factors and merged.data_time == frame.data_time
    assert len(parts) == 1 or len(hj212.encode_parts(replace(frame, factors={}))) == 1


# --- quirks: accepted when the CRC vouches for the frame, counted, refused in strict mode -------------
QUIRKY = {
    "split_flag_without_pnum": hj212.wrap(f"ST=32;CN=2011;MN={MN};Flag=7;CP=&&DataTime=20260301101500&&"),
    "system_code_not_two_digits": hj212.wrap(f"ST=321;CN=2011;MN={MN};Flag=5;CP=&&DataTime=20260301101500&&"),
    "mn_not_24_characters": hj212.wrap(
        "ST=32;CN=2011;MN=LD130133000015;Flag=5;CP=&&DataTime=20260301101500&&"
    ),
    "data_time_milliseconds": hj212.wrap(f"ST=32;CN=2011;MN={MN};Flag=5;CP=&&DataTime=20260301101500123&&"),
    "length_field_wrong": b"##0999"
    + hj212.wrap(f"ST=32;CN=2011;MN={MN};Flag=5;CP=&&DataTime=20260301101500&&")[6:],
}


@pytest.mark.parametrize("quirk", sorted(QUIRKY))
def test_each_quirk_is_accepted_with_its_record_and_refused_in_strict_mode(quirk):
    frame = hj212.decode(QUIRKY[quirk])
    assert frame.quirks == (quirk,) and frame.data_time is not None
    with pytest.raises(hj212.HJ212Error, match="strict mode"):
        hj212.decode(QUIRKY[quirk], hj212.Policy(strict=True))


def test_blank_st_is_a_quirk_but_a_14_character_mn_is_right_in_2005():
    blank = hj212.decode(hj212.wrap(f"ST=;CN=2011;MN={MN};Flag=5;CP=&&&&"))
    assert blank.quirks == ("system_code_not_two_digits",)
    assert hj212.decode(hj212.wrap("ST=32;CN=2011;MN=LD130133000015;CP=&&&&")).quirks == ()


def test_a_bad_crc_or_a_length_into_garbage_is_still_refused():
    good = QUIRKY["length_field_wrong"]
    with pytest.raises(hj212.HJ212Error, match="bad length"):
        hj212.decode(good[:-6] + b"0000\r\n")
    with pytest.raises(hj212.HJ212Error, match="bad CRC"):
        hj212.decode(QUIRKY["data_time_milliseconds"][:-6] + b"0000\r\n")


def test_outfall_hj212_decode_prints_edition_quirks_and_the_decrypted_fields():
    import subprocess
    import sys

    import orjson

    stdin = hj212.encode(_frame(), KEY, "brace") + QUIRKY["data_time_milliseconds"]
    proc = subprocess.run(
        [sys.executable, "-m", "outfall", "hj212", "decode", "--sm4-key", KEY.hex()],
        input=stdin,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    sealed, quirky = (orjson.loads(line) for line in proc.stdout.splitlines())
    assert sealed["edition"] == "2025" and sealed["encrypted"] is True
    assert sealed["values"]["w01018"] == {"Rtd": 42.5, "Flag": "N"}
    assert quirky["edition"] == "2017" and quirky["quirks"] == ["data_time_milliseconds"]
    strict = subprocess.run(
        [sys.executable, "-m", "outfall", "hj212", "decode", "--strict"],
        input=QUIRKY["data_time_milliseconds"],
        capture_output=True,
        timeout=60,
    )
    assert "strict mode" in orjson.loads(strict.stdout)["error"]


@given(st.text(max_size=300), st.sampled_from(["", "{", "0x"]))
@settings(max_examples=300, deadline=None)
def test_any_data_area_under_a_key_raises_nothing_but_the_codec_error(area, prefix):
    segment = f"QN=1;ST=32;CN=2011;PW=1;MN={MN};Flag=9;CP=&&{prefix}{area}&&"
    raw = b"##%04d%s%04X\r\n" % (len(segment.encode()), segment.encode(), hj212.crc16(segment.encode()) ^ 1)
    try:
        hj212.decode(raw, hj212.Policy(keys=(KEY, OTHER_KEY)))
    except hj212.HJ212Error as exc:
        assert exc.reason
