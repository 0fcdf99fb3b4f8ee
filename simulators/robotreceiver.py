"""A local stand-in for a chat robot (WeCom, DingTalk or Feishu/Lark): it takes messages the way the
vendor's webhook does and checks them the way the vendor does, so Outfall's robot channels can be tried
without the vendor, by hand or in tests:

    outfall receiver test-server --kind dingtalk --secret SEC123 --token T --port 8400

It prints its webhook URL (``{"listening": URL}``) and then one JSON line per request: ``ok``, the
vendor's ``code``, the ``error`` text, and the message's ``title``, ``text`` and ``mention``.

What it checks, written from the vendors' documentation (not from Outfall's sender, so a sender that
signs wrongly is caught): the URL's key or access token; DingTalk's ``timestamp`` (ms) and ``sign`` in
the query, ``base64(HmacSHA256(key=secret, msg=ts + "\\n" + secret))``, URL-decoded, within an hour;
Feishu's ``timestamp`` (s) and ``sign`` in the body, ``base64(HmacSHA256(key=ts + "\\n" + secret,
msg=""))``, within an hour; the body's message type and fields; WeCom's size limits (markdown 4,096
bytes, text 2,048); and the rate limit (``--limit`` requests per ``--window`` seconds, default 20 a
minute), refused with the vendor's code. Answers are the vendor's: HTTP 200 with ``{"errcode": 0,
"errmsg": "ok"}`` (Feishu ``{"code": 0, "msg": "success", "data": {}}``), errors with a code ≠ 0.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

import orjson

KINDS = ("wecom", "dingtalk", "feishu")
BODY_MAX = 1 << 20
# The vendors' error codes for what this receiver refuses.
RATE_LIMITED = {"wecom": 45009, "dingtalk": 130101, "feishu": 11232}
BAD_TOKEN = {"wecom": 93000, "dingtalk": 300001, "feishu": 19001}
BAD_SIGN = {"dingtalk": 310000, "feishu": 19021}
BAD_BODY = {"wecom": 40008, "dingtalk": 40035, "feishu": 9499}
TOO_LONG = 40058  # WeCom: content over its size


class Refused(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code


@dataclass
class Robot:
    kind: str
    token: str
    secret: str | None
    limit: int = 20
    window_s: float = 60.0
    out: TextIO = sys.stdout
    clock: Callable[[], float] = time.time
    _requests: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def path(self) -> str:
        if self.kind == "wecom":
            return f"/cgi-bin/webhook/send?key={self.token}"
        if self.kind == "dingtalk":
            return f"/robot/send?access_token={self.token}"
        return f"/open-apis/bot/v2/hook/{self.token}"

    def handle(self, path: str, body: bytes, delivery: str | None = None) -> dict[str, Any]:
        """Judge one request as the vendor would; log it (with the sender's X-Outfall-Delivery, which
        the vendors ignore); the vendor's answer."""
        record: dict[str, Any] = {
            "at": datetime.now(UTC).isoformat(),
            "kind": self.kind,
            "delivery": delivery,
        }
        try:
            self._rate()
            doc = self._parse(body)
            self._authenticate(path, doc)
            record |= self._message(doc)
            record |= {"ok": True, "code": 0, "error": None}
        except Refused as exc:
            record |= {"ok": False, "code": exc.code, "error": str(exc)}
        with self._lock:
            self.out.write(orjson.dumps(record).decode() + "\n")
            self.out.flush()
        return self._answer(record["code"], record["error"])

    def _answer(self, code: int, error: str | None) -> dict[str, Any]:
        if self.kind == "feishu":
            return {"code": code, "msg": error or "success", "data": {}}
        return {"errcode": code, "errmsg": error or "ok"}

    def _rate(self) -> None:
        """Every request counts, refused ones too, as with the vendors."""
        now = self.clock()
        with self._lock:
            while self._requests and self._requests[0] <= now - self.window_s:
                self._requests.popleft()
            self._requests.append(now)
            if len(self._requests) > self.limit:
                raise Refused(RATE_LIMITED[self.kind], f"send too fast, exceed {self.limit} times per window")

    def _parse(self, body: bytes) -> dict[str, Any]:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise Refused(BAD_BODY[self.kind], "body is not JSON") from None
        if not isinstance(doc, dict):
            raise Refused(BAD_BODY[self.kind], "body is not a JSON object")
        return doc

    def _authenticate(self, path: str, doc: dict[str, Any]) -> None:
        parts = urlsplit(path)
        query = parse_qs(parts.query)  # decodes %XX and '+' as the vendors' servers do
        if self.kind == "feishu":
            if parts.path != f"/open-apis/bot/v2/hook/{self.token}":
                raise Refused(BAD_TOKEN["feishu"], "incoming webhook access token invalid")
            if self.secret is not None:
                self._check(str(doc.get("timestamp", "")), str(doc.get("sign", "")), seconds=1)
            return
        key = "key" if self.kind == "wecom" else "access_token"
        if query.get(key) != [self.token]:
            raise Refused(
                BAD_TOKEN[self.kind], "invalid webhook url" if self.kind == "wecom" else "token is not exist"
            )
        if self.kind == "dingtalk" and self.secret is not None:
            self._check(_one(query, "timestamp"), _one(query, "sign"), seconds=1000)

    def _check(self, timestamp: str, sign: str, seconds: int) -> None:
        """The signature over ``timestamp`` (in 1/``seconds`` s units), within an hour of now."""
        assert self.secret is not None
        code = BAD_SIGN[self.kind]
        if not timestamp.isdigit() or abs(int(timestamp) / seconds - self.clock()) > 3600:
            raise Refused(code, "sign match fail or timestamp is not within one hour from current time")
        string_to_sign = f"{timestamp}\n{self.secret}".encode()
        if self.kind == "dingtalk":  # key = secret, message = the string
            mac = hmac.new(self.secret.encode(), string_to_sign, hashlib.sha256)
        else:  # Feishu: key = the string, message empty
            mac = hmac.new(string_to_sign, b"", hashlib.sha256)
        if not hmac.compare_digest(base64.b64encode(mac.digest()).decode(), sign):
            raise Refused(code, "sign not match")

    def _message(self, doc: dict[str, Any]) -> dict[str, Any]:
        bad = BAD_BODY[self.kind]
        kind = doc.get("msg_type" if self.kind == "feishu" else "msgtype")
        if self.kind == "feishu":
            if kind != "text" or not isinstance(doc.get("content"), dict):
                raise Refused(bad, f"Bad Request: msg_type {kind!r} is not handled here")
            return {"title": None, "text": str(doc["content"].get("text", "")), "mention": []}
        inner = doc.get(str(kind))
        if kind not in ("text", "markdown") or not isinstance(inner, dict):
            raise Refused(bad, f"msgtype {kind!r} with no {kind!r} object")
        text = inner.get("text" if self.kind == "dingtalk" and kind == "markdown" else "content")
        if not isinstance(text, str) or not text:
            raise Refused(bad, "empty content")
        if self.kind == "wecom":
            cap = 4096 if kind == "markdown" else 2048
            if len(text.encode()) > cap:
                raise Refused(TOO_LONG, f"content size out of limit: {len(text.encode())} > {cap} bytes")
            mention = inner.get("mentioned_mobile_list") or []
        else:
            at = doc.get("at")
            mention = at.get("atMobiles", []) if isinstance(at, dict) else []
        return {"title": inner.get("title"), "text": text, "mention": mention}


def _one(query: dict[str, list[str]], key: str) -> str:
    values = query.get(key) or [""]
    return values[0]


def server(robot: Robot, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > BODY_MAX:
                self.send_error(413)
                return
            delivery = self.headers.get("X-Outfall-Delivery")
            answer = orjson.dumps(robot.handle(self.path, self.rfile.read(length), delivery))
            self.send_response(200)  # the vendors answer errors with 200 too
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: object) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


def serve(robot: Robot, host: str, port: int) -> int:
    """Run until interrupted; first prints the robot's webhook URL."""
    httpd = server(robot, host, port)
    url = f"http://{host}:{httpd.server_port}{robot.path()}"
    robot.out.write(orjson.dumps({"listening": url}).decode() + "\n")
    robot.out.flush()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0
