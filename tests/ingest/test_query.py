"""A named read gives the same typed rows on a sync connection (its owner's callers) and on an async one
(the API's), and the registry's renames are the owner's writes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import psycopg
import pytest

from ingest.core import reads, repo
from ingest.core.query import Query


def test_a_query_gives_the_same_rows_sync_and_async(services, db, make_park):
    spec = make_park()
    query = reads.points(spec.id)
    sync_rows = query.fetch(db)

    async def run() -> list[reads.PointRow]:
        async with await psycopg.AsyncConnection.connect(services.database_url) as conn:
            return await query.fetch_async(conn)

    async_rows = asyncio.run(run())
    assert sync_rows == async_rows and len(sync_rows) == 3
    first = sync_rows[0]
    assert isinstance(first, reads.PointRow) and first.park == spec.id
    assert first.parameters and all(isinstance(k, int) for k in first.parameters)
    assert reads.points(spec.id, "no-such-plant").first(db) is None


def test_renames_are_written_by_the_registry_owner(db, make_park):
    spec = make_park()
    plant = spec.plants[0]
    code = plant.points[0].id
    assert repo.rename_park(db, spec.id, "Renamed park")
    assert repo.rename_plant(db, spec.id, plant.id, "Renamed plant")
    assert repo.change_point(db, spec.id, plant.id, code, repo.PointChange(interval_s=300, active=False))
    assert not repo.rename_plant(db, spec.id, "no-such-plant", "x")
    park_row = reads.parks(spec.id, None).first(db)
    plant_row = reads.plants(spec.id, plant.id).first(db)
    point_row = reads.points(spec.id, plant.id, code).first(db)
    assert park_row is not None and park_row.name == "Renamed park"
    assert plant_row is not None and plant_row.name == "Renamed plant"
    assert point_row is not None and (point_row.interval_s, point_row.active) == (300, False)
    assert point_row.name == plant.points[0].name  # a field left None is left as it was


def test_a_row_whose_fields_differ_from_the_columns_is_refused(db):
    mislabelled = Query("SELECT 2 AS valid, 1 AS received", (), Counted)
    with pytest.raises(TypeError, match="received"):
        mislabelled.fetch(db)
    assert Query("SELECT 1 AS received, 2 AS valid", (), Counted).fetch(db) == [Counted(1, 2)]


@dataclass(frozen=True)
class Counted:
    received: int
    valid: int
