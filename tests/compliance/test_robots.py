"""Chat robots' wire formats (compliance/robots.py) and Chinese text (compliance/robottext.py), pure.

The signatures are checked against known answers computed with OpenSSL from the vendors' documented
algorithms, not with our code:
    DingTalk: printf '%s\\n%s' 1577262236757 'this is secret' \\
              | openssl dgst -sha256 -hmac 'this is secret' -binary | base64
    Feishu:   K=$(printf '%s\\n%s' 1599360473 SECabcdef | xxd -p | tr -d '\\n')
              printf '' | openssl dgst -sha256 -mac HMAC -macopt hexkey:$K -binary | base64
('this is secret' is the secret of DingTalk's own sample code; 1599360473 the timestamp in Feishu's
guide.) And every request we build is accepted by the vendor-faithful receiver in
simulators/robotreceiver.py, written from the vendors' documentation, for any secret and time.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance import receivers, robots, robottext
from ingest.core.redact import redact
from simulators.robotreceiver import Robot

DINGTALK_KAT = ("this is secret", 1577262236757, "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM=")
FEISHU_KAT = ("SECabcdef", 1599360473, "plmzDHsQISNq3n0YSazMf9cddZOtZuSqPQwM8fnHbWI=")


def test_dingtalk_signature_matches_the_documented_algorithm() -> None:
    secret, ms, expected = DINGTALK_KAT
    assert robots.dingtalk_sign(secret, ms) == expected


def test_feishu_signature_is_the_documented_one_not_dingtalks() -> None:
    secret, s, expected = FEISHU_KAT
    assert robots.feishu_sign(secret, s) == expected
    assert robots.dingtalk_sign(secret, s) != expected  # the trap: the two vendors differ


def _message(mention: tuple[str, ...] = ()) -> robots.Message:
    return robots.Message("【超标】园区 一号厂", "### 【超标】园区 一号厂\n\n**报警**", mention)


def test_dingtalk_request_carries_timestamp_and_url_encoded_sign_in_its_query() -> None:
    secret, ms, expected = DINGTALK_KAT
    req = robots.request(
        "dingtalk",
        "https://oapi.dingtalk.com/robot/send?access_token=T0K",
        _message(("13800000000",)),
        secret,
        ms / 1000,
    )
    query = urlsplit(req.url).query
    assert "sign=hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D" in query  # + / = escaped
    assert parse_qs(query) == {"access_token": ["T0K"], "timestamp": [str(ms)], "sign": [expected]}
    body = orjson.loads(req.body)
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "【超标】园区 一号厂"
    assert body["markdown"]["text"].endswith("@13800000000")  # DingTalk shows a mention from the text
    assert body["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}


def test_feishu_request_carries_timestamp_and_sign_in_its_body() -> None:
    secret, s, expected = FEISHU_KAT
    url = "https://open.feishu.cn/open-apis/bot/v2/hook/0f0e-uuid"
    req = robots.request("feishu", url, _message(), secret, s + 0.7)
    assert req.url == url
    assert orjson.loads(req.body) == {
        "timestamp": str(s),
        "sign": expected,
        "msg_type": "text",
        "content": {"text": "### 【超标】园区 一号厂\n\n**报警**"},
    }


def test_wecom_request_is_markdown_unsigned_or_text_when_it_mentions() -> None:
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K-1"
    req = robots.request("wecom", url, _message(), "ignored", 1.0)
    assert req.url == url
    assert orjson.loads(req.body) == {"msgtype": "markdown", "markdown": {"content": _message().text}}
    text = orjson.loads(robots.request("wecom", url, _message(("13800000000",)), None, 1.0).body)
    assert text["msgtype"] == "text"
    assert text["text"]["mentioned_mobile_list"] == ["13800000000"]


@pytest.mark.parametrize(
    ("channel", "status", "answer", "ok"),
    [
        ("dingtalk", 200, b'{"errcode":0,"errmsg":"ok"}', True),
        ("dingtalk", 200, b'{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}', False),
        ("dingtalk", 200, b'{"errcode":310000,"errmsg":"sign not match"}', False),
        ("wecom", 200, b'{"errcode":0,"errmsg":"ok"}', True),
        ("wecom", 200, b'{"errcode":45009,"errmsg":"api freq out of limit"}', False),
        ("feishu", 200, b'{"code":0,"msg":"success","data":{}}', True),
        ("feishu", 200, b'{"StatusCode":0,"StatusMessage":"success"}', True),
        ("feishu", 200, b'{"code":19021,"data":{},"msg":"sign match fail"}', False),
        ("feishu", 200, b"<html>gateway</html>", False),
        ("feishu", 200, b"[]", False),
        ("wecom", 502, b'{"errcode":0}', False),
        ("dingtalk", 200, b"{}", False),
    ],
)
def test_an_error_answer_is_a_failure_even_with_http_200(
    channel: str, status: int, answer: bytes, ok: bool
) -> None:
    if ok:
        robots.check_answer(channel, status, answer)
    else:
        with pytest.raises(robots.RobotRefused):
            robots.check_answer(channel, status, answer)


SECRETS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=64)


@settings(max_examples=200, deadline=None)
@given(channel=st.sampled_from(robots.CHANNELS), secret=SECRETS, now=st.floats(1.5e9, 2.5e9))
def test_the_vendor_faithful_receiver_accepts_every_request_we_sign(
    channel: str, secret: str, now: float
) -> None:
    out = io.StringIO()
    robot = Robot(channel, "tok", secret, out=out, clock=lambda: now + 1)
    url = "http://robot.example" + robot.path()
    req = robots.request(channel, url, _message(), secret, now)
    parts = urlsplit(req.url)
    answer = robot.handle(parts.path + ("?" + parts.query if parts.query else ""), req.body)
    robots.check_answer(channel, 200, orjson.dumps(answer))
    # and refuses the same request signed with another secret (WeCom has no signature)
    if channel != "wecom":
        forged = robots.request(channel, url, _message(), secret + "x", now)
        parts = urlsplit(forged.url)
        answer = robot.handle(parts.path + ("?" + parts.query if parts.query else ""), forged.body)
        with pytest.raises(robots.RobotRefused):
            robots.check_answer(channel, 200, orjson.dumps(answer))


# --- the Chinese text -----------------------------------------------------------------------------------

PAYLOAD: dict[str, Any] = {
    "park": "p1",
    "park_name": "示范电镀园区",
    "timezone": "Asia/Shanghai",
    "plant": "shop-01",
}


def _alert(**over: Any) -> dict[str, Any]:
    a: dict[str, Any] = {
        "id": 7,
        "change": 31,
        "plant": "shop-01",
        "point": "total",
        "parameter": "cod",
        "kind": "exceedance",
        "severity": "violation",
        "event": "opened",
        "value": 150.0,
        "peak": 150.0,
        "limit": 80.0,
        "limit_lower": None,
        "unit": "mg/L",
        "opened_at": "2026-11-29T00:15:00+00:00",
        "last_time": "2026-11-29T00:15:00+00:00",
        "names": {"plant": "一号电镀厂", "point": "总排口"},
    }
    return a | over


def test_text_names_kind_severity_place_value_against_limit_and_park_local_time() -> None:
    m = robottext.message("dingtalk", PAYLOAD, [_alert()])
    assert m.title == "【超标】示范电镀园区 一号电镀厂（shop-01）"
    for part in (
        "报警｜超标｜新发生",
        "报警编号 7",
        "一号电镀厂（shop-01）",
        "总排口（total）",
        "化学需氧量（cod）",
    ):
        assert part in m.text
    assert "监测值 150 mg/L，限值 80 mg/L，超标 0.88 倍" in m.text  # 超标倍数 = (150 - 80) / 80
    assert "2026-11-29 08:15:00（北京时间）" in m.text  # 00:15 UTC is 08:15 in the park


def test_text_of_ph_range_offline_and_an_unknown_kind() -> None:
    ph = _alert(
        parameter="ph", value=5.2, peak=5.2, limit=9.0, limit_lower=6.0, unit="pH", severity="warning"
    )
    text = robottext.message("wecom", PAYLOAD, [ph]).text
    assert "pH值（ph）" in text and "监测值 5.2，限值 6–9" in text and "倍" not in text
    assert "预警" in text
    offline = _alert(
        kind="offline", parameter="", value=None, peak=None, limit=None, unit=None, event="resolved"
    )
    offline["resolved_at"] = "2026-11-29T02:00:00+00:00"
    text = robottext.message("feishu", PAYLOAD, [offline]).text
    assert (
        "数据中断（离线）｜已解除" in text and "监测值" not in text and "解除时间 2026-11-29 10:00:00" in text
    )
    assert "**" not in text  # Feishu's text message is plain text
    other = robottext.message("wecom", PAYLOAD, [_alert(kind="marked_stop_running", event="new-event")]).text
    assert "marked_stop_running｜new-event" in other  # a kind added later still shows, by its code


def test_a_digest_lists_every_change_of_every_plant() -> None:
    alerts = [
        _alert(id=i, change=100 + i, plant=f"shop-0{i}", names={"plant": f"{i}号厂"}) for i in range(1, 6)
    ]
    m = robottext.message("dingtalk", PAYLOAD | {"plant": "*", "digest": True}, alerts)
    assert m.title == "【报警汇总】示范电镀园区：5 家企业 5 条报警变化"
    for i in range(1, 6):
        assert f"报警编号 {i}）" in m.text and f"{i}号厂（shop-0{i}）" in m.text


NAMES = st.text(min_size=0, max_size=300)
NUMBERS = st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**12), 10**12)


@settings(max_examples=300, deadline=None)
@given(
    channel=st.sampled_from(robots.CHANNELS),
    plant=NAMES,
    point=NAMES,
    value=NUMBERS,
    limit=NUMBERS,
    lower=NUMBERS,
    kind=st.sampled_from([*robottext.KIND_ZH, "x" * 300]),
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)),
)
def test_one_alert_always_renders_within_the_smallest_message_size(
    channel: str, plant: str, point: str, value: Any, limit: Any, lower: Any, kind: str, when: datetime
) -> None:
    """Settings allow a robot message size down to 1,000 bytes; one alert change must always fit, so
    a digest never has to split one (compliance/digest.py sends a single change whatever its size)."""
    alert = _alert(
        names={"plant": plant, "point": point}, value=value, limit=limit, limit_lower=lower, kind=kind[:40],
        opened_at=when.isoformat(), last_time=when.isoformat(),
    )  # fmt: skip
    text = robottext.message(channel, PAYLOAD | {"park_name": plant}, [alert], ("13800000000",)).text
    assert len(text.encode()) < 1000


# --- subscriptions in the park file, and what logs show ---------------------------------------------------


def test_park_file_names_robots_but_never_their_urls() -> None:
    config: dict[str, object] = {
        "subscriptions": [
            {"name": "duty", "dingtalk": "secret-store", "mention": [13800000000], "rate_limit": 5},
            {
                "name": "ops",
                "feishu": "secret-store",
                "plant": "shop-01",
                "min_severity": "warning",
                "sign": False,
            },
            {"name": "group", "wecom": "secret-store"},
        ]
    }
    assert receivers.check_subscriptions(config) == []
    duty, ops, group = receivers.subscriptions(config)
    assert (duty.channel, duty.mention, duty.rate_limit, duty.sign) == ("dingtalk", ("13800000000",), 5, True)
    assert (ops.channel, ops.plant, ops.min_severity, ops.sign) == ("feishu", "shop-01", "warning", False)
    assert group.robot and group.channel == "wecom" and group.min_severity == "violation"
    leaked: dict[str, object] = {
        "subscriptions": [
            {"name": "a", "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=abc"},
            {"name": "b", "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/6f1c-uuid"},
            {"name": "c", "wecom": "secret-store", "webhook": "https://example.org/hook"},
            {"name": "d", "email": "x@example.org", "min_severity": "loud"},
        ]
    }
    problems = receivers.check_subscriptions(leaked)
    assert len(problems) == 4, problems
    assert "a dingtalk robot's URL carries its token" in problems[2] + problems[3]


def test_a_robot_request_url_is_masked_in_logs() -> None:
    secret, ms, _sign = DINGTALK_KAT
    req = robots.request(
        "dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=T0Kabc", _message(), secret, ms / 1000
    )
    shown = redact(f"POST {req.url} failed")
    assert "T0Kabc" not in shown and "hmPWwU" not in shown and f"timestamp={ms}" in shown
    wecom = redact(
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    )
    assert "693a91f6" not in wecom
