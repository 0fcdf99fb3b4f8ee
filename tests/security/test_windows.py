"""An operator cannot silence their own plant (issue 11 item 7), and each receiver's messages are signed
with its own secret, from the secret store. Driven against the running system (tests/e2e/harness.py):
windows through the API and straight into the database, breaches over MQTT, webhooks to local receivers.

- A century-long, backdated window is refused by the API (422, nothing stored) and by the database.
- A window longer than the approval threshold is stored pending and silences nothing until an officer
  approves it; an operator cannot approve it; a rejected window stays rejected.
- During an approved window a critical breach still opens an alert, marked during maintenance, and
  reaches every officer's webhook; a violation in the same window stays silent.
- Every subscription's webhook is signed with its own key; a webhook URL carrying a token is refused
  in a park file and taken from the secret store instead.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
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

NI_LIMIT = 0.5  # mg/L, GB 21900-2008 Table 2 at the workshop outlet; critical at 10x (法释〔2023〕7号)
CR_LIMIT = 1.0  # total chromium, mg/L; critical at 3x
PARK = """
id: {id}
name: Windows park
industry: electroplating
standard: GB21900-2008-T2
config:
  subscriptions:
    - {{name: officers-a, webhook: "{hook_a}", min_severity: violation}}
    - {{name: officers-b, webhook: secret-store, min_severity: critical}}
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: workshop
        kind: workshop_outlet
        interval_s: 2
        parameters: {{cr_total: mg/L, ni: mg/L}}
      - id: total
        kind: total_outlet
        interval_s: 2
        parameters: {{cod: mg/L}}
