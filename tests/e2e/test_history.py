"""History at legal scale, end to end: readings published with old timestamps (the clock rule refuses
only the future) are compacted by the compliance leader's `compact_readings` job (every 2 s under
E2E_SETTINGS), and the API serves them as before; a logger re-sending one is still answered as a
duplicate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from tests.e2e.harness import System

PARK = """
id: {id}
name: History park
timezone: Asia/Shanghai
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: total
        kind: total_outlet
        interval_s: 60
        parameters: {{cod: mg/L, ph: pH}}
"""


def test_old_readings_are_compacted_by_the_leader_and_served_the_same(system: System) -> None:
    park = system.load_park(PARK)
    t0 = (datetime.now(UTC) - timedelta(days=20)).replace(hour=3, minute=0, second=0, microsecond=0)
    for m in range(30):
        system.publish(park, "shop-01", "total", t0 + timedelta(minutes=m), {"cod": 30 + m / 10, "ph": 7.12})
    path = f"/api/v1/parks/{park}/plants/shop-01/points/total/readings"
    window = {"from_": t0.isoformat(), "to": (t0 + timedelta(hours=1)).isoformat()}

    def items() -> list[dict[str, object]]:
        found: list[dict[str, object]] = system.api_get(path, **window)["items"]
        return found

    def stored() -> list[dict[str, object]] | None:
        got = items()
        return got if len(got) == 60 else None

    before = system.wait_for(stored, message="60 readings stored")

    def archived() -> bool:
        # two statements, each on its own (autocommit): one holding the archive while it waits for the
        # hot table's chunks can deadlock with the compaction dropping them
        with psycopg.connect(system.database_url, autocommit=True) as conn:
            try:
                return _counts(conn, park) == ((60,), (0,))
            except psycopg.errors.DeadlockDetected:  # the reader is the one PostgreSQL cancels
                return False

    system.wait_for(archived, timeout=30, message="the leader's job to compact the day")
    assert items() == before

    duplicates = _duplicates(system)
    system.publish(park, "shop-01", "total", t0, {"cod": 30.0, "ph": 7.12})  # a logger re-sends
    system.wait_for(lambda: _duplicates(system) >= duplicates + 2, message="the re-sent readings dropped")
    assert items() == before


def _duplicates(system: System) -> float:
    """Readings dropped by key so far, from /metrics (no token needed)."""
    for line in httpx.get(system.api_url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("outfall_ingest_duplicates_total"):
            return float(line.split()[-1])
    return 0.0


def _counts(conn: psycopg.Connection, park: str) -> tuple[object, object]:
    """Readings of the park archived, and still hot."""
    cold = conn.execute(
        "SELECT coalesce(sum(a.n), 0) FROM readings_archive a"
        " JOIN points p ON p.id = a.point_id WHERE p.park_id = %s",
        (park,),
    ).fetchone()
    hot = conn.execute(
        "SELECT count(*) FROM readings r JOIN points p ON p.id = r.point_id WHERE p.park_id = %s", (park,)
    ).fetchone()
    return cold, hot
