"""Chat robots' wire formats: the request each vendor's group robot takes, its signature, and what its
answer means. Pure: no I/O (compliance/robotdelivery.py sends).

What the vendors document (checked 2026 against their docs and ../shared/reference/workflows.md §"Chat
robots", confidence high):

- **WeCom group robot** (企业微信群机器人, developer.work.weixin.qq.com/document/path/91770):
  ``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`` with
  ``{"msgtype": "markdown", "markdown": {"content": ...}}`` (content ≤ 4,096 bytes) or ``{"msgtype":
  "text", "text": {"content": ..., "mentioned_mobile_list": [...]}}`` (≤ 2,048 bytes; markdown cannot
  mention by mobile). No signature: the key in the URL is the credential. At most 20 messages a minute
  per robot. Answers ``{"errcode": 0, "errmsg": "ok"}``; 45009 is its rate limit.
- **DingTalk custom robot** (钉钉自定义机器人, open.dingtalk.com/document/group/custom-robot-access):
  ``POST https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=MS&sign=S`` with
  ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}, "at": {"atMobiles": [...],
  "isAtAll": false}}``; "加签": ``S = urlencode(base64(HmacSHA256(key=secret, msg=MS + "\\n" +
  secret)))``, MS in milliseconds and within an hour of DingTalk's clock. At most 20 messages a minute
  ("each robot sends at most 20 a minute; for system alarms, merge them and send a markdown digest"),
  over that the robot is throttled for 10 minutes. Answers HTTP 200 with ``{"errcode": 0, "errmsg":
  "ok"}``; an error is also HTTP 200, with errcode ≠ 0 (130101 "send too fast", 310000 "sign not
  match" or keywords not matched).
- **Feishu / Lark custom bot** (飞书自定义机器人, open.feishu.cn/document/client-docs/bot-v3/add-custom-bot;
  Lark: open.larksuite.com, same format): ``POST https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN``
  with ``{"timestamp": "S", "sign": ..., "msg_type": "text", "content": {"text": ...}}``;
  ``sign = base64(HmacSHA256(key=S + "\\n" + secret, msg=""))``: the string to sign is the *key* and the
  message is empty, the reverse of DingTalk (a known trap: e.g. github.com/THEWOLFWALKER/dsh-notifier
  issue 8); S in seconds, within an hour. 100 requests a minute and 5 a second per bot; body ≤ 20 KB.
  Answers ``{"code": 0, "msg": "success", "data": {}}`` (older bots: ``{"StatusCode": 0, ...}``);
  19021 is a bad signature or a stale timestamp, 11232 its rate limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import orjson

WECOM = "wecom"
DINGTALK = "dingtalk"
FEISHU = "feishu"
CHANNELS = (WECOM, DINGTALK, FEISHU)
SIGNED = frozenset({DINGTALK, FEISHU})  # WeCom has no signature: its key is in the URL


class RobotRefused(RuntimeError):
    """The robot answered, and refused the message (an error code in an HTTP 200 answer, or an HTTP
    error): the delivery failed and is retried."""


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签, before URL encoding: base64(HMAC-SHA256(key=secret, msg=f"{ms}\\n{secret}"))."""
    msg = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu 签名校验: base64(HMAC-SHA256(key=f"{s}\\n{secret}", msg=b"")); the key is the string."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Message:
    """What to say, in the channel's flavour of text (markdown for WeCom and DingTalk, plain text for
    Feishu), with the mobiles to mention (DingTalk atMobiles, WeCom mentioned_mobile_list)."""

    title: str
    text: str
    mention: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes


def body(channel: str, message: Message, secret: str | None, now_s: float) -> bytes:
    """The JSON body for ``channel``. Feishu's signature travels in the body; DingTalk's in the URL
    (see ``request``)."""
    if channel == WECOM:
        if message.mention:  # markdown cannot mention by mobile: a text message can
            plain = {"content": message.text, "mentioned_mobile_list": list(message.mention)}
            return orjson.dumps({"msgtype": "text", "text": plain})
        return orjson.dumps({"msgtype": "markdown", "markdown": {"content": message.text}})
    if channel == DINGTALK:
        text = message.text + "".join(f" @{m}" for m in message.mention)  # shown as mentions
        return orjson.dumps(
            {
                "msgtype": "markdown",
                "markdown": {"title": message.title, "text": text},
                "at": {"atMobiles": list(message.mention), "isAtAll": False},
            }
        )
    if channel == FEISHU:
        out: dict[str, object] = {}
        if secret is not None:
            ts = int(now_s)
            out = {"timestamp": str(ts), "sign": feishu_sign(secret, ts)}
        out |= {"msg_type": "text", "content": {"text": message.text}}
        return orjson.dumps(out)
    raise ValueError(f"unknown robot channel {channel!r}")


def request(channel: str, url: str, message: Message, secret: str | None, now_s: float) -> Request:
    """The whole request: URL (DingTalk's carries timestamp and sign) and body."""
    if channel == DINGTALK and secret is not None:
        ms = int(now_s * 1000)
        url = with_query(url, {"timestamp": str(ms), "sign": dingtalk_sign(secret, ms)})
    return Request(url, body(channel, message, secret, now_s))


def with_query(url: str, extra: dict[str, str]) -> str:
    """``url`` with ``extra`` set in its query (values URL-encoded: base64's + / = must be escaped)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in extra]
    query += list(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def check_answer(channel: str, status: int, answer: bytes) -> None:
    """Raise RobotRefused unless the robot accepted the message. The vendors answer errors with HTTP 200
    and an error code in the body, so a 200 alone is not a delivery."""
    if status >= 300:
        raise RobotRefused(f"HTTP {status}")
    try:
        doc = orjson.loads(answer)
    except orjson.JSONDecodeError:
        raise RobotRefused(f"HTTP {status} with an answer that is not JSON") from None
    if not isinstance(doc, dict):
        raise RobotRefused("an answer that is not a JSON object")
    if channel == FEISHU:
        code = doc.get("code", doc.get("StatusCode"))
        text = doc.get("msg", doc.get("StatusMessage"))
    else:
        code, text = doc.get("errcode"), doc.get("errmsg")
    if code != 0:
        raise RobotRefused(f"{channel} error {code}: {text}")


def mobiles(value: object) -> tuple[str, ...]:
    """A subscription's ``mention`` list: mobile numbers as strings (YAML may read them as ints)."""
    if isinstance(value, str | int):
        value = [value]
    if not isinstance(value, Sequence) or isinstance(value, str):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str | int))
