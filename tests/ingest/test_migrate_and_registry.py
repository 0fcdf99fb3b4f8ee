"""Migrations apply once, the catalogue syncs, and park reloads keep point ids stable."""

from __future__ import annotations

import subprocess
import sys
import uuid

from ingest.core import migrate, repo
from outfall.tasks import db_upgrade
from tests.support import ROOT, SMALL_PARK, unique_id


def test_migrations_are_numbered_and_applied_once(services, db):
    versions = [m.version for m in migrate.available()]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert migrate.upgrade(services.database_url) == []  # the session already applied them
    applied = {r[0] for r in db.execute("SELECT version FROM schema_migrations")}
    assert set(versions) <= applied
    db_upgrade(services.database_url)  # idempotent
    hyper = db.execute("SELECT hypertable_name FROM timescaledb_information.hypertables").fetchall()
    assert ("readings",) in hyper


def test_reloading_a_park_keeps_point_ids_and_deactivates_removed_points(services, db, make_park):
    spec = make_park()
    ids = dict(
        db.execute("SELECT plant_id || '/' || code, id FROM points WHERE park_id = %s", (spec.id,)).fetchall()
    )
    assert len(ids) == 3
    shorter = SMALL_PARK.split("  - id: shop-02")[0]
    make_park(shorter, park_id=spec.id)
    rows = {
        key: (pid, active)
        for key, pid, active in db.execute(
            "SELECT plant_id || '/' || code, id, active FROM points WHERE park_id = %s", (spec.id,)
        ).fetchall()
    }
    assert rows["shop-01/workshop"] == (ids["shop-01/workshop"], True)
    assert rows["shop-02/total"] == (ids["shop-02/total"], False)
    registry = {(p.park, p.plant, p.code) for p in repo.registry(db)}
    assert (spec.id, "shop-02", "total") not in registry


def test_cli_park_load_reports_errors_and_loads_files(services, tmp_path):
    env = {"OUTFALL_DATABASE_URL": services.database_url, "PATH": "/usr/bin:/bin"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nname: X\nindustry: electroplating\nplants: []\n")
    out = subprocess.run(
        [sys.executable, "-m", "outfall", "park", "load", str(bad)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "line 4: field plants" in out.stderr
    good = tmp_path / "good.yaml"
    park_id = unique_id()
    good.write_text(SMALL_PARK.format(id=park_id))
    out = subprocess.run(
        [sys.executable, "-m", "outfall", "park", "load", str(good)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert f"loaded park {park_id}: 2 plants, 3 points" in out.stderr


def test_a_points_allow_from_reaches_the_registry(db, make_park):
    text = """
id: {id}
name: P
industry: electroplating
plants:
  - id: a
    name: A
    points:
      - id: fenced
        kind: total_outlet
        mn: FENCE_MN
        allow_from: [10.8.0.0/16, 192.0.2.7/32]
        parameters: [cod]
      - id: open
        kind: total_outlet
        parameters: [cod]
"""
    spec = make_park(text.replace("FENCE_MN", uuid.uuid4().hex[:12].upper()))
    found = {p.code: p.allow_from for p in repo.registry(db) if p.park == spec.id}
    assert found == {"fenced": ("10.8.0.0/16", "192.0.2.7/32"), "open": ()}
