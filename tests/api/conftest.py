"""API fixtures: the app on the test services, tokens of every role, an alert made through compliance."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api import tokens
from api.app import create_app
from api.settings import ApiSettings
from tests.compliance.conftest import consumer, ctx, rt_worker  # noqa: F401  (shared fixtures)
from tests.support import Services


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    app = create_app(ApiSettings(), services.database_url, (services.mqtt_host, services.mqtt_port))
    with TestClient(app) as c:
        yield c


@pytest.fixture
def make_token(services: Services) -> Callable[..., dict[str, str]]:
    """Headers with a fresh bearer token of the given role and scope."""

    def _make(role: str = "admin", park: str | None = None, plant: str | None = None) -> dict[str, str]:
        _id, token = tokens.create(services.database_url, role, park, plant, None)
        return {"Authorization": f"Bearer {token}"}

    return _make


@pytest.fixture
def admin(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_token("admin")


def open_alert(
    database_url: str,
    park: str,
    plant: str,
    point: str,
    parameter_id: int = 9,
    value: float = 150.0,
    limit: float = 80.0,
    at: datetime | None = None,
    kind: str = "exceedance",
) -> int:
    """Open an alert the way the compliance engine does (changes.write_change: row, audit, outbox)."""
    from compliance import changes, repo
    from compliance.models import AlertChange, AlertState

    t = at or datetime.now(UTC) - timedelta(minutes=5)
    with psycopg.connect(database_url) as conn, conn.transaction():
        point_id = conn.execute(
            "SELECT id FROM points WHERE park_id = %s AND plant_id = %s AND code = %s", (park, plant, point)
        ).fetchone()[0]
        meta = repo.AlertMeta(
            park, plant, point_id, parameter_id, "instant", "mg/L", limit, None, "test limit"
        )
        state = AlertState(0, kind, "violation", "open", value, value, 1, t, t)
        alert_id = changes.write_change(conn, meta, kind, AlertChange("open", state, ("opened",)))
    assert alert_id is not None
    return alert_id


@contextlib.contextmanager
def serve(services: Services, **settings: object) -> Iterator[str]:
    """The API served by uvicorn on a free port in a thread (for SSE, the browser, schemathesis), with
    ``settings`` overriding ApiSettings' defaults."""
    import threading
    import time

    import uvicorn

    from ingest.core.localservices import free_port

    port = free_port()
    api_settings = ApiSettings(port=port, **settings)  # type: ignore[arg-type]
    app = create_app(api_settings, services.database_url, (services.mqtt_host, services.mqtt_port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_api(services: Services) -> Iterator[str]:
    with serve(services) as url:
        yield url
