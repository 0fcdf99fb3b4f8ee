"""Helpers for the HJ 212 tests: a park whose points carry fresh MNs, frames, and readbacks."""

from __future__ import annotations

import uuid

from ingest.hj212 import codec as hj212


def new_mn() -> str:
    return uuid.uuid4().hex[:24].upper()  # MNs are unique across the database: one per test


def park_yaml(workshop_mn: str, total_mn: str) -> str:
    """A park file text with an ``{id}`` placeholder (for ``make_park``)."""
    return f"""
id: {{id}}
name: HJ 212 test park
timezone: Asia/Shanghai
industry: electroplating
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: workshop
        kind: workshop_outlet
        mn: "{workshop_mn}"
        parameters: {{{{cr_total: mg/L, cr6: µg/L, ph: pH}}}}
      - id: total
        kind: total_outlet
        mn: "{total_mn}"
        parameters: {{{{cod: mg/L, nh3_n: mg/L, flow: L/s}}}}
"""


def frame(mn: str, cn: str, cp: str, *, flag: int | None = 4, qn: str | None = "20260301081500000") -> bytes:
    head = f"QN={qn};" if qn else ""
    flag_part = f"Flag={flag};" if flag is not None else ""
    return hj212.wrap(f"{head}ST=32;CN={cn};PW=123456;MN={mn};{flag_part}CP=&&{cp}&&")


def readings(db, park_id):
    return db.execute(
        "SELECT p.code, k.code, r.time, r.value, r.flag::text, r.source FROM readings r"
        " JOIN points p ON p.id = r.point_id JOIN parameters k ON k.id = r.parameter_id"
        " WHERE p.park_id = %s ORDER BY 1, 2, 3",
        (park_id,),
    ).fetchall()


def statistics(db, park_id):
    return db.execute(
        "SELECT p.code, k.code, s.period, s.time, s.avg, s.min, s.max, s.cou, s.flag::text, s.source"
        " FROM logger_statistics s JOIN points p ON p.id = s.point_id"
        " JOIN parameters k ON k.id = s.parameter_id"
        " WHERE p.park_id = %s ORDER BY 1, 2, 3, 4",
        (park_id,),
    ).fetchall()


def dead_letters(db, like):
    return db.execute(
        "SELECT source, topic, payload, reason FROM dead_letters WHERE topic LIKE %s ORDER BY id", (like,)
    ).fetchall()
