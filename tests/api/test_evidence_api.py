"""GET /api/v1/alerts/{id}/evidence: officers and admins in scope get the alert's bundle (the message as
published, its readings, the limit and its source, notes, audit trail), every export is audited with
the zip's SHA-256; operators are refused, other parks see nothing. `outfall evidence export` writes the
same kind of bundle, audited as the command line's user."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta

import orjson
import psycopg

from compliance import bundle, service
from tests.api.conftest import open_alert
from tests.support import ROOT, wait_for


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_officer_exports_an_alerts_evidence_and_the_export_is_audited(
    services, db, make_park, start_worker, publisher, client, make_token
):
    park = make_park()
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    payload = orjson.dumps({"ts": at.isoformat(), "values": {"cod": 150.0, "ph": 7.1}, "seq": 42})
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
    publisher.publish(f"outfall/v1/{park.id}/shop-01/total", payload)
    publisher.flush()
    wait_for(lambda: running.worker.counters.readings >= 2, message="the message's readings")
    alert_id = open_alert(services.database_url, park.id, "shop-01", "total", at=at)
    officer = make_token("officer", park.id)
    noted = client.post(
        f"/api/v1/alerts/{alert_id}/annotate", json={"note": "采样送检 sample sent"}, headers=officer
    )
    assert noted.status_code == 200, noted.text

    minute = timedelta(minutes=1)
    with psycopg.connect(services.database_url) as conn, conn.transaction():
        # after the alert's evidence, inside the bundle's margin; before it, outside; another plant's
        made = service.create_mark(
            conn, park.id, "shop-01", None, "fault", at + 5 * minute, at + 9 * minute, "probe", "op"
        )
        service.create_mark(
            conn, park.id, "shop-01", "total", "fault", at - 3 * 60 * minute, at - 2 * 60 * minute, "x", "op"
        )
        service.create_mark(conn, park.id, "shop-02", None, "fault", at, at + minute, "x", "op")
    got = client.get(f"/api/v1/alerts/{alert_id}/evidence", headers=officer)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    assert got.headers["x-evidence-sha256"] == bundle.sha256(got.content)
    assert bundle.verify(got.content).ok
    files = _members(got.content)
    (raw,) = [body for name, body in files.items() if name.startswith("raw/") and name.endswith(".json")]
    assert raw == payload  # byte for byte
    rows = files["readings.csv"].decode("utf-8-sig").splitlines()
    assert any(",cod,150.0,mg/L,N," in r for r in rows) and any(",ph,7.1," in r for r in rows)
    alert = orjson.loads(files["alert.json"])
    assert (alert["id"], alert["limit"], alert["limit_source"]) == (alert_id, 80.0, "test limit")
    assert "采样送检 sample sent" in files["notes.csv"].decode("utf-8-sig")
    (header, *marked) = files["marks.csv"].decode("utf-8-sig").splitlines()
    assert header.startswith("id,point,code,") and len(marked) == 1
    assert marked[0].startswith(f"{made.id},(whole plant),fault,") and ",approved,probe,op," in marked[0]
    assert ",compliance,open,,open," in files["audit/alert_audit.csv"].decode("utf-8-sig")
    audited = db.execute(
        "SELECT actor, park_id, detail->>'sha256' FROM api_audit WHERE action = 'alert.evidence'"
        " AND object = %s ORDER BY id",
        (f"alert {alert_id}",),
    ).fetchall()
    assert len(audited) == 1 and audited[0][0].startswith("officer:") and audited[0][1] == park.id
    assert audited[0][2] == bundle.sha256(got.content)


def test_operators_are_refused_and_other_parks_see_nothing(services, make_park, client, make_token):
    park, other = make_park(), make_park()
    alert_id = open_alert(services.database_url, park.id, "shop-01", "total")
    path = f"/api/v1/alerts/{alert_id}/evidence"
    assert client.get(path, headers=make_token("operator", park.id)).status_code == 403
    assert client.get(path, headers=make_token("officer", other.id)).status_code == 404
    assert client.get(path).status_code == 401
    assert client.get("/api/v1/alerts/999999999/evidence", headers=make_token("admin")).status_code == 404
    assert client.get(path, headers=make_token("admin")).status_code == 200


def test_the_command_line_exports_and_verifies(services, db, make_park, tmp_path):
    park = make_park()
    alert_id = open_alert(services.database_url, park.id, "shop-02", "total")
    env = {**os.environ, "OUTFALL_DATABASE_URL": services.database_url}
    out = tmp_path / "evidence.zip"

    def outfall(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "outfall", "evidence", *args]
        return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)

    done = outfall("export", str(alert_id), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert bundle.sha256(out.read_bytes()) in done.stdout
    assert outfall("verify", str(out)).returncode == 0
    actor = db.execute(
        "SELECT actor FROM api_audit WHERE action = 'alert.evidence' AND object = %s", (f"alert {alert_id}",)
    ).fetchone()
    assert actor is not None and actor[0].startswith("cli:")
    data = bytearray(out.read_bytes())
    at = bytes(data).index(b'"limit_source"')
    data[at + 3] ^= 0x20
    out.write_bytes(bytes(data))
    failed = outfall("verify", str(out))
    assert failed.returncode == 1 and "FAILED alert.json" in failed.stdout
    assert outfall("export", "999999999").returncode == 1
