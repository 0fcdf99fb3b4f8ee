"""Reverse control, pure side: every command's request frame decodes, the simulated logger answers it
(9011, data, 9012) and the answers decode into the outcome the queue records; the next-step rules of
HJ 212-2017 Table 1 (timeout, retries, expiry)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ingest.hj212 import codec, commands, session, sm4
from simulators import hj212_device

NOW = datetime(2026, 12, 2, 10, 32, 0)
MN = "010000A8900016F000169DC0"
PARAMS: dict[str, dict[str, str]] = {
    "1000": {"OverTime": "10", "ReCount": "3"},
    "1011": {},
    "1012": {},
    "1061": {},
    "1062": {"RtdInterval": "60"},
    "1063": {},
    "1064": {"MinInterval": "5"},
    "3015": {"PolId": "w01018"},
    "3019": {},
    "3020": {"PolId": "w01018", "InfoId": "i13004"},
    "3021": {"PolId": "w01018", "i13004": "2.0"},
}


def pending(cn: str, state: str = "queued", **kw: object) -> commands.Pending:
    expires = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    base = commands.Pending(1, MN, cn, PARAMS.get(cn, {}), state, None, 0, expires, None, None)
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("cn", sorted(PARAMS))
@pytest.mark.parametrize("version", [codec.VERSION_2017, codec.VERSION_2025])
def test_every_command_round_trips_through_the_simulated_logger(cn: str, version: int) -> None:
    qn = commands.new_qn(NOW)
    raw = commands.request(pending(cn), qn, "32", "123456", version, NOW)
    request = codec.decode(raw)
    assert (request.cn, request.qn, request.mn, request.wants_reply) == (cn, qn, MN, True)
    assert request.version == version  # the logger's own edition
    device = hj212_device.Device(clock_offset=timedelta(minutes=5))
    answers = [codec.decode(f) for f in hj212_device.answer(request, device, NOW)]
    assert answers[0].cn == "9011" and answers[-1].cn == "9012"
    assert all(a.qn == qn and a.mn == MN for a in answers)
    first, last = commands.answer(answers[0]), commands.answer(answers[-1])
    assert first is not None and commands.outcome(first.kind, first.code)[0] == "accepted"
    assert last is not None and commands.outcome(last.kind, last.code)[0] == "done"
    data = [commands.answer(a) for a in answers[1:-1]]
    assert bool(data) == (cn in commands.DATA_ANSWERS)


KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


@pytest.mark.parametrize("form", sorted(sm4.FORMS))
def test_a_3020_request_to_a_2025_logger_is_encrypted_and_opens_under_its_key(form: str) -> None:
    raw = commands.request(pending("3020"), "9", "32", "123456", codec.VERSION_2025, NOW, KEY, form)
    assert b"PolId=w01018" not in raw  # the data area went out sealed
    with pytest.raises(codec.HJ212Error, match="CRC"):
        codec.decode(raw)  # the CRC is over the plaintext: without the key the frame does not check
    request = codec.decode(raw, codec.Policy(keys=(KEY,)))
    assert request.encrypted and (request.cn, request.version, request.flag) == ("3020", 2, 9)
    assert request.other == PARAMS["3020"]


@pytest.mark.parametrize(("cn", "version"), [("3015", 2), ("1012", 2), ("3020", 1)])
def test_what_the_standard_does_not_encrypt_goes_out_plain(cn: str, version: int) -> None:
    raw = commands.request(pending(cn), "9", "32", "123456", version, NOW, KEY)
    request = codec.decode(raw)  # no key needed
    assert not request.encrypted and (request.cn, request.version) == (cn, version)


def test_a_history_pull_from_a_2025_logger_is_encrypted() -> None:
    upload = codec.Frame(st="32", cn="2011", mn=MN, qn="1", pw="123456", flag=9)
    begin = NOW - timedelta(hours=2)
    raw = session.history_request(upload, "2061", begin, NOW, NOW, KEY, "brace")
    pull = codec.decode(raw, codec.Policy(keys=(KEY,)))
    assert pull.encrypted and pull.version == 2
    assert pull.other == {"BeginTime": codec.format_time(begin), "EndTime": codec.format_time(NOW)}


def test_commands_change_the_device() -> None:
    device = hj212_device.Device(clock_offset=timedelta(minutes=-9))
    ask = lambda cn: codec.decode(commands.request(pending(cn), "1", "32", None, 1, NOW))  # noqa: E731
    hj212_device.answer(ask("1012"), device, NOW)
    assert device.clock_offset == timedelta(0)  # SystemTime is the server's time at sending
    hj212_device.answer(ask("3015"), device, NOW)
    assert device.retained == [(NOW, "w01018")]
    got = [codec.decode(f) for f in hj212_device.answer(ask("1061"), device, NOW)]
    found = commands.answer(got[1])
    assert found is not None and found.data == {"RtdInterval": "30"}


def test_refused_and_silent_loggers() -> None:
    request = codec.decode(commands.request(pending("3015"), "7", "32", None, 1, NOW))
    refused = [codec.decode(f) for f in hj212_device.answer(request, hj212_device.Device(refuse=1.0), NOW)]
    assert [f.cn for f in refused] == ["9011"]
    found = commands.answer(refused[0])
    assert found is not None
    state, reason = commands.outcome(found.kind, found.code)
    assert state == "refused" and "QnRtn=2" in reason
    assert hj212_device.answer(request, hj212_device.Device(silent=1.0), NOW) == []


TIMING = commands.Timing(timedelta(seconds=10), 3, timedelta(seconds=300))
T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


def test_next_step_follows_table_1() -> None:
    assert commands.next_step(pending("1011"), T0, True, TIMING) == commands.Send(resend=False)
    assert commands.next_step(pending("1011"), T0, False, TIMING) is None  # waits for the logger
    assert isinstance(
        commands.next_step(pending("1011"), T0 + timedelta(hours=2), False, TIMING), commands.Expire
    )
    sent = pending("1011", "sent", qn="1", attempts=1, sent_at=T0)
    assert commands.next_step(sent, T0 + timedelta(seconds=5), True, TIMING) is None
    assert commands.next_step(sent, T0 + timedelta(seconds=10), True, TIMING) == commands.Send(resend=True)
    last = pending("1011", "sent", qn="1", attempts=4, sent_at=T0)
    step = commands.next_step(last, T0 + timedelta(seconds=10), True, TIMING)
    assert isinstance(step, commands.Expire) and "timed out" in step.reason
    accepted = pending("3015", "accepted", qn="1", attempts=1, sent_at=T0, accepted_at=T0)
    assert commands.next_step(accepted, T0 + timedelta(seconds=299), True, TIMING) is None
    step = commands.next_step(accepted, T0 + timedelta(seconds=300), True, TIMING)
    assert isinstance(step, commands.Expire) and "9012" in step.reason


@pytest.mark.parametrize(
    ("cn", "params", "why"),
    [
        ("9999", {}, "not a command"),
        ("1062", {"RtdInterval": "6;0"}, "bad value"),
        ("2051", {"BeginTime": "2026-12-01"}, "BeginTime"),
        ("1012", {"bad key": "1"}, "bad field"),
    ],
)
def test_bad_commands_are_refused_with_a_reason(cn: str, params: dict[str, str], why: str) -> None:
    with pytest.raises(commands.CommandError, match=why):
        commands.check(cn, params)


def test_drift() -> None:
    assert commands.drift("20261202104200", NOW) == timedelta(minutes=10)


def test_history_pulls_cover_the_gap_in_park_local_time() -> None:
    from zoneinfo import ZoneInfo

    from compliance.history import history_pulls

    zone = ZoneInfo("Asia/Shanghai")
    t0 = datetime(2026, 12, 1, 23, 10, tzinfo=UTC)  # 07:10 local on the 2nd
    short = history_pulls(t0, t0 + timedelta(minutes=20), zone)
    assert short == [("2051", {"BeginTime": "20261202071000", "EndTime": "20261202073000"})]
    long = dict(history_pulls(t0, t0 + timedelta(days=1, hours=2), zone))
    assert long["2061"] == {"BeginTime": "20261202070000", "EndTime": "20261203090000"}
    assert long["2031"] == {"BeginTime": "20261202000000", "EndTime": "20261203000000"}
    for params in long.values():
        commands.check("2051", params)  # valid HJ 212 times


def test_a_clock_is_off_only_when_it_is_off_by_the_same_amount() -> None:
    rule = (120.0, 5.0)
    assert commands.clock_is_off([420.0, 420.5, 421.0], 3, rule)
    assert not commands.clock_is_off([420.0, 421.0], 3, rule)  # not enough frames yet
    assert not commands.clock_is_off([3600.0, 3540.0, 3480.0], 3, rule)  # a backlog, late by less each time
    assert not commands.clock_is_off([30.0, 31.0, 30.5], 3, rule)  # within the drift allowed
