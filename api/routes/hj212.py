"""HJ 212 reverse control for admins: queue a command to a logger (audited in ``api_audit``; the
command row carries the caller as its actor), rotate a logger's SM4 key, follow them, and list loggers
waiting to enter the network.
The queue belongs to ingest/hj212 (``repo.enqueue``); the gateway delivers it."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import psycopg
from fastapi import APIRouter, HTTPException, Query, Request

from api import repo
from api.auth import Principal
from api.deps import ERRORS, FORBIDDEN, Caller, forbidden, not_found, pool, write
from api.models import CommandRequest, CommandView, EnrolmentView, RotationRequest
from ingest.core import secrets
from ingest.core.settings import SM4RotationSettings
from ingest.hj212 import commands, rotation
from ingest.hj212 import repo as hj212_repo

v1 = APIRouter(prefix="/api/v1/hj212", tags=["hj212"], responses=ERRORS)


def _admin(caller: Principal) -> None:
    if caller.role != "admin":
        raise forbidden("only an admin may command data loggers")


@v1.post("/commands", response_model=CommandView, status_code=202, responses=FORBIDDEN)
async def send_command(request: Request, caller: Caller, body: CommandRequest) -> CommandView:
    """Queue a command; the gateway sends it while the logger is connected. Poll `GET
    /api/v1/hj212/commands/{id}` for the answer."""
    _admin(caller)

    def _do(conn: psycopg.Connection) -> int:
        command_id = hj212_repo.enqueue(conn, body.mn, body.cn, body.params, "admin", caller.actor)
        detail = {"cn": body.cn, "params": body.params, "command": command_id}
        repo.audit(conn, caller.actor, "hj212.command", f"logger {body.mn}", None, None, detail)
        return command_id

    try:
        command_id = await write(request, _do)
    except commands.CommandError as exc:
        raise HTTPException(422, str(exc)) from None
    return await get_command(request, caller, command_id)


@v1.post("/rotations", response_model=CommandView, status_code=202, responses=FORBIDDEN)
async def rotate_key(request: Request, caller: Caller, body: RotationRequest) -> CommandView:
    """HJ 212-2025: give a logger a new SM4 key now (the scheduled rotation, started by hand): a new
    pending key and its CN 1014, which the gateway sends encrypted under the current key. The logger's
    answer switches keys or keeps the old one; poll `GET /api/v1/hj212/commands/{id}`."""
    _admin(caller)
    settings = SM4RotationSettings()

    def _do(conn: psycopg.Connection) -> int:
        started = rotation.start_for(conn, body.park, body.plant, body.point, caller.actor, settings)
        target = f"logger {body.park}/{body.plant}/{body.point}"
        detail = {"command": started.command_id, "key_generation": started.generation}
        repo.audit(conn, caller.actor, "hj212.rotate_key", target, body.park, body.plant, detail)
        return started.command_id

    try:
        command_id = await write(request, _do)
    except rotation.RotationError as exc:
        status = {"missing": 404, "busy": 409}.get(exc.kind, 422)
        raise HTTPException(status, str(exc)) from None
    except secrets.SecretStoreError as exc:  # the API was started without the secret store's key
        raise HTTPException(503, f"keys cannot be issued here: {exc}") from None
    return await get_command(request, caller, command_id)


@v1.get("/commands", response_model=list[CommandView], responses=FORBIDDEN)
async def list_commands(
    request: Request,
    caller: Caller,
    mn: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z_-]{6,32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CommandView]:
    """Newest first: every command to the loggers (or one logger), with its actor and answers."""
    _admin(caller)
    async with pool(request).connection() as conn:
        rows = await hj212_repo.recent(mn, limit).fetch_async(conn)
    return [CommandView(**dataclasses.asdict(r)) for r in rows]


@v1.get("/commands/{command_id}", response_model=CommandView, responses=FORBIDDEN)
async def get_command(request: Request, caller: Caller, command_id: int) -> CommandView:
    """One command with its audit trail (request frames sent, answers received, expiry)."""
    _admin(caller)
    if not 0 < command_id < 2**62:
        raise not_found(f"command {command_id}")
    async with pool(request).connection() as conn:
        row = await hj212_repo.command(command_id).first_async(conn)
        trail = await hj212_repo.audit_of(command_id).fetch_async(conn)
    if row is None:
        raise not_found(f"command {command_id}")
    return CommandView(**dataclasses.asdict(row), audit=[dataclasses.asdict(a) for a in trail])


@v1.get("/enrolments", response_model=list[EnrolmentView], responses=FORBIDDEN)
async def waiting_enrolments(request: Request, caller: Caller) -> list[EnrolmentView]:
    """Loggers that asked to enter the network with a serial no point claims: assign one with
    `outfall hj212 enrol SERIAL PARK/PLANT/POINT`."""
    _admin(caller)
    async with pool(request).connection() as conn:
        rows = await hj212_repo.waiting_enrolments().fetch_async(conn)
    return [EnrolmentView.model_validate(r, from_attributes=True) for r in rows]
