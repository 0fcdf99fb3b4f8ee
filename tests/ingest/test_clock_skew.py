"""The clock rule every wire format shares: a measurement time at most a small skew ahead of the server
clock (OUTFALL_INGEST_MAX_CLOCK_SKEW_S), so a reading from the future never takes the key of the real one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.core import parameters
from ingest.core.decoded import DEFAULT_MAX_SKEW, Accepted, Rejected, time_problem
from ingest.core.models import RegistryPoint
from ingest.core.secrets import Verifier, hash_secret
from ingest.core.settings import HJ212Settings, IngestSettings
from ingest.hj212 import records, split
from ingest.mqtt import jsonv1
from tests.ingest.hj212_support import frame

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
SKEW = timedelta(seconds=300)
MN = "88888880000001"
POINT = RegistryPoint(
    id=7,
    park="p",
    plant="shop-01",
    code="total",
    mn=MN,
    timezone="Asia/Shanghai",
    factors={parameters.BY_CODE["cod"].id: 1.0},
)


PW = records.PwRule(Verifier({MN: [hash_secret("123456")]}))  # the PW of hj212_support.frame


def test_the_default_skew_is_five_minutes_and_one_setting_serves_every_path(monkeypatch):
    assert timedelta(seconds=300) == DEFAULT_MAX_SKEW
    assert IngestSettings().intake.max_skew == DEFAULT_MAX_SKEW
    monkeypatch.setenv("OUTFALL_INGEST_MAX_CLOCK_SKEW_S", "30")
    # the MQTT worker and the TCP gateway read the same variable
    assert IngestSettings().intake.max_skew == HJ212Settings().intake.max_skew == timedelta(seconds=30)


@given(st.integers(min_value=-(10**7), max_value=300))
def test_within_the_skew_is_accepted(seconds_ahead):
    assert time_problem(NOW + timedelta(seconds=seconds_ahead), NOW, SKEW) is None


@given(st.integers(min_value=301, max_value=10**7))
def test_beyond_the_skew_is_refused_with_how_far_and_the_allowance(seconds_ahead):
    problem = time_problem(NOW + timedelta(seconds=seconds_ahead), NOW, SKEW)
    assert problem is not None
    assert "ahead of the server clock; allowed skew 300 s" in problem


def test_the_reason_says_hours_for_a_day_and_minutes_for_a_few():
    assert str(time_problem(NOW + timedelta(hours=23.9), NOW, SKEW)).startswith("is 23.9 h ahead")
    assert str(time_problem(NOW + timedelta(minutes=7), NOW, SKEW)).startswith("is 7.0 min ahead")
    assert time_problem(datetime(1999, 12, 31, tzinfo=UTC), NOW, SKEW) == "is before 2000"


def _json(ts: datetime) -> Accepted | Rejected:
    payload = orjson.dumps({"ts": ts.isoformat(), "values": {"cod": 1.0}})
    return jsonv1.decode("outfall/v1/p/shop-01/total", payload, {("p", "shop-01", "total"): POINT}, NOW)


def test_json_v1_refuses_a_reading_stamped_a_day_ahead_and_keeps_one_within_the_skew():
    rejected = _json(NOW + timedelta(hours=23, minutes=54))
    assert isinstance(rejected, Rejected)
    assert rejected.reason == (
        "ts 2026-12-03T09:54:00+00:00 is 23.9 h ahead of the server clock; allowed skew 300 s"
        " (is the logger's clock or time zone wrong?)"
    )
    assert isinstance(_json(NOW + timedelta(seconds=299)), Accepted)


def _hj212(data_time: str, max_skew: timedelta = DEFAULT_MAX_SKEW) -> Accepted | Rejected:
    raw = frame(MN, "2011", f"DataTime={data_time};w01018-Rtd=40.5,w01018-Flag=N")
    return split.decode(f"outfall/hj212/{MN}", raw, {MN: POINT}, NOW, pw=PW, max_skew=max_skew)


def test_hj212_refuses_a_datatime_a_day_ahead_in_park_local_time():
    # 2026-12-03 17:54 Shanghai is 09:54 UTC, 23.9 h after NOW
    rejected = _hj212("20261203175400")
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith(
        "DataTime 2026-12-03 17:54:00 (Asia/Shanghai) is 23.9 h ahead of the server clock; allowed skew 300 s"
    )
    assert isinstance(_hj212("20261202180400"), Accepted)  # 4 minutes ahead: a clock a little fast


@pytest.mark.parametrize("cn", ["2011", "2051", "2061", "2031", "2021"])
def test_every_kind_of_record_obeys_the_rule(cn):
    raw = frame(MN, cn, "DataTime=20261203175400;w01018-Rtd=1,w01018-Avg=1,w01018-Flag=N;SB1-RS=1")
    result = records.decode(f"outfall/hj212/{MN}", raw, {MN: POINT}, NOW, pw=PW)
    assert isinstance(result, Rejected) and "ahead of the server clock" in result.reason


def test_the_allowance_is_the_setting():
    assert isinstance(_hj212("20261202180400", max_skew=timedelta(seconds=60)), Rejected)
