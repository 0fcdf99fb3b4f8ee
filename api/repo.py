"""All SQL of the API package (read side)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection


@dataclass(frozen=True)
class PointRow:
    id: int
    timezone: str


async def find_point(conn: AsyncConnection, park: str, plant: str, point: str) -> PointRow | None:
    cur = await conn.execute(
        "SELECT p.id, k.timezone FROM points p JOIN parks k ON k.id = p.park_id"
        " WHERE p.park_id = %s AND p.plant_id = %s AND p.code = %s",
        (park, plant, point),
    )
    row = await cur.fetchone()
    return PointRow(row[0], row[1]) if row else None


async def raw_readings(
    conn: AsyncConnection, point_id: int, parameter_ids: list[int], start: datetime, end: datetime, limit: int
) -> list[tuple[datetime, int, float, str]]:
    cur = await conn.execute(
        "SELECT time, parameter_id, value, flag::text FROM readings"
        " WHERE point_id = %s AND parameter_id = ANY(%s) AND time >= %s AND time < %s"
        " ORDER BY time, parameter_id LIMIT %s",
        (point_id, parameter_ids, start, end, limit),
    )
    return await cur.fetchall()


async def bucket_means(
    conn: AsyncConnection,
    point_id: int,
    parameter_ids: list[int],
    start: datetime,
    end: datetime,
    bucket: str,
    timezone: str,
) -> list[tuple[datetime, int, float | None, int, int]]:
    # time_bucket with a time zone puts hour and day boundaries on the park's local calendar.
    cur = await conn.execute(
        "SELECT time_bucket(%s::interval, time, %s) AS b, parameter_id,"
        " avg(value) FILTER (WHERE flag IN ('N', 'S')), count(*) FILTER (WHERE flag IN ('N', 'S')), count(*)"
        " FROM readings WHERE point_id = %s AND parameter_id = ANY(%s) AND time >= %s AND time < %s"
        " GROUP BY b, parameter_id ORDER BY b, parameter_id",
        (bucket, timezone, point_id, parameter_ids, start, end),
    )
    return await cur.fetchall()


async def point_parameter_units(conn: AsyncConnection, point_id: int) -> dict[int, str]:
    cur = await conn.execute(
        "SELECT pp.parameter_id, p.unit FROM point_parameters pp JOIN parameters p ON p.id = pp.parameter_id"
        " WHERE pp.point_id = %s",
        (point_id,),
    )
    return {r[0]: r[1] for r in await cur.fetchall()}


async def ping(conn: AsyncConnection) -> None:
    await conn.execute("SELECT 1")
