"""Shared fixtures: real TimescaleDB and Mosquitto, started privately for the test session.

When OUTFALL_DATABASE_URL and OUTFALL_MQTT_URL are set, the tests use those services instead (and skip
the tests that must restart a service). Each test gets its own park (a unique id), so tests never see
each other's points, readings or alerts.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator

import psycopg
import pytest

from ingest.core import park as park_file
from ingest.core import repo
from ingest.core.batches import BeforeCommit
from ingest.core.localservices import free_port, local_services, stop_orphans
from ingest.core.models import ParkSpec
from ingest.core.settings import IngestSettings
from ingest.mqtt.worker import IngestWorker
from outfall.tasks import db_upgrade
from tests.support import (
    ROOT,
    SMALL_PARK,
    TEST_HJ212_PW,
    Publisher,
    RunningWorker,
    Services,
    issue_hj212_pws,
    unique_id,
)

pytest_plugins = (
    "tests.realdata",  # fixtures of third-party data and their stand-ins
    "tests.e2e.harness",  # the running system (`system`), for tests/e2e and tests/security
)


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    db_url, mqtt_url = os.environ.get("OUTFALL_DATABASE_URL"), os.environ.get("OUTFALL_MQTT_URL")
    if db_url and mqtt_url:
        from ingest.core.settings import MqttSettings

        host, port = MqttSettings(mqtt_url=mqtt_url).host_port()
        db_upgrade(db_url)
        yield Services(db_url, host, port, None, None)
        return
    # A run killed before its clean-up leaves its private servers behind: stop those first, and make
    # SIGTERM run this run's clean-up (pytest's own teardown) instead of dying on the spot.
    stop_orphans(ROOT / ".local", "test-")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    root = ROOT / ".local" / f"test-{os.getpid()}"
    with local_services(
        root, need_db=True, need_mqtt=True, pg_port=free_port(), mqtt_port=free_port(), fresh=True
    ) as svc:
        assert svc.postgres is not None and svc.mosquitto is not None
        db_upgrade(svc.postgres.url)
        yield Services(svc.postgres.url, "127.0.0.1", svc.mosquitto.port, svc.postgres, svc.mosquitto)
    shutil.rmtree(root, ignore_errors=True)


def _exit_on_sigterm(_sig: int, _frame: object) -> None:
    raise SystemExit(143)


@pytest.fixture
def db(services: Services) -> Iterator[psycopg.Connection]:
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def make_park(services: Services) -> Callable[..., ParkSpec]:
    """Load a park (the small test park unless YAML text is given) under a fresh unique id, and give
    every point with an MN its HJ 212 PW in the secret store (``hj212_pw``; None: none), as
    commissioning a logger does."""

    def _make(
        text: str = SMALL_PARK, park_id: str | None = None, hj212_pw: str | None = TEST_HJ212_PW
    ) -> ParkSpec:
        spec = park_file.parse(text.format(id=park_id or unique_id()))
        with psycopg.connect(services.database_url) as conn:
            repo.load_park(conn, spec)
            if hj212_pw is not None:
                issue_hj212_pws(conn, spec, hj212_pw)
        return spec

    return _make


@pytest.fixture
def start_worker(services: Services) -> Iterator[Callable[..., RunningWorker]]:
    started: list[RunningWorker] = []

    def _start(
        topic: str = "outfall/v1/+/+/+", before_commit: BeforeCommit | None = None, **overrides: object
    ) -> RunningWorker:
        settings = IngestSettings(
            client_id=overrides.pop("client_id", unique_id("ingest")), topic=topic, **overrides
        )
        worker = IngestWorker(
            settings, services.database_url, services.mqtt_host, services.mqtt_port, before_commit
        )
        running = RunningWorker(worker)
        started.append(running)
        return running

    yield _start
    for running in started:
        if running.thread.is_alive():
            running.stop()


@pytest.fixture
def publisher(services: Services) -> Iterator[Publisher]:
    pub = Publisher(services.mqtt_host, services.mqtt_port)
    yield pub
    pub.close()
