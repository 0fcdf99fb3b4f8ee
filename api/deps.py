"""FastAPI dependencies shared by the route modules: the caller, connections, writes, error answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from api import repo
from api.auth import Principal, token_hash
from api.models import Problem
from compliance.settings import RuleSettings

T = TypeVar("T")
ID_PATTERN = r"^[a-z0-9-]{1,64}$"
Id = Annotated[str, Path(pattern=ID_PATTERN, description="[a-z0-9-]{1,64}")]

_bearer = HTTPBearer(auto_error=False, description="`outfall token create` prints a token once")
# A revoked token stops working within this many seconds on every API replica.
TOKEN_CACHE_S = 5.0

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no token, or an unknown, revoked or expired token"},
    404: {"model": Problem, "description": "not found, or outside the caller's scope"},
    422: {"model": Problem, "description": "a parameter or body that needs fixing"},
}
FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "the caller's role may not do this"}
}


def pool(request: Request) -> AsyncConnectionPool:
    found: AsyncConnectionPool = request.app.state.pool
    return found


def rule_settings(request: Request) -> RuleSettings:
    """The compliance engine's rule settings, built once in the app's lifespan."""
    found: RuleSettings = request.app.state.rules
    return found


async def principal(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise HTTPException(
            401, "send Authorization: Bearer <token> (create one with `outfall token create`)", _challenge()
        )
    found = await lookup(request.app, creds.credentials)
    if found is None:
        raise HTTPException(401, "unknown, revoked or expired token", _challenge())
    return found


async def lookup(app: FastAPI, token: str) -> Principal | None:
    """The live token's principal, or None. Answers are cached for TOKEN_CACHE_S (a revoked token stops
    within that time); an expiry is checked on every call, cached or not."""
    digest = token_hash(token)
    cache: dict[bytes, tuple[float, Principal | None]] = app.state.token_cache
    now = time.monotonic()
    hit = cache.get(digest)
    if hit is None or hit[0] < now:
        async with app.state.pool.connection() as conn:
            row = await repo.token_by_hash(conn, digest)
        found = (
            Principal(row.id, row.name, row.role, row.park, row.plant, row.expires_at)  # type: ignore[arg-type]
            if row
            else None
        )
        if len(cache) > 10_000:
            cache.clear()  # bounded: guessed tokens must not grow memory
        cache[digest] = hit = (now + TOKEN_CACHE_S, found)
    if hit[1] is None or hit[1].expired(datetime.now(UTC)):
        return None
    return hit[1]


def forget_token(app: FastAPI, token_id: int) -> None:
    """Drop a token found revoked or expired from this process's cache, so it is refused at once here
    (other replicas within TOKEN_CACHE_S)."""
    cache: dict[bytes, tuple[float, Principal | None]] = app.state.token_cache
    for digest in [d for d, (_t, p) in cache.items() if p is not None and p.token_id == token_id]:
        cache.pop(digest, None)


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": "Bearer"}


Caller = Annotated[Principal, Depends(principal)]


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"{what} not found")


def forbidden(why: str) -> HTTPException:
    return HTTPException(403, why)


def require_park(caller: Principal, park: str) -> None:
    if not caller.sees_park(park):
        raise not_found(f"park {park}")


def require_plant(caller: Principal, park: str, plant: str) -> None:
    require_park(caller, park)
    if not caller.sees_plant(park, plant):
        raise not_found(f"plant {park}/{plant}")


def aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"{name} needs a UTC offset, e.g. 2026-11-29T08:00:00+08:00")
    return value


async def write(request: Request, fn: Callable[[psycopg.Connection], T]) -> T:
    """Run ``fn`` in one transaction on a sync connection (compliance's functions are sync), in a worker
    thread so the event loop keeps serving. The request owns the transaction: it commits when ``fn``
    returns and rolls back when it raises."""
    sync_pool: ConnectionPool = request.app.state.sync_pool

    def _run() -> T:
        with sync_pool.connection() as conn, conn.transaction():
            return fn(conn)

    return await run_in_threadpool(_run)
