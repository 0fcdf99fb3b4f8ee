"""Notifications through the running system (every process of the process table, started by the
end-to-end harness in conftest.py) driven from outside: breaches over MQTT, webhooks to local
receivers, the API's live event stream and alerts.

- A webhook receiver that accepts the connection and never answers holds one sender, not the database:
  other alerts keep being written, streamed and delivered meanwhile, and no compliance transaction stays
  open across the send.
- An alert opened while muted (an instrument fault open at its point) is notified once when the mute
  ends, and its audit trail says so.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from ingest.core.localservices import free_port
from tests.e2e.harness import System

PARK = """
id: {id}
name: Notify park
industry: electroplating
standard: GB21900-2008-T2
config:
  subscriptions:
    - {{name: hung, webhook: "{hung}", plant: shop-01, min_severity: warning}}
    - {{name: officers, webhook: "{healthy}", min_severity: warning}}
plants:
""" + "".join(
    f"""  - id: shop-0{i}
    name: Shop {i}
    points:
      - id: total
        kind: total_outlet
        interval_s: 60
        parameters: {{{{cod: mg/L, nh3_n: mg/L, ph: pH}}}}
"""
    for i in range(1, 6)
)


class HungReceiver:
    """Accepts TCP connections, reads what comes, and never answers. Knows which connections the
    sender still holds open (it closes its end when its timeout ends)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
        self.open = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)
            self.open += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        self.open -= 1

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