"""


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def receivers() -> Iterator[list[tuple[str, list[tuple[dict[str, str], bytes]]]]]:
    """Two local webhook receivers: (url, what each received)."""
    out, servers = [], []
    for _ in range(2):
        received: list[tuple[dict[str, str], bytes]] = []
        server = HTTPServer(("127.0.0.1", free_port()), type("R", (Receiver,), {"received": received}))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        out.append((f"http://127.0.0.1:{server.server_port}/hook", received))
    yield out
    for server in servers:
        server.shutdown()


def _token(system: System, *scope: str) -> str:
    out = system.outfall("token", "create", *scope)
    return out.split(": ", 1)[1].split()[0]


def _post(system: System, token: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(
        system.api_url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def _window(park: str, start: datetime, end: datetime, point: str | None = "workshop") -> dict[str, Any]:
    return {
        "park": park,
        "plant": "shop-01",
        "point": point,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "reason": "electrode swap",
    }


def _alerts(system: System, park: str, parameter: str) -> list[dict[str, Any]]:
    return [a for a in system.alerts(park, kind="exceedance") if a["parameter"] == parameter]


def _judged_up_to_now(system: System, park: str) -> None:
    """A sentinel breach at the total outlet (outside every window), published last: once its alert
    exists, what was published before it has been judged."""
    system.publish(park, "shop-01", "total", datetime.now(UTC), {"cod": 400.0})
    system.wait_for(lambda: _alerts(system, park, "cod"), timeout=20, message="the sentinel alert")


def _load(system: System, hook_a: str = "http://127.0.0.1:9/none") -> str:
    return system.load_park(PARK.replace("{hook_a}", hook_a))


def test_a_century_long_backdated_window_is_refused_by_the_api_and_the_database(system: System) -> None:
    park = _load(system)
    operator = _token(system, "--role", "operator", "--park", park, "--plant", "shop-01")
    century = _window(park, datetime(2000, 1, 1, tzinfo=UTC), datetime(2125, 1, 1, tzinfo=UTC))
    answer = _post(system, operator, "/api/v1/maintenance", century)
    assert answer.status_code == 422
    assert "may last at most 72 h" in answer.json()["detail"]
    now = datetime.now(UTC)
    for start, end, why in [
        (now - timedelta(hours=1), datetime(9999, 12, 31, tzinfo=UTC), "may last at most 72 h"),
        (now - timedelta(days=3), now - timedelta(days=3) + timedelta(hours=2), "24 h before now"),
    ]:
        answer = _post(system, operator, "/api/v1/maintenance", _window(park, start, end))
        assert answer.status_code == 422 and why in answer.json()["detail"], answer.text
    assert system.api_get("/api/v1/maintenance", park=park) == []  # nothing was stored
    assert "maintenance window refused" in system.log_text("api")  # and the attempt left a trace
    # Straight into the database, as a bug or a script that bypasses the API would: refused too.
    refused = pytest.raises(psycopg.errors.CheckViolation, match="may last at most 72 h")
    with psycopg.connect(system.database_url) as conn, refused:
        conn.execute(
            "INSERT INTO maintenance_windows (park_id, plant_id, during, reason, created_by)"
            " VALUES (%s, 'shop-01', tstzrange('2000-01-01', '2125-01-01'), 'x', 'psql')",
            (park,),
        )
    # so the critical nickel breach is judged
    system.publish(park, "shop-01", "workshop", now, {"ni": 18 * NI_LIMIT})
    (alert,) = system.wait_for(lambda: _alerts(system, park, "ni"), timeout=20, message="nickel alert")
    assert (alert["severity"], alert["during_maintenance"]) == ("critical", None)


def test_a_long_window_stays_pending_until_an_officer_approves_it(system: System) -> None:
    park = _load(system)
    operator = _token(system, "--role", "operator", "--park", park, "--plant", "shop-01")
    officer = _token(system, "--role", "officer", "--park", park)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    answer = _post(system, operator, "/api/v1/maintenance", _window(park, start, start + timedelta(hours=20)))
    assert answer.status_code == 201, answer.text
    pending = answer.json()
    assert (pending["status"], pending["decided_by"]) == ("pending", None)
    # pending silences nothing: a chromium violation at the point opens its alert
    system.publish(park, "shop-01", "workshop", datetime.now(UTC), {"cr_total": 2 * CR_LIMIT})
    system.wait_for(lambda: _alerts(system, park, "cr_total"), timeout=20, message="chromium alert")
    # the operator cannot approve their own window; the officer can, and the audit names them
    path = f"/api/v1/maintenance/{pending['id']}"
    assert _post(system, operator, path + "/approve").status_code == 403
    assert f"maintenance window {pending['id']}: operator:" in system.log_text("api")  # a trace
    approved = _post(system, officer, path + "/approve", {"note": "plan checked"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"].startswith("officer:")
    audit = [e for e in system.api_get("/api/v1/audit") if e["action"] == "maintenance.approve"]
    assert any(str(pending["id"]) in e["object"] and e["actor"].startswith("officer:") for e in audit)
    # approved: a nickel violation (not critical) at the point is silenced now
    system.publish(park, "shop-01", "workshop", datetime.now(UTC), {"ni": 2 * NI_LIMIT})
    _judged_up_to_now(system, park)
    assert _alerts(system, park, "ni") == []
    # a second long window, rejected: it stays rejected and silences nothing
    other = _post(system, operator, "/api/v1/maintenance", _window(park, start, start + timedelta(hours=30)))
    rejected = _post(system, officer, f"/api/v1/maintenance/{other.json()['id']}/reject")
    assert rejected.json()["status"] == "rejected"
    assert _post(system, officer, f"/api/v1/maintenance/{other.json()['id']}/approve").status_code == 409


def _signed_by(headers: dict[str, str], body: bytes, secret: str) -> bool:
    mac = hmac.new(secret.encode(), headers["X-Outfall-Timestamp"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(headers["X-Outfall-Signature"], "sha256=" + mac.hexdigest())


def test_a_critical_breach_in_an_approved_window_still_reaches_every_officer(
    system: System, receivers: list[tuple[str, list[tuple[dict[str, str], bytes]]]]
) -> None:
    (hook_a, got_a), (hook_b, got_b) = receivers
    park = _load(system, hook_a)
    secret_a = system.receiver_secret(park, "officers-a")
    secret_b = system.receiver_secret(park, "officers-b")
    # officers-b's URL carries a token, so it lives in the secret store (the park file says so)
    url_b = hook_b + "?key=tok"
    system.outfall("receiver", "secret", "set", f"{park}/officers-b", "webhook-url", stdin=url_b)
    listing = system.outfall("receiver", "secret", "list", park)  # names and generations, never values
    assert f"receiver/{park}/officers-b/webhook-url" in listing and secret_a not in listing
    assert "tok" not in str(system.api_get(f"/api/v1/parks/{park}"))  # the URL's token is not served
    operator = _token(system, "--role", "operator", "--park", park, "--plant", "shop-01")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    answer = _post(system, operator, "/api/v1/maintenance", _window(park, start, start + timedelta(hours=2)))
    window = answer.json()
    assert window["status"] == "approved"  # short: no approval needed
    now = datetime.now(UTC)
    system.publish(park, "shop-01", "workshop", now, {"cr_total": 2 * CR_LIMIT})  # a violation: silenced
    system.publish(park, "shop-01", "workshop", now, {"ni": 12 * NI_LIMIT})  # critical: never silenced
    (alert,) = system.wait_for(lambda: _alerts(system, park, "ni"), timeout=20, message="nickel alert")
    assert (alert["severity"], alert["during_maintenance"]) == ("critical", window["id"])
    _judged_up_to_now(system, park)
    assert _alerts(system, park, "cr_total") == []

    def nickel(got: list[tuple[dict[str, str], bytes]]) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b in got if any(a["parameter"] == "ni" for a in orjson.loads(b)["alerts"])]

    for got, own, other in ((got_a, secret_a, secret_b), (got_b, secret_b, secret_a)):
        ((headers, body),) = system.wait_for(lambda got=got: nickel(got), timeout=60, message="webhook")
        assert _signed_by(headers, body, own) and not _signed_by(headers, body, other)
        (sent,) = [a for a in orjson.loads(body)["alerts"] if a["parameter"] == "ni"]
        # "unmuted" when the point's offline alert (no data before the test's) muted it at first
        assert sent["event"] in ("opened", "unmuted")
        assert (sent["severity"], sent["during_maintenance"]) == ("critical", window["id"])


def test_a_webhook_url_with_a_token_is_refused_in_a_park_file(system: System) -> None:
    with pytest.raises(AssertionError, match="carries credentials"):
        _load(system, "https://oapi.dingtalk.com/robot/send?access_token=abc123")
