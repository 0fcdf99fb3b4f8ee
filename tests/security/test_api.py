"""Attacks on the running API (the `api` process of the process table, started by the end-to-end
harness), made from the loopback interface the way an attacker on the host or the LAN would:

- 256 MB bodies, with Content-Length and streamed (chunked), with and without a token, are refused
  before they are read, and the API's memory (its RSS, from /proc) stays flat meanwhile;
- a plant-scoped operator reads the park config and finds no other plant and no secret; officers see
  no receivers; admins see receivers without their credentials;
- a webhook token in a receiver URL never reaches a log line of any process;
- an open event stream ends within seconds of its token's revocation, and of its expiry;
- every answer carries the browser hardening headers, and no page has inline script or style.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from api.deps import TOKEN_CACHE_S
from tests.e2e.harness import System

MB = 1024 * 1024
BIG = 256 * MB
PIECE = 256 * 1024
SECRET = "Sup3rS3cretWebhookToken42"
HOOK = "http://127.0.0.1:9/open-apis/bot/v2/hook/" + SECRET  # nothing listens on port 9
PARK = """
id: {id}
name: Scoped park
industry: electroplating
standard: GB21900-2008-T2
config:
  reuse_target: 0.5
  permits:
    - {{plant: shop-01, point: total, parameter: cod, upper: 70, ref: PERMIT-ONE}}
    - {{plant: shop-02, point: total, parameter: cod, upper: 60, ref: PERMIT-TWO}}
  maintenance:
    - {{plant: shop-02, from: "@FROM@", to: "@TO@", reason: SHOP-TWO-WORK}}
  subscriptions:
    - {{name: officers, webhook: "@HOOK@", min_severity: warning}}
    - {{name: mail, email: duty-officer@example.org, min_severity: violation}}
plants:
  - id: shop-01
    name: Shop one
    points:
      - {{id: total, kind: total_outlet, interval_s: 60, parameters: {{cod: mg/L, ph: pH}}}}
  - id: shop-02
    name: Shop two
    points:
      - {{id: total, kind: total_outlet, interval_s: 60, parameters: {{cod: mg/L, ph: pH}}}}
"""


def scoped_park_file() -> str:
    """PARK with its receiver URL and a maintenance window of shop-02 in the next hours (compliance
    bounds how far back and how long a declared window may be)."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    window = {"@FROM@": start.isoformat(), "@TO@": (start + timedelta(hours=1)).isoformat()}
    return re.sub("@[A-Z]+@", lambda m: {"@HOOK@": HOOK, **window}[m[0]], PARK)


def new_token(system: System, *args: str) -> tuple[int, str]:
    out = system.outfall("token", "create", *args)
    head, token = out.split(": ", 1)[0], out.split(": ", 1)[1].split()[0]
    return int(head.split()[1]), token


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) / 1024  # type: ignore[index]


# --- request bodies -----------------------------------------------------------------------------
@dataclass
class Pushed:
    """What came of pushing a body at the API: its answer, how much was sent, the API's peak RSS."""

    status: int = 0
    answer: bytes = b""
    sent: int = 0
    peak_rss_mb: float = 0.0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def push_body(
    system: System, token: str | None, total: int, chunked: bool, path: str = "/api/v1/alerts/1/ack"
) -> Pushed:
    """POST a ``total``-byte body to ``path`` (by default an alert's ack endpoint, which reads it) over a
    raw socket (httpx would not read the answer before it had sent everything), reading the answer
    while the body is still being sent and sampling the API's RSS all the while."""
    pid, out = system.procs["api"].pid, Pushed()
    sock = socket.create_connection(("127.0.0.1", system.api_port), timeout=30)
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{system.api_port}",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}",
        *([f"Authorization: Bearer {token}"] if token else []),
    ]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    started = time.monotonic()
    sender = threading.Thread(target=_send, args=(sock, total, chunked, out), daemon=True)
    reader = threading.Thread(target=_read, args=(sock, out), daemon=True)
    sender.start()
    reader.start()
    out.peak_rss_mb = rss_mb(pid)
    while (sender.is_alive() or reader.is_alive()) and time.monotonic() - started < 60:
        out.peak_rss_mb = max(out.peak_rss_mb, rss_mb(pid))
        time.sleep(0.02)
    out.seconds = time.monotonic() - started
    sock.close()
    if out.answer.startswith(b"HTTP/1.1 "):
        out.status = int(out.answer[9:12])
    return out