class Healthy(BaseHTTPRequestHandler):
    received: list[tuple[float, dict[str, object]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((time.monotonic(), orjson.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def receivers() -> Iterator[tuple[HungReceiver, str, list[tuple[float, dict[str, object]]]]]:
    hung = HungReceiver()
    received: list[tuple[float, dict[str, object]]] = []
    server = HTTPServer(("127.0.0.1", free_port()), type("H", (Healthy,), {"received": received}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield hung, f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    hung.close()


class EventStream:
    """The API's live event stream, read in a thread: (arrival time, alert) per `alert` event."""

    def __init__(self, url: str, token: str) -> None:
        self.alerts: list[tuple[float, dict[str, object]]] = []
        self.ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()
        assert self.ready.wait(30), "event stream did not start"

    def _read(self, url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.stream("GET", f"{url}/api/v1/events", headers=headers, timeout=None) as r:
            event = None
            for line in r.iter_lines():
                if self._stop:
                    return
                if line.startswith("event: "):
                    event = line[7:]
                    self.ready.set()
                elif line.startswith("data: ") and event == "alert":
                    self.alerts.append((time.monotonic(), orjson.loads(line[6:])["alert"]))

    def close(self) -> None:
        self._stop = True


def long_transactions(database_url: str, older_s: float) -> list[tuple[object, ...]]:
    """Sessions of the system's database (its processes') with a transaction open longer than
    ``older_s``, as the server sees them."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT pid, state, now() - xact_start, left(query, 80) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND xact_start < now() - make_interval(secs => %s)",
            (older_s,),
        ).fetchall()


def test_a_receiver_that_never_answers_holds_no_transaction_and_stops_nothing_else(
    system: System, receivers: tuple[HungReceiver, str, list[tuple[float, dict[str, object]]]]
) -> None:
    hung, healthy_url, received = receivers
    park = system.load_park(PARK.replace("{hung}", hung.url).replace("{healthy}", healthy_url))
    for subscription in ("hung", "officers"):  # each webhook is signed with its own secret
        system.receiver_secret(park, subscription)
    stream = EventStream(system.api_url, system.token)
    now = lambda: datetime.now(UTC).replace(microsecond=0)  # noqa: E731
    # shop-01's alert goes to both receivers: the hung one takes the connection and never answers
    system.publish(park, "shop-01", "total", now(), {"cod": 150})
    system.wait_for(lambda: hung.open, timeout=30, message="the hung receiver holds a send")
    # while a send hangs there, alerts at the other shops are written, streamed and delivered
    seen_tx: list[tuple[object, ...]] = []
    for i in range(2, 6):
        sent = time.monotonic()
        system.publish(park, f"shop-0{i}", "total", now(), {"cod": 150})
        system.wait_for(
            lambda i=i: any(a["park"] == park and a["plant"] == f"shop-0{i}" for _t, a in stream.alerts),
            timeout=10,
            message=f"shop-0{i} on the live event stream",
        )
        system.wait_for(
            lambda i=i: any(p["park"] == park and p["plant"] == f"shop-0{i}" for _t, p in received),
            timeout=10,
            message=f"shop-0{i} delivered to the healthy receiver",
        )
        assert hung.open, "the hung send was still waiting"
        assert time.monotonic() - sent < 10
        seen_tx += long_transactions(system.database_url, 3)
    # shop-01's message to the healthy receiver went out at once; the hung one is never delivered
    assert any(p["park"] == park and p["plant"] == "shop-01" for _t, p in received)
    with psycopg.connect(system.database_url) as conn:
        row = conn.execute(
            "SELECT attempts >= 1, delivered_at IS NULL FROM notify_deliveries"
            " WHERE park_id = %s AND subscription = 'hung'",
            (park,),
        ).fetchone()
    assert row == (True, True)
    # A transaction left open across a send is invisible through MQTT and HTTP until something waits
    # on it, and then shows only as timing; the server's own session table shows it directly.
    seen_tx += long_transactions(system.database_url, 3)
    assert seen_tx == []
    stream.close()


def test_an_alert_opened_while_muted_is_notified_once_when_the_mute_ends(
    system: System, receivers: tuple[HungReceiver, str, list[tuple[float, dict[str, object]]]]
) -> None:
    _hung, healthy_url, received = receivers
    park = system.load_park(
        PARK.replace("{hung}", "http://127.0.0.1:9/none").replace("{healthy}", healthy_url)
    )
    system.receiver_secret(park, "officers")

    def active() -> dict[str, dict[str, Any]]:
        return {
            f"{a['kind']}/{a['parameter']}": a
            for a in system.alerts(park)
            if a["plant"] == "shop-02" and a["state"] in ("open", "acknowledged")
        }

    def events_for(parameter: str) -> list[str]:
        return [
            str(a["event"])
            for _t, p in received
            if p["park"] == park and p["plant"] == "shop-02"
            for a in p["alerts"]  # type: ignore[attr-defined]
            if a["parameter"] == parameter
        ]

    # The NH3-N analyser at shop-02 has reported D (fault) for over half an hour (the fault hold):
    # an instrument-fault alert opens, and mutes the point's concentration alerts.
    t = datetime.now(UTC).replace(microsecond=0)
    first = t - timedelta(minutes=31)
    system.publish(park, "shop-02", "total", first, {"nh3_n": 1.0}, {"nh3_n": "D"})
    # stored before the next one: two ingest workers may otherwise commit them out of order
    path = f"/api/v1/parks/{park}/plants/shop-02/points/total/readings"
    span = {"parameter": "nh3_n", "from_": first.isoformat(), "to": t.isoformat()}
    system.wait_for(lambda: system.api_get(path, **span)["items"], message="first D reading stored")
    system.publish(park, "shop-02", "total", t - timedelta(seconds=2), {"nh3_n": 1.0}, {"nh3_n": "D"})
    system.wait_for(lambda: "instrument_fault/nh3_n" in active(), message="instrument fault")
    system.publish(park, "shop-02", "total", t - timedelta(seconds=1), {"cod": 150})
    cod = system.wait_for(lambda: active().get("exceedance/cod"), message="COD alert")
    assert cod["muted"] == "inhibited"
    time.sleep(12)  # past the grouping window (10 s), several delivery runs: nothing for the muted alert
    assert events_for("cod") == []
    # the analyser is back: the fault resolves, the mute ends, the COD alert is still open
    system.publish(park, "shop-02", "total", t, {"nh3_n": 1.0})
    system.wait_for(lambda: "instrument_fault/nh3_n" not in active(), message="fault resolved")
    system.wait_for(lambda: events_for("cod"), message="COD alert notified")
    time.sleep(3)
    # once, and its withheld "opened" is never sent (later escalations of the open alert may follow)
    assert events_for("cod")[0] == "unmuted" and events_for("cod").count("unmuted") == 1
    assert "opened" not in events_for("cod")
    now = active()["exceedance/cod"]
    assert (now["state"], now["muted"]) == ("open", None)
    detail = system.api_get(f"/api/v1/alerts/{cod['id']}")
    actions = [e["action"] for e in detail["audit"]]
    assert actions[:2] == ["open", "notification_withheld"] and actions.count("unmute") == 1
    unmute = next(e for e in detail["audit"] if e["action"] == "unmute")
    assert "notified now" in unmute["note"]
