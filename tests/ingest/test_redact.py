"""Credentials out of log lines: the masking itself, and the record factory every process installs."""

from __future__ import annotations

import io
import logging

import pytest

from ingest.core import logs
from ingest.core.redact import redact


@pytest.mark.parametrize(
    ("text", "secret", "shown"),
    [
        (
            "delivery 5 to https://oapi.dingtalk.com/robot/send?access_token=abc123XYZ&timestamp=1&sign=Zm9v%2B",
            "abc123XYZ",
            "send?access_token=***&timestamp=1&sign=***",
        ),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aa1", "693a91f6", "send?key=***"),
        ("POST http://alice:s3cret@hooks.example.com/x failed", "s3cret", "http://***@hooks.example.com/x"),
        (
            "https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c3d-4e5f-6789-abcd-ef0123456789 refused",
            "0a1b2c3d-4e5f",
            "/bot/v2/hook/*** refused",
        ),
        ("QN=1;ST=32;CN=2011;PW=123456;MN=010000A8900016F000169D01;Flag=5", "123456", "PW=***;MN=010000A89"),
        ("Authorization: Bearer abc.def.ghi", "abc.def", "Bearer ***"),
        ("token ofl_0123456789abcdefghij leaked", "0123456789abcdef", "ofl_*** leaked"),
        ("api_key=XYZ123 secret=hush password=pw1", "XYZ123", "api_key=*** secret=*** password=***"),
    ],
)
def test_credentials_are_masked(text: str, secret: str, shown: str) -> None:
    masked = redact(text)
    assert secret not in masked and shown in masked


@pytest.mark.parametrize(
    "text",
    [
        "job offline_sweep: 119 points, 2 went offline",
        "GET /api/v1/parks/e2e-abc123def456ghi789/plants monkey=1 keyboard=2",
        "delivery 3 to duty-officer@example.org failed (attempt 1)",
        "MN=010000A8900016F000169D01 CN=2011",
    ],
)
def test_ordinary_lines_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_every_record_is_masked_whatever_its_logger_handler_and_traceback() -> None:
    original = logging.getLogRecordFactory()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    log = logging.getLogger("tests.redact.child")  # a child logger: a root filter would miss it
    log.addHandler(handler)
    log.propagate = False
    try:
        logs.mask_secrets()
        logs.mask_secrets()  # idempotent
        log.warning("delivery %d to %s failed", 7, "https://h.example/send?access_token=T0PSECRET")
        try:
            raise ConnectionError("POST https://h.example/send?key=ALSOSECRET refused")
        except ConnectionError:
            log.exception("send failed")
        log.warning("bad format %d", "not a number")  # logging's own error path still works
    finally:
        logging.setLogRecordFactory(original)
        log.removeHandler(handler)
    text = out.getvalue()
    assert "T0PSECRET" not in text and "ALSOSECRET" not in text
    assert "access_token=***" in text and "key=***" in text and "ConnectionError" in text
