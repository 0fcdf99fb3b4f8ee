"""The scheduler (APScheduler 3.x, the job table in jobs.py) and leadership: exactly one compliance
instance runs the scheduler and the real-time consumer, the one holding a PostgreSQL advisory lock.
Others wait as hot standbys and take over when the leader's session ends (crash, network loss)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

from compliance import jobs, realtime
from ingest.core import repo as ingest_repo

log = logging.getLogger(__name__)


class Leadership:
    """Session-level advisory lock held on a dedicated connection for as long as we lead."""

    def __init__(self, conninfo: str, key: int) -> None:
        self.conninfo, self.key = conninfo, key
        self._conn: psycopg.Connection | None = None

    def acquire(self) -> bool:
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            log.warning("cannot reach the database to take leadership: %s", exc)
            return False
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if row and row[0]:
            self._conn = conn
            return True
        conn.close()
        return False

    def alive(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            self.release()
            return False

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # ending the session releases the lock
            self._conn = None


def _run_job(conninfo: str, ctx: jobs.Context, name: str) -> None:
    try:
        detail = jobs.run(conninfo, ctx, name)
        # Frequent jobs that found nothing to do would drown the log; they still go to the job table.
        idle = not any(ch.isdigit() and ch != "0" for ch in detail)
        log.log(logging.DEBUG if idle else logging.INFO, "job %s: %s", name, detail)
    except Exception:
        log.exception("job %s failed", name)


def build(conninfo: str, ctx: jobs.Context) -> BackgroundScheduler:
    """One APScheduler job per row of the job table. The catch-up jobs run at once on becoming leader;
    the others start on their trigger. (APScheduler 3 reads ``next_run_time=None`` as "paused", so
    the argument is left out rather than set to None.)"""
    scheduler = BackgroundScheduler(timezone=UTC)
    now = datetime.now(UTC)
    for job in jobs.JOBS:
        first: dict[str, datetime] = {"next_run_time": now} if job.name in CATCH_UP else {}
        scheduler.add_job(
            _run_job,
            jobs.trigger_of(job, ctx.runtime),
            args=(conninfo, ctx, job.name),
            id=job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=300,
            **first,
            **jobs.schedule_of(job, ctx.runtime),
        )
    return scheduler


# Run at once on becoming leader: limits first, then anything that was due.
CATCH_UP = frozenset({"refresh_limits", "close_windows", "deliver"})


def serve(conninfo: str, ctx: jobs.Context, stop: threading.Event) -> int:
    """Run until ``stop``: contend for leadership; while leader, run the scheduler and consumer. Every
    instance beats into component_heartbeats (leader or standby, consumer alive). Returns 1 when the
    consumer thread died: the process exits, so a standby takes over and the supervisor restarts it."""
    leader = Leadership(conninfo, ctx.runtime.leader_lock)
    beat = Heartbeat(conninfo, ctx.runtime.instance)
    try:
        while not stop.is_set():
            beat.send({"leader": False})
            if not leader.acquire():
                stop.wait(BEAT_S)
                continue
            if not _lead(conninfo, ctx, stop, leader, beat):
                return 1
        return 0
    finally:
        beat.forget()


BEAT_S = 2.0


def _lead(
    conninfo: str, ctx: jobs.Context, stop: threading.Event, leader: Leadership, beat: Heartbeat
) -> bool:
    """Lead until ``stop`` or the lock is lost; False when the real-time consumer died."""
    log.info("compliance leader: scheduler and real-time consumer running")
    _run_job(conninfo, ctx, "refresh_limits")
    scheduler = build(conninfo, ctx)
    scheduler.start()
    consumer_stop = threading.Event()
    consumer = threading.Thread(
        target=realtime.Consumer(conninfo, ctx.rules, ctx.runtime).run,
        args=(consumer_stop,),
        name="consumer",
        daemon=True,
    )
    consumer.start()
    healthy = True
    while not stop.is_set() and leader.alive():
        if not consumer.is_alive():
            log.critical("the real-time consumer died: giving up leadership and exiting")
            healthy = False
            break
        beat.send({"leader": True, "consumer": True, "scheduler": scheduler.running})
        stop.wait(BEAT_S)
    consumer_stop.set()
    scheduler.shutdown(wait=True)
    consumer.join(timeout=10)
    leader.release()
    log.info("compliance: leadership released")
    return healthy


class Heartbeat:
    """This instance's row in component_heartbeats, on its own autocommit connection."""

    def __init__(self, conninfo: str, name: str) -> None:
        self.conninfo, self.name = conninfo, name
        self._conn: psycopg.Connection | None = None

    def send(self, detail: dict[str, object]) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
                ingest_repo.restarted(self._conn, self.name, "compliance")
            ingest_repo.beat(self._conn, self.name, "compliance", detail)
        except psycopg.Error as exc:
            log.warning("heartbeat not written: %s", exc)
            self.close()

    def forget(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                ingest_repo.forget(conn, self.name)
        except psycopg.Error as exc:
            log.warning("heartbeat row not removed: %s", exc)
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
