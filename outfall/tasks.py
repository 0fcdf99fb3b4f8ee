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

    from ingest.core import migrate, repo

    applied = migrate.upgrade(database_url)
    with psycopg.connect(database_url) as conn:
        repo.sync_catalogue(conn)
    log.info("database up to date (%s)", f"applied {applied}" if applied else "nothing to apply")


def park_load(database_url: str, path: Path) -> str:
    """Load (or reload) a park file and make its limits effective in the same transaction, so the
    first reading after loading is already judged (no wait for the scheduled limit refresh)."""
    import psycopg

    from compliance import jobs
    from compliance.settings import RuleSettings, RuntimeSettings, SmtpSettings, WebhookSettings
    from ingest.core import park, repo

    try:
        spec = park.parse(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise SystemExit(f"outfall park load: cannot read {path}: {exc.strerror}") from None
    except park.ParkFileError as exc:
        raise SystemExit(f"outfall park load: {exc}") from None
    ctx = jobs.Context(RuleSettings(), RuntimeSettings(), WebhookSettings(), SmtpSettings())
    with psycopg.connect(database_url) as conn:  # one transaction: committed on leaving the block
        points = repo.load_park(conn, spec)
        limits = jobs.refresh_limits(conn, ctx, datetime.now(UTC), spec.id)
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
