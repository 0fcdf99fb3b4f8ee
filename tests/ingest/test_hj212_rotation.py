"""HJ 212-2025 SM4 key rotation through CN 1014: the request frame (the new key inside the encrypted
blocks, under the current key; round trip through the simulated logger), and the rotation's life in
the database (pending key, switch on 9012 or on a frame under the new key, the old key kept on a
refusal, kept and retried after a timeout, the schedule)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.core import repo as core_repo
from ingest.core import secrets
from ingest.core.models import ParkSpec
from ingest.core.settings import SM4RotationSettings
from ingest.hj212 import codec, commands, keys, repo, rotation, sm4
from simulators import hj212_device

NOW = datetime(2026, 12, 2, 10, 32, 0)
MN = "010000A8900016F000169DC0"
OLD = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
NEW_HEX = "00112233445566778899AABBCCDDEEFF"


def _request(key_hex: str, field: str = "NewKey", form: str = "hex", version: int = 2) -> bytes:
    expires = datetime(2026, 12, 3, tzinfo=UTC)
    cmd = commands.Pending(7, MN, "1014", {}, "queued", None, 0, expires, None, None)
    ready = commands.key_exchange(cmd, key_hex, field, NOW)
    return commands.request(ready, commands.new_qn(NOW), "32", "123456", version, NOW, OLD, form)


@given(
    key=st.binary(min_size=16, max_size=16),
    field=st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,31}", fullmatch=True),
    form=st.sampled_from(sorted(sm4.FORMS)),
)
@settings(max_examples=150, deadline=None)
def test_the_new_key_goes_out_inside_the_encrypted_blocks_under_the_current_key(
    key: bytes, field: str, form: str
) -> None:
    key_hex = key.hex().upper()
    raw = _request(key_hex, field, form)
    assert key_hex.encode() not in raw.upper() and key.hex().encode() not in raw  # never in clear
    opened = codec.decode(raw, codec.Policy(keys=(OLD,)))
    assert opened.encrypted and opened.key == OLD and opened.version == 2 and opened.wants_reply
    assert opened.other[field] == key_hex and opened.other["DataTime"] == "20261202103200"
    area = raw.decode()[raw.decode().index("CP=&&") + 5 :]
    plain = sm4.decrypt(sm4.readings_of(area[: area.index("&&")])[0][1], OLD).decode()
    assert commands.key_in_whole_blocks(plain, key_hex)  # SM4 leaves only a tail under 16 bytes plain
    with pytest.raises(codec.HJ212Error):
        codec.decode(raw, codec.Policy(keys=(key,)))  # not readable under the new key itself


def test_a_key_at_the_end_of_the_area_would_be_partly_in_clear() -> None:
    assert not commands.key_in_whole_blocks(f"NewKey={NEW_HEX}", NEW_HEX)  # 39 bytes: 7 left plain
    assert commands.key_in_whole_blocks(f"NewKey={NEW_HEX};DataTime=20261202103200", NEW_HEX)


def test_1014_takes_no_fields_from_a_person_and_only_a_rotation_queues_it() -> None:
    with pytest.raises(commands.CommandError, match="no fields"):
        commands.check("1014", {"NewKey": NEW_HEX})
    assert commands.check("1014", {}) == {}


@pytest.mark.parametrize("refuse", [False, True])
def test_the_simulated_logger_takes_the_key_and_answers_9011_9012(refuse: bool) -> None:
    request = codec.decode(_request(NEW_HEX), codec.Policy(keys=(OLD,)))
    device = hj212_device.Device(refuse=1.0 if refuse else 0.0)
    answers = [codec.decode(a) for a in hj212_device.answer(request, device, NOW)]
    assert next((a.cn, a.qn, a.version) for a in answers) == ("9011", request.qn, 2)
    if refuse:
        assert answers[0].other == {"QnRtn": "2"} and len(answers) == 1 and device.new_key is None
    else:
        assert [a.other for a in answers] == [{"QnRtn": "1"}, {"ExeRtn": "1"}]
        assert device.new_key == bytes.fromhex(NEW_HEX)


def test_a_1014_without_a_usable_key_fails_and_the_logger_keeps_its_key() -> None:
    frame = codec.decode(_request(NEW_HEX, field="SecretKey"), codec.Policy(keys=(OLD,)))
    device = hj212_device.Device()  # reads NewKey: the field is missing
    answers = [codec.decode(a) for a in hj212_device.answer(frame, device, NOW)]
    assert answers[-1].other == {"ExeRtn": "2"} and device.new_key is None


# --- in the database ------------------------------------------------------------------------------------

PARK = """
id: {id}
name: Rotation
timezone: Asia/Shanghai
industry: electroplating
standard: GB21900-2008-T2
config:
  hj212: {{sm4_rotate_days: 0.00001}}
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: workshop
        kind: workshop_outlet
        interval_s: 60
        mn: "{mn}"
        parameters: {{ni: mg/L}}
