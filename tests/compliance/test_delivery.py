"""Concurrency, restarts and notifications: two ingest workers on a shared subscription open one alert;
a compliance crash loses nothing; notifications reach a local HTTP receiver and a local SMTP server
(aiosmtpd) exactly once each, retried after a failure; one scheduler leader."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import orjson
import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from compliance import jobs, realtime, receivers, repo
from compliance.scheduler import Leadership
from ingest.core.localservices import free_port
from ingest.core.models import ParkSpec
from tests.compliance.conftest import RULES, kinds, publish, settle, wait_stored
from tests.compliance.test_scenarios import ONE_POINT, T0
from tests.support import Publisher, RunningWorker, Services, unique_id


def test_two_workers_shared_subscription_open_one_alert(
    services: Services,
    make_park: Callable[..., ParkSpec],
    rt_worker: Callable[..., RunningWorker],
    consumer: Callable[[], None],
    publisher: Publisher,
    db: psycopg.Connection,
    ctx: jobs.Context,
) -> None:
    park = make_park(ONE_POINT).id
    jobs.run(services.database_url, ctx, "refresh_limits", park=park)
    group = unique_id("g")
    a, b = rt_worker(share_group=group, batch_seconds=0.01), rt_worker(share_group=group, batch_seconds=0.01)
    consumer()
    consumer()  # two consumers as well: the inbox is taken with SKIP LOCKED, the alert row by upsert
    for i in range(200):
        publish(publisher, park, "shop-01", "total", T0 + timedelta(seconds=i), {"cod": 100 + i % 7})
    publisher.flush()
    settle(db, park, 200)
    assert a.worker.counters.readings > 0 and b.worker.counters.readings > 0  # both did work
    assert kinds(db, park) == [("exceedance", "total", "cod", "violation", "open")]
    row = db.execute("SELECT count FROM alerts WHERE park_id = %s", (park,)).fetchone()
    assert row == (200,)


def test_compliance_crash_loses_nothing(
    services: Services,
    make_park: Callable[..., ParkSpec],
    rt_worker: Callable[..., RunningWorker],
    publisher: Publisher,
    db: psycopg.Connection,
    ctx: jobs.Context,
) -> None:
    park = make_park(ONE_POINT).id
    jobs.run(services.database_url, ctx, "refresh_limits", park=park)
    rt_worker()  # no consumer running: the compliance process is down
    publish(publisher, park, "shop-01", "total", T0, {"cod": 150})
    publisher.flush()
    wait_stored(db, park, 1)
    with psycopg.connect(services.database_url) as conn:  # a consumer that dies mid-transaction
        conn.execute("BEGIN")
        assert repo.take_inbox(conn, 100_000)
        conn.rollback()
    assert kinds(db, park) == []
    with psycopg.connect(services.database_url, autocommit=True) as conn:  # the restarted process
        realtime.drain(conn, RULES, 1000)
    assert kinds(db, park) == [("exceedance", "total", "cod", "violation", "open")]


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]
    fail_first: list[bool]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.fail_first and self.fail_first.pop():
            self.send_response(503)
            self.end_headers()
            return
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]], list[bool]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    fail_first = [True]
    handler = type("H", (_Receiver,), {"received": received, "fail_first": fail_first})
    server = HTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, fail_first
    server.shutdown()


class _Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[object] = []

    def handle_message(self, message: object) -> None:
        self.messages.append(message)


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_notifications_reach_webhook_and_smtp_exactly_once(
    services: Services,
    make_park: Callable[..., ParkSpec],
    rt_worker: Callable[..., RunningWorker],
    consumer: Callable[[], None],
    publisher: Publisher,
    db: psycopg.Connection,
    ctx: jobs.Context,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]], list[bool]],
    smtp: tuple[int, _Inbox],
) -> None:
    url, received, _fail = receiver
    port, inbox = smtp
    subs = (
        "config:\n  subscriptions:\n"
        f"    - {{{{name: officers, webhook: '{url}', min_severity: violation}}}}\n"
        "    - {{name: shop, email: ops@example.org, plant: shop-01, min_severity: warning}}\n"
        "    - {{name: other-plant, email: x@example.org, plant: shop-99, min_severity: warning}}\n"
    )
    park = make_park(ONE_POINT.replace("plants:\n", subs + "plants:\n", 1)).id
    jobs.run(services.database_url, ctx, "refresh_limits", park=park)
    with db.transaction():  # the subscription's own signing secret, in the secret store
        receivers.set_secret(db, ctx.store, f"{park}/officers", "webhook-secret", "test-secret", "test")
    rt_worker()
    consumer()
    # two alerts of one plant (COD violation, pH violation) in one group window: one message each way
    publish(publisher, park, "shop-01", "total", T0, {"cod": 100, "ph": 5.0})
    publisher.flush()
    settle(db, park, 2)
    c = jobs.Context(
        ctx.rules,
        ctx.runtime,
        ctx.webhook,
        ctx.smtp.model_copy(update={"host": "127.0.0.1", "port": port}),
        store=ctx.store,
    )
    now = datetime.now(UTC) + timedelta(seconds=1)
    jobs.run(services.database_url, c, "deliver", now=now)  # webhook answers 503 the first time
    assert received == [] and len(inbox.messages) == 1
    for k in range(1, 4):  # retried after its backoff; later runs send nothing more
        jobs.run(services.database_url, c, "deliver", now=now + timedelta(minutes=k))
    assert len(received) == 1 and len(inbox.messages) == 1
    headers, body = received[0]
    expected = hmac.new(b"test-secret", headers["X-Outfall-Timestamp"].encode() + b"." + body, hashlib.sha256)
    assert headers["X-Outfall-Signature"] == "sha256=" + expected.hexdigest()
    payload = orjson.loads(body)
    assert payload["plant"] == "shop-01"
    assert sorted((x["parameter"], x["event"]) for x in payload["alerts"]) == [
        ("cod", "opened"),
        ("ph", "opened"),
    ]
    row = db.execute(
        "SELECT count(*), sum(attempts) FROM notify_deliveries WHERE park_id = %s AND channel = 'webhook'",
        (park,),
    ).fetchone()
    assert row == (1, 2)


def test_one_leader(services: Services) -> None:
    key = 7_212_999
    a, b = Leadership(services.database_url, key), Leadership(services.database_url, key)
    assert a.acquire()
    assert not b.acquire()
    a.release()  # the leader's session ends (as when its process dies)
    assert b.acquire() and b.alive()
    b.release()
