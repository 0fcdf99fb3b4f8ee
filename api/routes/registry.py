"""Parks, plants and points: list and detail in the caller's scope; admins may rename and retune
(reloading the park file, the primary source, overwrites such changes)."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Request

from api import plantfile, repo
from api.auth import Principal, visible_config
from api.deps import (
    ERRORS,
    FORBIDDEN,
    Caller,
    Id,
    forbidden,
    not_found,
    pool,
    require_park,
    require_plant,
    write,
)
from api.models import (
    LoggerQuirk,
    NameChange,
    NamedThing,
    Parameter,
    Park,
    ParkNames,
    Plant,
    Point,
    PointChange,
)
from ingest.core import parameters
from ingest.core import reads as ingest_reads
from ingest.core import repo as ingest_repo
from ingest.hj212.codec import QUIRKS

v1 = APIRouter(prefix="/api/v1", tags=["registry"], responses=ERRORS)


def _park(row: ingest_reads.ParkRow, caller: Principal) -> Park:
    name_zh, name_en = plantfile.names(row.name)
    return Park(
        id=row.id,
        name=row.name,
        name_zh=name_zh,
        name_en=name_en,
        timezone=row.timezone,
        industry=row.industry,
        config=visible_config(row.config, caller),
        loaded_at=row.loaded_at,
        plants=row.plants,
    )


def point_model(p: ingest_reads.PointRow, quirks: list[ingest_reads.LoggerQuirk] | None = None) -> Point:
    params = [
        Parameter(code=c.code, name_zh=c.name_zh, name_en=c.name_en, unit=c.unit, instrument_unit=unit)
        for pid, unit in sorted(p.parameters.items())
        if (c := parameters.BY_ID.get(pid)) is not None
    ]
    return Point(
        id=p.code,
        park=p.park,
        plant=p.plant,
        name=p.name,
        kind=p.kind,
        discharge_mode=p.discharge_mode,
        standard=p.standard,
        mn=p.mn,
        interval_s=p.interval_s,
        active=p.active,
        parameters=params,
        logger_quirks=[
            LoggerQuirk(
                quirk=q.quirk,
                description=QUIRKS.get(q.quirk, q.quirk),
                count=q.count,
                first_seen=q.first_seen,
                last_seen=q.last_seen,
            )
            for q in quirks or []
            if q.point_id == p.id
        ],
    )


@v1.get("/parks", response_model=list[Park])
async def list_parks(request: Request, caller: Caller) -> list[Park]:
    """The parks the caller may see, each with the part of its config the caller may see: receivers
    (webhook URLs, e-mail addresses) for admins only, never their credentials; an operator limited to
    one plant sees no other plant's permits or maintenance windows."""
    async with pool(request).connection() as conn:
        rows = await ingest_reads.parks(caller.park, caller.plant).fetch_async(conn)
    return [_park(r, caller) for r in rows]


@v1.get("/parks/{park}", response_model=Park)
async def get_park(request: Request, caller: Caller, park: Id) -> Park:
    require_park(caller, park)
    async with pool(request).connection() as conn:
        rows = await ingest_reads.parks(park, caller.plant).fetch_async(conn)
    if not rows:
        raise not_found(f"park {park}")
    return _park(rows[0], caller)


def _named(plant: str, id_: str, name: str, kind: str) -> NamedThing:
    zh, en = plantfile.names(name)
    return NamedThing(plant=plant, id=id_, name=name, name_zh=zh, name_en=en, kind=kind)


@v1.get("/parks/{park}/names", response_model=ParkNames)
async def park_names(request: Request, caller: Caller, park: Id) -> ParkNames:
    """The names of the park's plants and points in the caller's scope, and of every catalogue
    parameter in Chinese and English: one request for a page that shows names, not codes."""
    require_park(caller, park)
    async with pool(request).connection() as conn:
        found = await ingest_reads.parks(park, caller.plant).fetch_async(conn)
        if not found:
            raise not_found(f"park {park}")
        plants = await ingest_reads.plants(park, caller.plant).fetch_async(conn)
        points = await ingest_reads.points(park, caller.plant).fetch_async(conn)
    catalogue = [
        Parameter(
            code=c.code, name_zh=c.name_zh, name_en=c.name_en, unit=c.unit, instrument_unit=c.hj212_unit
        )
        for c in parameters.CATALOGUE
    ]
    name_zh, name_en = plantfile.names(found[0].name)
    return ParkNames(
        park=park,
        name=found[0].name,
        name_zh=name_zh,
        name_en=name_en,
        plants=[_named(r.id, r.id, r.name, r.kind) for r in plants],
        points=[_named(p.plant, p.code, p.name, p.kind) for p in points],
        parameters=catalogue,
    )