def _send(sock: socket.socket, total: int, chunked: bool, out: Pushed) -> None:
    piece = b"x" * PIECE
    frame = f"{PIECE:x}\r\n".encode() + piece + b"\r\n" if chunked else piece
    try:
        while out.sent < total:
            sock.sendall(frame)
            out.sent += PIECE
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError as exc:  # the API closed the connection: what we want
        out.errors.append(f"send: {exc}")


def _read(sock: socket.socket, out: Pushed) -> None:
    try:
        while chunk := sock.recv(65536):
            out.answer += chunk
            if b"\r\n\r\n" in out.answer and out.answer.rstrip().endswith(b"}"):
                return
    except OSError as exc:
        out.errors.append(f"recv: {exc}")


@pytest.mark.timeout(300)
def test_huge_bodies_are_refused_before_they_are_read_and_memory_stays_flat(system: System) -> None:
    _id, admin = new_token(system, "--role", "admin")
    baseline = rss_mb(system.procs["api"].pid)
    ack, me = "/api/v1/alerts/1/ack", "/api/v1/me"  # one reads its body; one answers 405 unread
    cases = {
        "content-length, token": (admin, False, ack, 413),
        "chunked, token": (admin, True, ack, 413),
        "chunked, no token": (None, True, ack, 401),
        "content-length, no token": (None, False, ack, 413),
        "content-length, bad token": ("ofl_" + "A" * 43, False, ack, 413),
        "chunked, bad token": ("ofl_" + "A" * 43, True, ack, 401),
        "chunked, token, a route that reads no body": (admin, True, me, 405),
    }
    for name, (token, chunked, path, status) in cases.items():
        pushed = push_body(system, token, BIG, chunked, path)
        print(
            f"{name}: {pushed.status} after {pushed.sent / MB:.1f} MB sent in {pushed.seconds:.2f} s;"
            f" API RSS {baseline:.0f} MB before, peak {pushed.peak_rss_mb:.0f} MB"
        )
        assert pushed.status == status, (name, pushed)
        assert b'"detail"' in pushed.answer, pushed.answer  # a JSON answer that says what is wrong
        assert pushed.sent < 64 * MB, f"{name}: the API read {pushed.sent / MB:.0f} MB before refusing"
        assert pushed.peak_rss_mb < baseline + 40, f"{name}: API RSS grew to {pushed.peak_rss_mb:.0f} MB"
    assert "refused a" in system.log_text("api")  # each refusal leaves a trace
    # the same endpoint still takes a small body with a token (404: no such alert, after parsing)
    answer = httpx.post(
        system.api_url + "/api/v1/alerts/999999999/ack",
        json={"note": "n"},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    assert answer.status_code == 404, answer.text


def test_a_small_body_without_a_valid_token_is_refused_unread(system: System) -> None:
    for headers in ({}, {"Authorization": "Bearer ofl_nope"}, {"Authorization": "Basic YTpi"}):
        answer = httpx.post(
            system.api_url + "/api/v1/alerts/1/ack", content=b'{"note": "x"}', headers=headers, timeout=10
        )
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == "Bearer"


# --- what tokens see of the config, and what the logs show ----------------------------------------
@pytest.fixture(scope="module")
def scoped_park(system: System) -> str:
    return system.load_park(scoped_park_file())


def test_an_operator_sees_its_own_plant_and_no_secret_in_the_park_config(
    system: System, scoped_park: str
) -> None:
    park = scoped_park
    _id, operator = new_token(system, "--role", "operator", "--park", park, "--plant", "shop-01")
    _id, officer = new_token(system, "--role", "officer", "--park", park)
    _id, admin = new_token(system, "--role", "admin")

    def config(token: str) -> tuple[dict[str, object], str]:
        for path in (f"/api/v1/parks/{park}", "/api/v1/parks"):
            answer = httpx.get(
                system.api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert answer.status_code == 200, answer.text
            assert SECRET not in answer.text
        body = answer.json()
        (mine,) = [p for p in body if p["id"] == park]
        return mine["config"], answer.text

    seen, text = config(operator)
    assert "PERMIT-ONE" in text and "PERMIT-TWO" not in text and "SHOP-TWO-WORK" not in text
    assert "subscriptions" not in seen and "127.0.0.1:9" not in text and "duty-officer" not in text
    assert seen["reuse_target"] == 0.5
    seen, text = config(officer)
    assert "PERMIT-TWO" in text and "SHOP-TWO-WORK" in text  # the whole park, but no receivers
    assert "subscriptions" not in seen and "duty-officer" not in text
    seen, text = config(admin)
    receivers = {r["name"]: r for r in seen["subscriptions"]}  # type: ignore[attr-defined]
    assert receivers["officers"]["webhook"] == "http://127.0.0.1:9/open-apis/bot/v2/hook/***"
    assert receivers["mail"]["email"] == "duty-officer@example.org"


@pytest.mark.timeout(120)
def test_a_webhook_token_never_reaches_a_log_line(system: System, scoped_park: str) -> None:
    """A breach at shop-01 is notified to the receiver at 127.0.0.1:9 (nothing listens): compliance
    logs the failed delivery with the receiver's URL, its token masked. The token is in the URL's path,
    as chat-bot webhooks (Feishu, Slack) carry it: no query string, no userinfo, still a secret."""
    now = datetime.now(UTC).replace(microsecond=0)
    system.publish(scoped_park, "shop-01", "total", now - timedelta(seconds=1), {"cod": 150.0})
    system.wait_for(
        lambda: any("127.0.0.1:9/open-apis" in system.log_text(n) for n in system.procs),
        timeout=60,
        message="a log line about the failed delivery to 127.0.0.1:9",
    )
    for name in system.procs:
        text = system.log_text(name)
        assert SECRET not in text, f"{name}.log shows the webhook token"
    lines = [
        ln for n in system.procs for ln in system.log_text(n).splitlines() if "127.0.0.1:9/open-apis" in ln
    ]
    assert all("/bot/v2/hook/***" in ln for ln in lines), lines


# --- the event stream and the token's life ---------------------------------------------------------
def open_stream(system: System, token: str) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(timeout=httpx.Timeout(10, read=30))
    request = client.build_request(
        "GET", system.api_url + "/api/v1/events", headers={"Authorization": f"Bearer {token}"}
    )
    response = client.send(request, stream=True)
    assert response.status_code == 200, response.read()
    return client, response


def refused_soon(system: System, token: str) -> dict[str, str]:
    """The token is refused everywhere within the API's token cache time (api/deps.py)."""

    def refused() -> dict[str, str] | None:
        headers = {"Authorization": f"Bearer {token}"}
        answer = httpx.get(system.api_url + "/api/v1/me", headers=headers, timeout=10)
        return answer.json() if answer.status_code == 401 else None  # type: ignore[no-any-return]

    return system.wait_for(refused, timeout=TOKEN_CACHE_S + 2, message="the token refused")


@pytest.mark.timeout(120)
def test_an_open_stream_ends_within_seconds_of_its_tokens_revocation(system: System) -> None:
    token_id, token = new_token(system, "--role", "officer")
    client, response = open_stream(system, token)
    lines = response.iter_lines()
    for line in lines:  # up to the ready event: the stream is open
        if line == "event: ready":
            break
    system.outfall("token", "revoke", str(token_id))
    revoked = time.monotonic()
    rest = list(lines)
    took = time.monotonic() - revoked
    client.close()
    print(f"the stream ended {took:.1f} s after the revocation")
    assert "event: end" in rest, rest
    assert took < 5, f"the stream outlived its token's revocation by {took:.1f} s"
    refused_soon(system, token)


@pytest.mark.timeout(120)
def test_an_open_stream_ends_when_its_token_expires_and_the_token_is_refused(system: System) -> None:
    before = time.monotonic()
    _id, token = new_token(system, "--role", "officer", "--expires-in", "6s")
    after = time.monotonic()
    client, response = open_stream(system, token)
    rest = list(response.iter_lines())
    ended = time.monotonic()
    client.close()
    print(f"the stream ended {ended - (after + 6):.1f} s after the token expired")
    assert "event: end" in rest, rest
    assert ended >= before + 6 - 0.5, "the stream ended before the token expired"
    assert ended - (after + 6) < 3, f"the stream outlived its token by {ended - (after + 6):.1f} s"
    assert "expired" in refused_soon(system, token)["detail"]


# --- browser hardening ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/docs", "/static/app.js", "/api/v1/me", "/healthz", "/openapi.json"])
def test_every_answer_carries_the_hardening_headers(system: System, path: str) -> None:
    answer = httpx.get(system.api_url + path, headers={"Authorization": f"Bearer {system.token}"}, timeout=10)
    assert answer.status_code in (200, 503), answer.text
    csp = answer.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["default-src"] == ["'none'"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_pages_have_no_inline_script_or_style(system: System, path: str) -> None:
    page = httpx.get(system.api_url + path, timeout=10).text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline <script>"
    assert "<style" not in page and not re.search(r"\sstyle=", page), "an inline style"
    assert not re.search(r"\son[a-z]+=", page), "an inline event handler"
    for src in re.findall(r"""(?:src|href)=["']([^"']+)""", page):
        assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", src), f"{path} loads {src} from another origin"