"""
FAST = SM4RotationSettings(rotate_days=90, overlap_hours=1, retry_hours=2, wait_hours=1)


@pytest.fixture
def logger(
    db: psycopg.Connection, make_park: Callable[..., ParkSpec], monkeypatch: pytest.MonkeyPatch
) -> tuple[ParkSpec, str, int]:
    """A park whose one logger has the current key OLD; its point id."""
    monkeypatch.setenv("OUTFALL_SECRET_KEY", "7a" * 32)
    spec = make_park(PARK.replace("{mn}", f"RT{datetime.now().strftime('%H%M%S%f')}"))
    with db.transaction():
        keys.set_key(db, spec.id, "shop-01", "workshop", OLD.hex(), "test", 0)
    point_id = repo.point_id_of(db, spec.id, "shop-01", "workshop")
    assert point_id is not None
    mn = spec.plants[0].points[0].mn
    assert mn is not None
    return spec, mn, point_id


def _policies(db: psycopg.Connection, mn: str) -> keys.Policies:
    return keys.load(db, [p for p in core_repo.registry(db) if p.mn == mn])


def _answer(db: psycopg.Connection, command_id: int, mn: str, *codes: tuple[str, int]) -> str | None:
    """The gateway's side: the request sent, then the logger's answers recorded and the rotation settled."""
    (cmd,) = [c for c in repo.open_commands(db) if c.id == command_id]
    qn = f"2026120210{command_id % 10000:04d}000"
    settled = None
    with db.transaction():
        repo.mark_sent(db, cmd, qn, b"##0000CP=&&&&0000\r\n", resend=False)
        for kind, code in codes:
            found = commands.Answer(kind, code, {})  # type: ignore[arg-type]
            assert repo.record_answer(db, mn, qn, found, b"answer") == command_id
            settled = rotation.settle(db, command_id, FAST)
    return settled


def _trail(db: psycopg.Connection, command_id: int) -> list[tuple[str, str]]:
    return [(a.event, a.actor) for a in repo.audit_of(command_id).fetch(db)]


def test_a_rotation_switches_keys_when_the_logger_confirms(
    db: psycopg.Connection, logger: tuple[ParkSpec, str, int]
) -> None:
    _spec, mn, point_id = logger
    with db.transaction():
        started = rotation.start(db, point_id, "cli:test", FAST)
    with pytest.raises(rotation.RotationError, match="already under way") as busy, db.transaction():
        rotation.start(db, point_id, "api:1", FAST)
    assert busy.value.kind == "busy"
    new = bytes.fromhex(rotation.pending_key(db, started.command_id) or "")
    during = _policies(db, mn)
    assert during.current(mn) == OLD and during.is_pending(mn, new) and during(mn).keys == (OLD, new)
    row = repo.command(started.command_id).first(db)
    assert row is not None and (row.cn, row.purpose, row.params) == ("1014", "key_rotation", {})
    assert row.key_generation == started.generation and NEW_HEX not in str(row)
    assert _answer(db, started.command_id, mn, ("9011", 1), ("9012", 1)) == "switched"
    after = _policies(db, mn)
    assert after.current(mn) == new and after(mn).keys == (new, OLD)  # the old key: accepted 1 h more
    assert not after.pending.get(mn)
    events = [e for e, _ in _trail(db, started.command_id)]
    assert events == ["queued", "sent", "9011", "9012", "key_switched"]
    assert _trail(db, started.command_id)[0] == ("queued", "cli:test")


def test_a_refused_rotation_keeps_the_old_key_and_is_retried_later(
    db: psycopg.Connection, logger: tuple[ParkSpec, str, int]
) -> None:
    _spec, mn, point_id = logger
    with db.transaction():
        started = rotation.start(db, point_id, "compliance", FAST)
    assert _answer(db, started.command_id, mn, ("9011", 2)) == "kept"
    after = _policies(db, mn)
    assert after.current(mn) == OLD and after(mn).keys == (OLD,)  # the new key is gone at once
    assert _trail(db, started.command_id)[-1][0] == "key_kept"
    now = datetime.now(UTC) + timedelta(seconds=5)  # the park's period (under 1 s) has passed
    due_now = [p.id for p in rotation.due(db, FAST, now)]
    later = [p.id for p in rotation.due(db, FAST, now + FAST.retry_hours * timedelta(hours=1.01))]
    assert point_id not in due_now and point_id in later  # the park's period has passed; retry waits


def test_an_unanswered_rotation_keeps_the_new_key_for_the_overlap_and_a_frame_under_it_switches(
    db: psycopg.Connection, logger: tuple[ParkSpec, str, int]
) -> None:
    spec, mn, point_id = logger
    with db.transaction():
        started = rotation.start(db, point_id, "compliance", FAST)
        sent = next(c for c in repo.open_commands(db) if c.id == started.command_id)
        repo.mark_sent(db, sent, "20261202103300000", b"frame", resend=False)
        repo.expire(db, started.command_id, "timed out")
        assert rotation.settle(db, started.command_id, FAST) == "kept"
    new = bytes.fromhex(keys.pending_hex(db, spec.id, "shop-01", "workshop", started.generation) or "")
    kept = _policies(db, mn)
    assert kept.current(mn) == OLD and kept.is_pending(mn, new)  # the logger may have switched
    with db.transaction():
        proven = rotation.proven(db, (point_id, spec.id, "shop-01", "workshop"), new, FAST)
    assert proven == started.command_id and _policies(db, mn).current(mn) == new
    assert _trail(db, started.command_id)[-1] == ("key_switched", "gateway")


def test_a_rotation_never_sent_drops_its_key(
    db: psycopg.Connection, logger: tuple[ParkSpec, str, int]
) -> None:
    _spec, mn, point_id = logger
    with db.transaction():
        started = rotation.start(db, point_id, "compliance", FAST)
        repo.expire(db, started.command_id, "logger offline")
        rotation.settle(db, started.command_id, FAST)
    assert _policies(db, mn)(mn).keys == (OLD,)


def test_the_schedule_rotates_what_is_due_and_a_person_cannot_queue_1014(
    db: psycopg.Connection, logger: tuple[ParkSpec, str, int]
) -> None:
    spec, mn, _point_id = logger
    with db.transaction():
        later = datetime.now(UTC) + timedelta(seconds=5)  # the park's period is under a second
        assert rotation.run_due(db, FAST.model_copy(update={"rotate_days": 0}), later, spec.id)
        assert not rotation.run_due(db, FAST, later, spec.id)  # one under way
    (row,) = [r for r in repo.recent(mn).fetch(db) if r.cn == "1014"]
    assert row.actor == "compliance" and row.state == "queued"
    assert [e for e, _ in _trail(db, row.id)] == ["queued", "note"]
    with pytest.raises(commands.CommandError, match="rotate-key"), db.transaction():
        repo.enqueue(db, mn, "1014", {}, "admin", "cli:someone")
    other = SM4RotationSettings(rotate_days=0)
    assert rotation.period(other, {}) is None and rotation.period(other, {"hj212": {"sm4_rotate_days": 2}})


def test_a_logger_without_a_key_cannot_be_rotated(
    db: psycopg.Connection, make_park: Callable[..., ParkSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTFALL_SECRET_KEY", "7a" * 32)
    spec = make_park(PARK.replace("{mn}", f"RN{datetime.now().strftime('%H%M%S%f')}"))
    with pytest.raises(rotation.RotationError, match="no SM4 key") as err, db.transaction():
        rotation.start_for(db, spec.id, "shop-01", "workshop", "cli:test", FAST)
    assert err.value.kind == "no_key"
    with pytest.raises(rotation.RotationError) as missing, db.transaction():
        rotation.start_for(db, spec.id, "shop-01", "nowhere", "cli:test", FAST)
    assert missing.value.kind == "missing"
    assert secrets.live_for(db, secrets.logger_name(spec.id, "shop-01", "workshop", keys.SM4_NEXT)) == []