@v1.get("/parks/{park}/plants", response_model=list[Plant])
async def list_plants(request: Request, caller: Caller, park: Id) -> list[Plant]:
    require_park(caller, park)
    async with pool(request).connection() as conn:
        if not await ingest_reads.parks(park, None).fetch_async(conn):
            raise not_found(f"park {park}")
        rows = await ingest_reads.plants(park, caller.plant).fetch_async(conn)
    return [Plant(id=r.id, park=park, name=r.name, kind=r.kind, points=r.points) for r in rows]


@v1.get("/parks/{park}/plants/{plant}", response_model=Plant)
async def get_plant(request: Request, caller: Caller, park: Id, plant: Id) -> Plant:
    require_plant(caller, park, plant)
    async with pool(request).connection() as conn:
        rows = await ingest_reads.plants(park, plant).fetch_async(conn)
    if not rows:
        raise not_found(f"plant {park}/{plant}")
    r = rows[0]
    return Plant(id=r.id, park=park, name=r.name, kind=r.kind, points=r.points)


@v1.get("/parks/{park}/plants/{plant}/points", response_model=list[Point])
async def list_points(request: Request, caller: Caller, park: Id, plant: Id) -> list[Point]:
    require_plant(caller, park, plant)
    async with pool(request).connection() as conn:
        if not await ingest_reads.plants(park, plant).fetch_async(conn):
            raise not_found(f"plant {park}/{plant}")
        rows = await ingest_reads.points(park, plant).fetch_async(conn)
        quirks = await ingest_reads.logger_quirks([p.id for p in rows]).fetch_async(conn)
    return [point_model(p, quirks) for p in rows]


@v1.get("/parks/{park}/plants/{plant}/points/{point}", response_model=Point)
async def get_point(request: Request, caller: Caller, park: Id, plant: Id, point: Id) -> Point:
    require_plant(caller, park, plant)
    async with pool(request).connection() as conn:
        row = await ingest_reads.points(park, plant, point).first_async(conn)
        if row is None:
            raise not_found(f"point {park}/{plant}/{point}")
        quirks = await ingest_reads.logger_quirks([row.id]).fetch_async(conn)
    return point_model(row, quirks)


@v1.patch("/parks/{park}", response_model=Park, responses=FORBIDDEN)
async def change_park(request: Request, caller: Caller, park: Id, body: NameChange) -> Park:
    """Admin only: rename a park."""
    require_park(caller, park)
    if not caller.may_change_registry:
        raise forbidden("only an admin may change the registry")

    def _do(conn: psycopg.Connection) -> bool:
        done = ingest_repo.rename_park(conn, park, body.name)
        if done:
            repo.audit(conn, caller.actor, "park.update", f"park {park}", park, None, body.model_dump())
        return done

    if not await write(request, _do):
        raise not_found(f"park {park}")
    return await get_park(request, caller, park)


@v1.patch("/parks/{park}/plants/{plant}", response_model=Plant, responses=FORBIDDEN)
async def change_plant(request: Request, caller: Caller, park: Id, plant: Id, body: NameChange) -> Plant:
    """Admin only: rename a plant."""
    require_plant(caller, park, plant)
    if not caller.may_change_registry:
        raise forbidden("only an admin may change the registry")

    def _do(conn: psycopg.Connection) -> bool:
        done = ingest_repo.rename_plant(conn, park, plant, body.name)
        if done:
            repo.audit(
                conn, caller.actor, "plant.update", f"plant {park}/{plant}", park, plant, body.model_dump()
            )
        return done

    if not await write(request, _do):
        raise not_found(f"plant {park}/{plant}")
    return await get_plant(request, caller, park, plant)


@v1.patch("/parks/{park}/plants/{plant}/points/{point}", response_model=Point, responses=FORBIDDEN)
async def change_point(
    request: Request, caller: Caller, park: Id, plant: Id, point: Id, body: PointChange
) -> Point:
    """Admin only: rename a point, change its expected reporting interval, or deactivate it."""
    require_plant(caller, park, plant)
    if not caller.may_change_registry:
        raise forbidden("only an admin may change the registry")
    changes = body.model_dump(exclude_none=True)
    change = ingest_repo.PointChange(body.name, body.interval_s, body.active)

    def _do(conn: psycopg.Connection) -> bool:
        done = ingest_repo.change_point(conn, park, plant, point, change)
        if done:
            obj = f"point {park}/{plant}/{point}"
            repo.audit(conn, caller.actor, "point.update", obj, park, plant, changes)
        return done

    if not await write(request, _do):
        raise not_found(f"point {park}/{plant}/{point}")
    return await get_point(request, caller, park, plant, point)
