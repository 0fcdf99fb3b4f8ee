"""Secrets out of text: what a log line or an API answer may show of a URL or a credential.

Receivers' webhook URLs carry their credentials in the URL (``?access_token=``, ``?key=``, ``&sign=``,
``user:password@``, or a long random path segment as in ``/hook/<id>``), and HJ 212 frames carry
``PW=``. ``redact`` masks each of them wherever it appears in a text; the logging set-up applies it to
every line (ingest/core/logs.py) and the API to the receiver URLs it shows admins.
"""

from __future__ import annotations

import re

MASK = "***"

# name=value where the name says it is a credential; the value runs to the next separator.
_PARAM = re.compile(
    r"(?i)(?<![A-Za-z0-9_])((?:access_|api_|auth_|app_|client_)?(?:token|key|secret)|apikey|sign(?:ature)?"
    r"|sig|password|passwd|pwd?|hmac)=([^&;,\s#\"'<>]+)"
)
# user:password@ (or a bare token@) in a URL
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s\"'<>]+@")
# a path segment of 16+ characters mixing letters and digits in a URL: a token in the path
_PATH_TOKEN = re.compile(
    r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s\"'<>]+(?:/[^/\s?#\"'<>]*)*?/)"
    r"(?=[A-Za-z0-9_-]{0,200}\d)(?=[A-Za-z0-9_-]{0,200}[A-Za-z])[A-Za-z0-9_-]{16,}"
)
# our own API tokens and bearer credentials
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
_API_TOKEN = re.compile(r"\bofl_[A-Za-z0-9_-]{8,}")


def redact(text: str) -> str:
    """``text`` with every credential we know the shape of replaced by ``***``."""
    if "=" in text:
        text = _PARAM.sub(rf"\1={MASK}", text)
    if "://" in text:
        text = _USERINFO.sub(rf"\1{MASK}@", text)
        text = _PATH_TOKEN.sub(rf"\1{MASK}", text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    return _API_TOKEN.sub(f"ofl_{MASK}", text)
