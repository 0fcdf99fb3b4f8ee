"""The request guard: an ASGI middleware in front of every route, so what it refuses costs no parsing and
no memory.

- A body larger than ``max_body_bytes`` is refused with 413: at once when Content-Length says so, and
  while it streams in (chunked bodies carry no length) as soon as the count passes the limit.
- A request that carries a body but no valid token is refused with 401 before one byte of it is read.
- At most ``max_requests`` requests run at once (event streams have their own ``max_streams``); the
  rest wait up to ``queue_wait_s`` for a slot, then get 503 with Retry-After. A flood queues or is
  turned away; it never turns into memory.
- Every answer carries the browser hardening headers (a strict Content-Security-Policy, no framing,
  nosniff, no referrer).
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from fastapi import HTTPException
from psycopg_pool import PoolTimeout
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import lookup
from api.settings import ApiSettings

log = logging.getLogger(__name__)
STREAM_PATH = "/api/v1/events"

# No inline script or style anywhere (the dashboard, the report and /docs load theirs from files);
# images may be inline SVG data (the docs' icons); nothing may frame our pages.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " font-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class BodyTooLarge(HTTPException):
    """Raised from the body stream once it passes the limit; FastAPI answers it like any HTTPException."""

    def __init__(self, limit: int) -> None:
        detail = f"the request body is larger than {limit} bytes, the most this API accepts"
        super().__init__(413, detail, {"Connection": "close"})


class _Gate:
    """A counted slot with a bounded wait."""

    def __init__(self, size: int, wait_s: float) -> None:
        self._free = asyncio.Semaphore(size)
        self._wait_s = wait_s

    async def enter(self) -> bool:
        try:
            async with asyncio.timeout(self._wait_s):
                await self._free.acquire()
        except TimeoutError:
            return False
        return True

    def leave(self) -> None:
        self._free.release()


class Guard:
    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self._requests = _Gate(settings.max_requests, settings.queue_wait_s)
        self._streams = _Gate(settings.max_streams, 0.0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _Body(scope)
        send = _hardened(send, body)
        refusal = self._too_large(scope, body)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        # The token check costs a database query (for unknown tokens): it waits for a slot like the rest.
        gate = self._streams if scope["path"] == STREAM_PATH else self._requests
        if not await gate.enter():
            log.warning("busy: refused %s %s from %s", scope["method"], scope["path"], _client(scope))
            await _problem(503, "the API is busy; retry shortly", {"Retry-After": "2"})(scope, receive, send)
            return
        try:
            refusal = await self._unauthorised(scope, body)
            app = refusal or self.app
            await app(scope, self._counted(scope, receive, body), send)
        finally:
            gate.leave()

    def _too_large(self, scope: Scope, body: _Body) -> JSONResponse | None:
        """The answer to a body refused on its declared length, or None."""
        if body.declared is None:
            return _problem(400, "Content-Length is not a number")
        declared = body.declared
        if declared > self.max_body:
            log.warning(
                "refused a %d-byte body to %s from %s (limit %d)",
                declared,
                scope["path"],
                _client(scope),
                self.max_body,
            )
            return _problem(
                413, f"the request body is {declared} bytes; this API accepts at most {self.max_body}"
            )
        return None

    async def _unauthorised(self, scope: Scope, body: _Body) -> JSONResponse | None:
        """401 for a request that carries a body without a valid token (its body stays unread), or None."""
        if not body.expected:
            return None
        try:
            authorised = await self._authorised(scope, body.headers)
        except (PoolTimeout, psycopg.OperationalError):
            # The token cannot be checked now; its body stays unread and the client may retry.
            log.warning("refused a body to %s from %s: no token check", scope["path"], _client(scope))
            return _problem(503, "the API cannot check tokens right now; retry shortly", {"Retry-After": "2"})
        if not authorised:
            log.warning("refused a body without a valid token to %s from %s", scope["path"], _client(scope))
            return _problem(
                401,
                "a request with a body needs a valid Authorization: Bearer token",
                {"WWW-Authenticate": "Bearer"},
            )
        return None

    async def _authorised(self, scope: Scope, headers: Headers) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        return await lookup(scope["app"], token.strip()) is not None

    def _counted(self, scope: Scope, receive: Receive, body: _Body) -> Receive:
        """``receive`` that counts body bytes and stops the body once it passes the limit."""
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body.complete = not message.get("more_body", False)
                if seen > self.max_body:
                    log.warning(
                        "cut a streamed body to %s from %s past %d bytes",
                        scope["path"],
                        _client(scope),
                        self.max_body,
                    )
                    raise BodyTooLarge(self.max_body)
            return message

        return counted


class _Body:
    """What the headers say of a request's body, and whether the app has read all of it."""

    def __init__(self, scope: Scope) -> None:
        self.headers = Headers(scope=scope)
        length = self.headers.get("content-length", "0").strip()
        self.declared = int(length) if length.isdigit() else None  # None: not a number
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self.expected = chunked or bool(self.declared)
        self.complete = not self.expected


def _hardened(send: Send, body: _Body) -> Send:
    async def hardened(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                headers.setdefault(name, value)
            if not body.complete:
                # The route answered without reading the whole body: close rather than read the
                # rest (which may be endless) only to throw it away.
                headers["Connection"] = "close"
        await send(message)

    return hardened


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    # Connection: close, so a client still sending a refused body is not read any further.
    return JSONResponse(
        {"detail": detail}, status_code=status, headers={**(headers or {}), "Connection": "close"}
    )


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "unknown"
