"""Evidence export, audited: an alert's bundle (compliance/evidence.py) made in the transaction that
records who took it (``api_audit``, with the SHA-256 of the zip, so a bundle can be tied to its export),
for `GET /api/v1/alerts/{id}/evidence` and `outfall evidence export`; and `outfall evidence verify`."""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from api import repo
from compliance import bundle, evidence
from compliance.settings import EvidenceSettings

ACTION = "alert.evidence"


@dataclass(frozen=True)
class Exported:
    data: bytes
    sha256: str
    filename: str


def export(
    conn: psycopg.Connection,
    alert_id: int,
    actor: str,
    scope: tuple[str | None, str | None],
    settings: EvidenceSettings,
) -> Exported | None:
    """The alert's bundle, recorded in the audit log in the caller's transaction; None when the alert
    is not in the scope."""
    parts = evidence.gather(conn, alert_id, scope, settings)
    if parts is None:
        return None
    data = evidence.export(parts, actor, datetime.now(UTC))
    digest = bundle.sha256(data)
    detail = {
        "sha256": digest,
        "bytes": len(data),
        "messages": len(parts.messages),
        "readings": len(parts.readings),
        "capped": dict(parts.capped),
    }
    a = parts.alert
    repo.audit(conn, actor, ACTION, f"alert {a.id}", a.park, a.plant, detail)
    return Exported(data, digest, f"evidence-alert-{a.id}.zip")


# --- `outfall evidence` -----------------------------------------------------------------------------
def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def export_command(args: argparse.Namespace, database_url: str) -> int:
    settings = EvidenceSettings()
    with psycopg.connect(database_url) as conn, conn.transaction():
        done = export(conn, args.alert_id, _actor(), (None, None), settings)
    if done is None:
        print(f"outfall evidence export: no alert {args.alert_id}", file=sys.stderr)
        return 1
    out: Path = args.output or Path(done.filename)
    out.write_bytes(done.data)
    print(f"{out}: {len(done.data)} bytes, sha256 {done.sha256}")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    """Exit 0 when the bundle is intact, 1 with one line per finding when not, 2 when unreadable."""
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"outfall evidence verify: {exc}", file=sys.stderr)
        return 2
    report = bundle.verify(data)
    if report.ok:
        print(f"OK {args.file}: {report.files} files match the manifest; sha256 {report.sha256}")
        return 0
    for finding in report.findings:
        print(f"FAILED {finding}")
    print(f"{args.file}: {len(report.findings)} problem(s); sha256 {report.sha256}", file=sys.stderr)
    return 1


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    ev = sub.add_parser("evidence", help="an alert's evidence bundle: export (audited), verify")
    ev_sub = ev.add_subparsers(dest="evidence_command", required=True)
    exp = ev_sub.add_parser("export", help="write an alert's evidence zip (recorded in the audit log)")
    exp.add_argument("alert_id", type=int)
    exp.add_argument("-o", "--output", type=Path, help="the zip to write (default evidence-alert-ID.zip)")
    ver = ev_sub.add_parser("verify", help="check an evidence zip; exit 1 naming what changed")
    ver.add_argument("file", type=Path)
    return ev  # type: ignore[no-any-return]
