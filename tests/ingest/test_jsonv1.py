"""JSON v1 decoding: unit cases and properties (any bytes in, readings or a reason out, never a raise)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.core import parameters
from ingest.core.models import RegistryPoint
from ingest.mqtt import jsonv1

POINT = RegistryPoint(
    id=7,
    park="p",
    plant="shop-01",
    code="total",
    mn=None,
    timezone="Asia/Shanghai",
    factors={
        parameters.BY_CODE["cod"].id: 1.0,
        parameters.BY_CODE["cr6"].id: 1e-3,
        parameters.BY_CODE["ph"].id: 1.0,
    },
)
POINTS = {("p", "shop-01", "total"): POINT}
TOPIC = "outfall/v1/p/shop-01/total"
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def decode(payload: bytes, topic: str = TOPIC) -> jsonv1.Accepted | jsonv1.Rejected:
    return jsonv1.decode(topic, payload, POINTS, NOW)


def lines(result: jsonv1.Accepted | jsonv1.Rejected) -> list[list[str]]:
    assert isinstance(result, jsonv1.Accepted), result
    return [line.split("\t") for line in result.copy_text.decode().splitlines()]


def test_valid_message_becomes_copy_lines_in_utc_and_catalogue_units():
    result = decode(
        b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": 42, "w20117": 150.0},'
        b' "flags": {"cod": "S"}, "seq": 3}'
    )
    rows = lines(result)
    assert rows[0] == ["7", "9", "2026-11-29T00:15:00+00:00", "42.0", "S", "mqtt-json"]
    assert rows[1][:2] == ["7", "15"] and float(rows[1][3]) == 0.15 and rows[1][4] == "N"


def test_reasons_are_specific():
    cases = {
        b'{"ts": "2026-11-29T08:15:00", "values": {"cod": 1}}': "no UTC offset",
        b'{"ts": 5, "values": {"cod": 1}}': "field ts is missing or not a string",
        b'{"ts": "yesterday", "values": {"cod": 1}}': "not an ISO 8601 timestamp",
        b'{"ts": "1999-01-01T00:00:00+00:00", "values": {"cod": 1}}': "is before 2000",
        b'{"ts": "2026-12-05T00:00:00+00:00", "values": {"cod": 1}}': "ahead of the server clock",
        b'{"ts": "2026-11-29T08:15:00+08:00", "values": {}}': "non-empty object",
        b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": true}}': "not a number",
        b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": 1}, "flags": {"ph": "N"}}': "without a value",
        b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"cod": 1}, "flags": []}': "field flags",
        b"[1, 2]": "must be a JSON object",
    }
    for payload, reason in cases.items():
        result = decode(payload)
        assert isinstance(result, jsonv1.Rejected) and reason in result.reason, (payload, result)
        assert not result.unknown


def test_unknown_point_and_parameter_are_marked_for_a_registry_refresh():
    assert decode(b"{}", "outfall/v1/p/shop-02/total") == jsonv1.Rejected(
        "unknown point p/shop-02/total: no such park, plant or point in the registry", unknown=True
    )
    result = decode(b'{"ts": "2026-11-29T08:15:00+08:00", "values": {"zzz": 1}}')
    assert isinstance(result, jsonv1.Rejected) and result.unknown


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), st.text(max_size=60))
def test_any_bytes_on_any_topic_give_readings_or_a_reason(payload, topic):
    result = jsonv1.decode(topic, payload, POINTS, NOW)
    assert isinstance(result, jsonv1.Accepted | jsonv1.Rejected)
    if isinstance(result, jsonv1.Rejected):
        assert result.reason


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None)
@given(
    ts=st.one_of(st.datetimes(timezones=st.timezones()).map(datetime.isoformat), json_values),
    values=st.dictionaries(
        st.sampled_from(["cod", "cr6", "ph", "w01018", "bad", ""]), json_values, max_size=4
    ),
    flags=st.one_of(st.dictionaries(st.sampled_from(["cod", "ph"]), json_values, max_size=2), json_values),
)
def test_structured_json_gives_readings_or_a_reason(ts, values, flags):
    payload = orjson.dumps({"ts": ts, "values": values, "flags": flags})
    result = decode(payload)
    if isinstance(result, jsonv1.Accepted):
        for row in lines(result):
            assert len(row) == 6 and row[4] in "NFMSDCTB"
            float(row[3])
            datetime.fromisoformat(row[2])
    else:
        assert result.reason


def test_timestamps_that_overflow_in_utc_are_rejected_not_raised():
    # found by hypothesis: year 1 with a positive offset is before year 1 in UTC
    result = decode(b'{"ts": "0001-01-01T00:00:00+02:34:48", "values": {"cod": 1}}')
    assert isinstance(result, jsonv1.Rejected) and "implausible" in result.reason
