"""One-shot tasks of the command line, also run by `outfall run`: migrations and park loading."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger("outfall")


def database_url() -> str:
    from ingest.core.settings import DatabaseSettings

    url = DatabaseSettings().database_url
    if url is None:
        raise SystemExit(
            "outfall: set OUTFALL_DATABASE_URL (`outfall run` starts a local database and sets it)"
        )
    return url


def db_upgrade(database_url: str) -> None:
    import psycopg

    from compliance import marks
    from compliance import repo as compliance_repo
    from compliance.repo import marks as mark_repo
    from compliance.settings import MaintenanceSettings, MarkSettings
    from ingest.core import migrate, repo

    applied = migrate.upgrade(database_url)
    mark_settings = MarkSettings()
    try:
        codes = marks.catalogue(mark_settings.catalogue)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"outfall db upgrade: OUTFALL_MARKS_CATALOGUE: {exc}") from None
    with psycopg.connect(database_url) as conn:
        repo.sync_catalogue(conn)
        # the bounds of maintenance windows and data marks, which the API and the database's trigger
        # both judge by, and the mark codes
        compliance_repo.set_maintenance_policy(conn, MaintenanceSettings().bounds())
        mark_repo.set_mark_policy(conn, mark_settings.bounds())
        mark_repo.sync_codes(conn, codes.values())
    log.info("database up to date (%s)", f"applied {applied}" if applied else "nothing to apply")


def park_load(database_url: str, path: Path) -> str:
    """Load (or reload) a park file and make its limits effective in the same transaction, so the
    first reading after loading is already judged (no wait for the scheduled limit refresh)."""
    import psycopg

    from compliance import jobs, receivers
    from compliance.settings import RuleSettings, RuntimeSettings, SmtpSettings, WebhookSettings
    from ingest.core import park, repo

    try:
        spec = park.parse(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise SystemExit(f"outfall park load: cannot read {path}: {exc.strerror}") from None
    except park.ParkFileError as exc:
        raise SystemExit(f"outfall park load: {exc}") from None
    problems = receivers.check_subscriptions(spec.config)
    if problems:
        raise SystemExit(f"outfall park load: {path}: " + "; ".join(problems))
    ctx = jobs.Context(RuleSettings(), RuntimeSettings(), WebhookSettings(), SmtpSettings())
    try:
        with psycopg.connect(database_url) as conn:  # one transaction: committed on leaving the block
            points = repo.load_park(conn, spec)
            limits = jobs.resolve_loaded_park(conn, ctx, spec.id)
    except ValueError as exc:  # a maintenance window outside the bounds: nothing was stored
        raise SystemExit(f"outfall park load: {path}: {exc}") from None
    log.info("loaded park %s: %d plants, %d points; %s", spec.id, len(spec.plants), points, limits)
    return spec.id


def resume_time(database_url: str, park_id: str, window: timedelta) -> datetime | None:
    """Where a park's stored data ends, if within ``window`` of now: the demo simulator continues from
    there, as a reconnecting data logger does, instead of sending stored history again (with other
    values: a second value for a stored reading is an integrity alert)."""
    import psycopg

    from ingest.core import repo

    with psycopg.connect(database_url) as conn:
        last = repo.last_reading_time(conn, park_id, datetime.now(UTC) - window)
    return last + timedelta(seconds=1) if last is not None else None


LOCAL_KEY = Path(".local/secret.key")


def secret_key_env(path: Path = LOCAL_KEY, create: bool = True) -> dict[str, str]:
    """OUTFALL_SECRET_KEY_FILE for the secret store when neither it nor OUTFALL_SECRET_KEY is set:
    ``.local/secret.key``, made once by `outfall run` (64 hex characters, readable by this user only)
    and kept, so secrets sealed in one run open in the next and `outfall receiver secret` finds it."""
    import os

    from ingest.core.secrets import new_store_key

    if os.environ.get("OUTFALL_SECRET_KEY") or os.environ.get("OUTFALL_SECRET_KEY_FILE"):
        return {}
    root = path.parent
    if not path.exists():
        if not create:
            return {}
        root.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(new_store_key() + "\n", encoding="ascii")
        log.info("made the secret store key %s (keep it: sealed secrets need it)", path)
    return {"OUTFALL_SECRET_KEY_FILE": str(path.resolve())}
