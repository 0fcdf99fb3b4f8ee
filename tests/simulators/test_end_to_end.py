"""Every scripted event end to end: ``outfall simulate`` publishes through the real broker, the real
ingest worker stores it in the real database, and what landed is what was sent, event by event.

The scenario runs once per protocol (JSON v1 and HJ 212 frames) on its own park; each test checks one
event's window. "What was sent" is the published stream read by ingest's own decoder (streams.land).
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from ingest.core import park as park_file
from ingest.core import repo
from ingest.core.settings import IngestSettings
from ingest.mqtt.worker import IngestWorker
from simulators import encode, scenario
from simulators.__main__ import main as simulate
from simulators.engine import Engine
from tests.realdata import BSM1, write_bsm1
from tests.simulators.streams import PARK, land
from tests.support import RunningWorker, Services, issue_hj212_pws, unique_id, wait_for

FIXTURE = Path(__file__).parent / "fixtures" / "every_event.yaml"
SEED = 7
Key = tuple[str, str, datetime]  # plant/point, parameter, time (UTC)


@dataclass
class Landing:
    protocol: str
    park: str
    stored: dict[Key, tuple[float, str]]
    expected: dict[Key, tuple[float, str]]
    dead: list[tuple[str, str]]  # topic, reason
    truth: dict[str, dict[str, Any]]
    summary: str


def _expected(text: str) -> tuple[dict[Key, tuple[float, str]], int]:
    spec = park_file.parse(text)
    scen = scenario.parse(FIXTURE.read_text(), str(FIXTURE))
    assert scen.start and scen.duration
    events = scenario.resolve(scen, spec, scen.start)
    records = Engine(spec, scen.start, SEED, events, scen.start + scen.duration).records()
    rows, rejected = land(spec, (encode.json_v1(spec.id, r) for r in records))
    expected: dict[Key, tuple[float, str]] = {}
    for row in rows:  # the first copy of a key wins, as in the database
        expected.setdefault((row.point, row.parameter, row.time), (row.value, row.flag))
    return expected, len(rejected)


def _stored(db: psycopg.Connection, park_id: str) -> dict[Key, tuple[float, str]]:
    rows = db.execute(
        "SELECT p.plant_id || '/' || p.code, k.code, r.time, r.value, r.flag::text FROM readings r"
        " JOIN points p ON p.id = r.point_id JOIN parameters k ON k.id = r.parameter_id"
        " WHERE p.park_id = %s",
        (park_id,),
    ).fetchall()
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


def _simulate(services: Services, tmp: Path, protocol: str) -> Landing:
    park_id = unique_id("sim")
    mn = f"S{os.urandom(4).hex()}"  # MNs are global in the registry: unique per test park
    text = PARK.replace("SIMTEST", mn).format(id=park_id)
    (tmp / "park.yaml").write_text(text)
    with psycopg.connect(services.database_url, autocommit=True) as db:
        spec = park_file.parse(text)
        repo.load_park(db, spec)
        issue_hj212_pws(db, spec)  # the simulator sends the default PW (no --credentials)
        expected, rejected = _expected(text)
        settings = IngestSettings(client_id=unique_id("ingest"), topic=f"outfall/v1/{park_id}/+/+")
        worker = RunningWorker(
            IngestWorker(settings, services.database_url, services.mqtt_host, services.mqtt_port)
        )
        try:
            argv = ["--park", str(tmp / "park.yaml"), "--scenario", str(FIXTURE), "--seed", str(SEED)]
            argv += ["--speed", "0", "--protocol", protocol, "--truth", str(tmp / "truth.json")]
            os.environ["OUTFALL_MQTT_URL"] = services.mqtt_url
            with contextlib.redirect_stdout(io.StringIO()) as out:
                assert simulate(argv) == 0
            summary = out.getvalue()
            wait_for(lambda: len(_stored(db, park_id)) >= len(expected), timeout=60, message="readings")
            # a run of junk of one kind from one topic is one dead letter, with a count
            dead_sql = "SELECT topic, reason, count FROM dead_letters WHERE topic LIKE %s"
            like = f"%{park_id}%" if protocol == "json" else f"outfall/hj212/{mn}%"
            wait_for(
                lambda: sum(r[2] for r in db.execute(dead_sql, (like,))) >= rejected, message="dead letters"
            )
        finally:
            worker.stop()
        truth = orjson.loads((tmp / "truth.json").read_bytes())
        dead = db.execute(dead_sql, (like,)).fetchall()
        return Landing(
            protocol,
            park_id,
            _stored(db, park_id),
            expected,
            dead,
            {e["id"]: e for e in truth["events"]},
            summary,
        )


@pytest.fixture(scope="module", params=["json", "hj212"])
def landing(request, services, tmp_path_factory) -> Landing:
    return _simulate(services, tmp_path_factory.mktemp(request.param), request.param)


def _window(landing: Landing, event_id: str) -> tuple[str, datetime, datetime]:
    event = landing.truth[event_id]
    point = f"{event['plant']}/{event['point']}"
    return point, datetime.fromisoformat(event["start"]), datetime.fromisoformat(event["end"])


def _in(data: dict[Key, tuple[float, str]], point: str, start: datetime, end: datetime) -> dict[Key, Any]:
    return {k: v for k, v in data.items() if k[0] == point and start <= k[2] < end}


EVENTS = [
    "cod-step", "cod-ramp", "nh3-spike", "nh3-drift", "cod-flat", "ph-zero", "cod-negative", "cr6-ug",
    "ni-over", "ws-maint", "cr-cal", "ws-fault-d", "ph-fault-b", "ws-stopped", "ws-offline", "utc-clock",
    "garbage", "shuffled", "backfill", "resend", "reuse-low", "shop1-bypass",
]  # fmt: skip


def test_everything_sent_landed_once_and_nothing_else(landing):
    assert landing.stored == landing.expected
    assert "messages sent" in landing.summary and "events injected: 22 of 22" in landing.summary


@pytest.mark.parametrize("event_id", EVENTS)
def test_each_event_lands_as_sent(landing, event_id):
    event = landing.truth[event_id]
    assert event["messages"] > 0
    if event["type"] in ("reuse_drop", "bypass"):
        points = {s["point"] for s in event["samples"]}
        start, end = datetime.fromisoformat(event["start"]), datetime.fromisoformat(event["end"])
    else:
        point, start, end = _window(landing, event_id)
        points = {point}
    for point in points:
        sent = _in(landing.expected, point, start, end)
        assert _in(landing.stored, point, start, end) == sent
        for sample in event["samples"]:  # the ground truth's values are what landed
            when = datetime.fromisoformat(sample["ts"])
            for code, value in sample.get("values", {}).items():
                if sample.get("point", point) == point:
                    assert landing.stored[(point, code, when)] == (
                        pytest.approx(value),
                        sample["flags"][code],
                    )
    if event["type"] == "dropout":
        assert not _in(landing.stored, *_window(landing, event_id))
    if event["type"] == "clock_skew":
        point, start, end = _window(landing, event_id)
        shifted = _in(landing.stored, point, start - timedelta(hours=8), end - timedelta(hours=8))
        assert len(shifted) == 5 * 4
    if event["type"] == "malformed":
        assert sum(row[2] for row in landing.dead) == 5
        assert not _in(landing.stored, *_window(landing, event_id))
    if event["type"] == "duplicates":
        point, start, end = _window(landing, event_id)
        assert len(_in(landing.stored, point, start, end)) == 5 * 4


@pytest.mark.parametrize("source", ["fixture", "public file"])
def test_bsm1_storm_replay_lands_every_reading(services, tmp_path, source):
    if source == "fixture":
        steps, replay_file = 200, ["--replay-file", str(write_bsm1(tmp_path / "storm.txt", 200))]
    elif (BSM1 / "Inf_strm_2006.txt").exists():
        steps, replay_file = 1345, []  # the named replay finds the public file by itself
    else:
        pytest.skip(f"third-party data {BSM1} is not present (public, not shipped: see the README)")
    park_id, mn = unique_id("sim"), f"S{os.urandom(4).hex()}"
    text = PARK.replace("SIMTEST", mn).format(id=park_id)
    (tmp_path / "park.yaml").write_text(text)
    with psycopg.connect(services.database_url, autocommit=True) as db:
        spec = park_file.parse(text)
        repo.load_park(db, spec)
        issue_hj212_pws(db, spec)
        settings = IngestSettings(client_id=unique_id("ingest"), topic=f"outfall/v1/{park_id}/+/+")
        worker = RunningWorker(
            IngestWorker(settings, services.database_url, services.mqtt_host, services.mqtt_port)
        )
        try:
            argv = ["--park", str(tmp_path / "park.yaml"), "--replay", "bsm1-storm", "--speed", "0"]
            argv += ["--start", "2025-01-01T00:00:00+08:00", *replay_file]
            os.environ["OUTFALL_MQTT_URL"] = services.mqtt_url
            with contextlib.redirect_stdout(io.StringIO()) as out:
                assert simulate(argv) == 0
            # The test park's inlet measures flow, COD and NH3-N (not TSS): 3 readings per step.
            wait_for(lambda: len(_stored(db, park_id)) >= steps * 3, timeout=60, message="BSM1 readings")
        finally:
            worker.stop()
        stored = _stored(db, park_id)
    assert len(stored) == steps * 3
    assert {k[0] for k in stored} == {"central/inlet"}
    assert f"readings sent : {steps * 3} values in {steps} messages" in out.getvalue()
    assert f"not sent      : {{'ss': {steps}}}" in out.getvalue()
