"""Notifications through the running processes (ingest, compliance with its scheduler, API), started
as deployed and driven from outside: breaches over MQTT, webhooks to local receivers, the API's live
event stream.

- A webhook receiver that accepts the connection and never answers holds one sender, not the database:
  other alerts keep being written, streamed and delivered meanwhile, and no compliance transaction stays
  open across the send.
- An alert opened while muted (an instrument fault open at its point) is notified once when the mute
  ends, and its audit trail says so.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest

from api import tokens
from ingest.localservices import free_port
from ingest.models import ParkSpec
from tests.support import ROOT, Publisher, Services, unique_id, wait_for

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
HANG_S = 40  # the hung receiver's send waits this long (OUTFALL_WEBHOOK_TIMEOUT_S)


class HungReceiver:
    """Accepts TCP connections and never reads or answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
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


def outfall(*args: str) -> list[str]:
    """The command line as deployed: ``python -m outfall`` once the root package exists, else the
    console script."""
    if (ROOT / "outfall" / "__main__.py").exists():
        return [sys.executable, "-m", "outfall", *args]
    return [str(Path(sys.executable).parent / "outfall"), *args]


@pytest.fixture
def processes(services: Services) -> Iterator[Callable[..., str]]:
    """Start ingest, compliance and the API as separate processes; returns the API's URL."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> str:
        port = free_port()
        env = {
            **os.environ,
            "OUTFALL_DATABASE_URL": services.database_url,
            "OUTFALL_MQTT_URL": services.mqtt_url,
            "OUTFALL_INGEST_CLIENT_ID": unique_id("e2e-ingest"),
            "OUTFALL_API_PORT": str(port),
            "OUTFALL_WEBHOOK_SECRET": "e2e-secret",
            "OUTFALL_WEBHOOK_TIMEOUT_S": str(HANG_S),
            "OUTFALL_COMPLIANCE_NOTIFY_GROUP_S": "0",
            "OUTFALL_COMPLIANCE_LEADER_LOCK": str(7_300_000 + port),
            "OUTFALL_COMPLIANCE_JOB_PERIODS": '{"deliver": 1}',
            **extra,
        }
        for name, cmd in (("ingest", "ingest"), ("compliance", "compliance"), ("api", "api")):
            # PGAPPNAME names each process's sessions in pg_stat_activity
            proc_env = {**env, "PGAPPNAME": f"e2e-{name}-{port}"}
            started.append(subprocess.Popen(outfall(cmd), env=proc_env, cwd=ROOT, stdout=subprocess.DEVNULL))
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(url), timeout=60, message="API up")
        return url

    yield start
    for proc in started:
        proc.terminate()
    for proc in started:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def breach(
    pub: Publisher, park: str, plant: str, values: dict[str, float], flags: dict[str, str] | None = None
) -> None:
    ts = datetime.now(UTC).replace(microsecond=0).isoformat()
    body = {"ts": ts, "values": values, "flags": flags or {}}
    pub.publish(f"outfall/v1/{park}/{plant}/total", orjson.dumps(body))
    pub.flush()


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


def long_transactions(db: psycopg.Connection, app: str, older_s: float) -> list[tuple[object, ...]]:
    return db.execute(
        "SELECT application_name, state, now() - xact_start, left(query, 80) FROM pg_stat_activity"
        " WHERE application_name = %s AND xact_start < now() - make_interval(secs => %s)",
        (app, older_s),
    ).fetchall()


def test_a_receiver_that_never_answers_holds_no_transaction_and_stops_nothing_else(
    services: Services,
    make_park: Callable[..., ParkSpec],
    db: psycopg.Connection,
    receivers: tuple[HungReceiver, str, list[tuple[float, dict[str, object]]]],
    processes: Callable[..., str],
) -> None:
    hung, healthy_url, received = receivers
    park = make_park(PARK.replace("{hung}", hung.url).replace("{healthy}", healthy_url)).id
    url = processes()
    app = f"e2e-compliance-{url.rsplit(':', 1)[1]}"
    _id, token = tokens.create(services.database_url, "admin", None, None, None)
    stream = EventStream(url, token)
    pub = Publisher(services.mqtt_host, services.mqtt_port)
    # shop-01's alert goes to both receivers: the hung one takes the connection and never answers
    breach(pub, park, "shop-01", {"cod": 150})
    wait_for(lambda: hung.accepted, timeout=30, message="the hung receiver is called")
    hang_started = time.monotonic()
    # while it hangs, alerts at the other shops are written, streamed and delivered
    seen_tx: list[tuple[object, ...]] = []
    for i in range(2, 6):
        sent = time.monotonic()
        breach(pub, park, f"shop-0{i}", {"cod": 150})
        wait_for(
            lambda i=i: any(a["plant"] == f"shop-0{i}" for _t, a in stream.alerts),
            timeout=10,
            message=f"shop-0{i} on the live event stream",
        )
        wait_for(
            lambda i=i: any(p["plant"] == f"shop-0{i}" for _t, p in received),
            timeout=10,
            message=f"shop-0{i} delivered to the healthy receiver",
        )
        assert time.monotonic() - sent < 10
        seen_tx += long_transactions(db, app, 3)
    assert time.monotonic() - hang_started < HANG_S  # all of it while the hung send was still waiting
    # The hung delivery is claimed (attempt counted, leased), not delivered; the healthy one for
    # shop-01 went out at once.
    row = db.execute(
        "SELECT attempts, delivered_at IS NULL, next_attempt_at > now() FROM notify_deliveries"
        " WHERE park_id = %s AND subscription = 'hung'",
        (park,),
    ).fetchone()
    assert row == (1, True, True)
    assert any(p["plant"] == "shop-01" for _t, p in received)
    # A transaction left open by a process is invisible through MQTT and HTTP until someone waits on
    # it, and then only as timing; the server's own session table shows it directly.
    seen_tx += long_transactions(db, app, 3)
    assert seen_tx == []
    stream.close()
    pub.close()


def test_an_alert_opened_while_muted_is_notified_once_when_the_mute_ends(
    services: Services,
    make_park: Callable[..., ParkSpec],
    db: psycopg.Connection,
    receivers: tuple[HungReceiver, str, list[tuple[float, dict[str, object]]]],
    processes: Callable[..., str],
) -> None:
    hung, healthy_url, received = receivers
    park = make_park(PARK.replace("{hung}", hung.url).replace("{healthy}", healthy_url)).id
    url = processes(OUTFALL_COMPLIANCE_FAULT_HOLD_S="0")
    _id, token = tokens.create(services.database_url, "admin", None, None, None)
    headers = {"Authorization": f"Bearer {token}"}
    pub = Publisher(services.mqtt_host, services.mqtt_port)

    def alerts() -> dict[str, dict[str, object]]:
        r = httpx.get(f"{url}/api/v1/alerts", params={"park": park}, headers=headers)
        assert {a["park"] for a in r.json()} <= {park}
        return {f"{a['kind']}/{a['parameter']}": a for a in r.json() if a["state"] != "resolved"}

    def events_for(parameter: str) -> list[str]:
        return [
            str(a["event"])
            for _t, p in received
            if p["plant"] == "shop-02"
            for a in p["alerts"]  # type: ignore[union-attr]
            if a["parameter"] == parameter
        ]

    # the NH3-N analyser reports D (fault) at shop-02: instrument fault, which mutes the point
    breach(pub, park, "shop-02", {"nh3_n": 1.0}, {"nh3_n": "D"})
    wait_for(lambda: "instrument_fault/nh3_n" in alerts(), timeout=30, message="instrument fault")
    breach(pub, park, "shop-02", {"cod": 150})
    wait_for(lambda: "exceedance/cod" in alerts(), timeout=30, message="COD alert")
    cod = alerts()["exceedance/cod"]
    assert cod["muted"] == "inhibited"
    time.sleep(3)  # several delivery runs: the muted alert is not sent
    assert events_for("cod") == []
    # the analyser is back: the fault resolves, the mute ends, the COD alert is still open
    breach(pub, park, "shop-02", {"nh3_n": 1.0})
    wait_for(lambda: "instrument_fault/nh3_n" not in alerts(), timeout=30, message="fault resolved")
    wait_for(lambda: events_for("cod"), timeout=30, message="COD alert notified")
    time.sleep(3)
    assert events_for("cod") == ["unmuted"]
    now = alerts()["exceedance/cod"]
    assert (now["state"], now["muted"]) == ("open", None)
    detail = httpx.get(f"{url}/api/v1/alerts/{cod['id']}", headers=headers).json()
    actions = [e["action"] for e in detail["audit"]]
    assert actions[:2] == ["open", "notification_withheld"] and actions[-1] == "unmute"
    assert "notified now" in detail["audit"][-1]["note"]
    pub.close()
