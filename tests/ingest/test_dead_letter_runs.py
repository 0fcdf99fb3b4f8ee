"""Dead letters as runs: a batch's rejected items of one kind from one source are one row (with a count),
and a dead letter keeps a capped prefix, the original length and the SHA-256 of the whole."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from ingest.core.deadletters import kind_of, runs
from ingest.hj212.session import FrameSplitter, Junk

TOPIC = "outfall/v1/p/shop-01/total"


def test_a_flood_of_hashes_on_one_connection_is_one_run():
    splitter = FrameSplitter()
    junk = [item for item in splitter.feed(b"#" * 200_000) if isinstance(item, Junk)]
    junk += [item for item in splitter.feed(b"x" * 100 + b"#" * 50_000) if isinstance(item, Junk)]
    assert sum(j.size for j in junk) >= 250_000 - splitter.max_frame  # the rest may still start a frame
    rows = [("tcp-hj212", "tcp:10.0.0.9:5000", j.data, f"{j.reason} ({j.size} bytes)") for j in junk]
    (run,) = runs(rows, max_bytes=4096)
    assert run.count == len(junk)
    assert run.bytes_total == sum(len(j.data) for j in junk)
    assert run.topic == "tcp:10.0.0.9:5000"


def test_distinct_problems_and_distinct_sources_stay_distinct():
    rows = [
        ("mqtt-hj212", "outfall/hj212/A", b"x", "bad CRC: frame carries ABCD, data gives 1F2E"),
        ("mqtt-hj212", "outfall/hj212/A", b"y", "bad CRC: frame carries 0000, data gives 9C0B"),
        (
            "mqtt-hj212",
            "outfall/hj212/A",
            b"z",
            "unknown MN 123: no point in the park registry has this device",
        ),
        ("mqtt-hj212", "outfall/hj212/B", b"w", "bad CRC: frame carries 0000, data gives 9C0B"),
    ]
    out = runs(rows, max_bytes=4096)
    assert [(r.topic, r.count, r.payload) for r in out] == [
        ("outfall/hj212/A", 2, b"x"),
        ("outfall/hj212/A", 1, b"z"),
        ("outfall/hj212/B", 1, b"w"),
    ]


def test_json_errors_at_different_positions_are_one_kind():
    a = "payload is not valid UTF-8 JSON: unexpected character: line 1 column 1 (char 0)"
    b = "payload is not valid UTF-8 JSON: unexpected character: line 1 column 37 (char 36)"
    assert kind_of(a) == kind_of(b)
    assert kind_of("ts '2026-12-03' is 23.9 h ahead") == kind_of("ts '2026-12-04' is 47.1 h ahead")
    assert kind_of("field ts is missing") != kind_of("field values must be a non-empty object")


def test_rows_without_a_source_are_never_merged():
    conflict = ("mqtt-json", None, b"{}", "second value for a stored reading (point 1, ...)")
    out = runs([conflict, conflict], max_bytes=4096)
    assert [(r.kind, r.count) for r in out] == [(None, 1), (None, 1)]


def test_a_big_payload_is_kept_as_a_prefix_with_its_length_and_digest():
    payload = b"#" * 1_000_000
    (run,) = runs([("mqtt-json", TOPIC, payload, "payload is 1000000 bytes, over the limit")], max_bytes=4096)
    assert run.payload == payload[:4096]
    assert run.size == 1_000_000
    assert run.sha256 == hashlib.sha256(payload).digest()


@given(st.binary(min_size=0, max_size=1100))
def test_anything_the_size_of_an_hj212_frame_is_kept_whole(payload):
    (run,) = runs([("tcp-hj212", "tcp:1", payload, "bad frame")], max_bytes=1200)
    assert run.payload == payload and run.size == len(payload)


@given(
    st.lists(
        st.tuples(st.sampled_from(["t1", "t2", "t3"]), st.sampled_from(["r 1", "r 2", "s"])), max_size=50
    )
)
def test_runs_account_for_every_item(items):
    rows = [("src", topic, b"ab", reason) for topic, reason in items]
    out = runs(rows, max_bytes=4096)
    assert sum(r.count for r in out) == len(rows)
    assert sum(r.bytes_total for r in out) == 2 * len(rows)
    assert len(out) == len({(t, kind_of(r)) for t, r in items})
