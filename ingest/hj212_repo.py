"""SQL of the HJ 212 extras shared by the MQTT worker and the TCP gateway (equipment status, CN 2021).

Kept beside the HJ 212 modules rather than in ``repo.py`` so the protocol's tables stay together; like
every repo function these never commit: the batch that holds them does.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from ingest.hj212_records import StatusRow


def insert_status(conn: psycopg.Connection, rows: Sequence[StatusRow]) -> int:
    """Store status rows, dropping any whose key is already stored; returns the number of new rows."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO equipment_status (point_id, device, item, time, value, number, source)"
            " SELECT * FROM unnest(%s::integer[], %s::text[], %s::text[], %s::timestamptz[], %s::text[],"
            " %s::double precision[], %s::text[]) ON CONFLICT DO NOTHING",
            [list(column) for column in zip(*rows, strict=True)],
        )
        return cur.rowcount
