"""Fixtures for the compliance integration tests: an ingest worker with the real-time hook, the
real-time consumer in a thread, and job runs with explicit times."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime

import orjson
import psycopg
import pytest

from compliance import jobs, realtime, repo
from compliance.models import AlertView
from ingest.core.models import ParkSpec
from tests.compliance.context import RULES, make_context
from tests.support import Publisher, RunningWorker, Services, wait_for


@pytest.fixture
def ctx() -> jobs.Context:
    return make_context()


@pytest.fixture
def rt_worker(start_worker: Callable[..., RunningWorker]) -> Callable[..., RunningWorker]:
    """An in-process ingest worker wired with the compliance hook, as `outfall ingest` runs it."""

    def _start(**overrides: object) -> RunningWorker:
        return start_worker(before_commit=realtime.ingest_hook(RULES), **overrides)

    return _start


@pytest.fixture
def consumer(services: Services, ctx: jobs.Context) -> Iterator[Callable[[], None]]:
    """Start the real-time consumer thread (call the returned function); stopped at teardown."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def _start() -> None:
        c = realtime.Consumer(services.database_url, ctx.rules, ctx.runtime)
        t = threading.Thread(target=c.run, args=(stop,), daemon=True)
        t.start()
        threads.append(t)

    yield _start
    stop.set()
    for t in threads:
        t.join(timeout=10)


@pytest.fixture
def env(
    services: Services,
    make_park: Callable[..., ParkSpec],
    rt_worker: Callable[..., RunningWorker],
    consumer: Callable[[], None],
    publisher: Publisher,
    ctx: jobs.Context,
) -> Callable[[str], ParkSpec]:
    """Load a park, resolve its limits, start a worker and the consumer; returns the loader."""

    def _make(text: str) -> ParkSpec:
        spec = make_park(text)
        jobs.run(services.database_url, ctx, "refresh_limits", park=spec.id)
        return spec

    rt_worker()
    consumer()
    return _make


def publish(
    pub: Publisher,
    park: str,
    plant: str,
    point: str,
    ts: datetime,
    values: dict[str, float],
    flags: dict[str, str] | None = None,
) -> None:
    body: dict[str, object] = {"ts": ts.isoformat(), "values": values}
    if flags:
        body["flags"] = flags
    pub.publish(f"outfall/v1/{park}/{plant}/{point}", orjson.dumps(body))


def stored(conn: psycopg.Connection, park: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM readings r JOIN points p ON p.id = r.point_id WHERE p.park_id = %s", (park,)
    ).fetchone()
    return int(row[0]) if row else 0


def wait_stored(conn: psycopg.Connection, park: str, n: int) -> None:
    wait_for(lambda: stored(conn, park) >= n, timeout=30, message=f"{n} readings of {park}")


def inbox_empty(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT count(*) FROM compliance_inbox").fetchone()
    return bool(row and row[0] == 0)


def settle(conn: psycopg.Connection, park: str, n: int) -> None:
    """Wait until n readings of the park are stored and the consumer has emptied the inbox."""
    wait_stored(conn, park, n)
    wait_for(lambda: inbox_empty(conn), timeout=30, message="inbox drained")


def alerts_of(conn: psycopg.Connection, park: str) -> list[AlertView]:
    return sorted(repo.list_alerts(conn, park), key=lambda a: a.id)


def kinds(conn: psycopg.Connection, park: str) -> list[tuple[str, str, str, str, str]]:
    return [(a.kind, a.point, a.parameter, a.severity, a.state) for a in alerts_of(conn, park)]
