"""The end-to-end harness: every long-running process of the process table (outfall/processes.py),
started as a real subprocess, observed only through the system's interfaces (HTTP API, MQTT, TCP).

`system` is session-scoped. It runs on the session's private PostgreSQL (the `services` fixture) but in a
database of its own on that server: its compliance leader judges only the parks of these tests, and the
other tests' in-process workers and direct job calls never race with it. Its broker is its own, started
as `outfall run` starts it (ingest/core/localservices.py, accounts and ACL from `outfall broker sync`):
no anonymous client; `publish` logs in as the point's data logger, with the credentials `outfall broker
provision` issued when the park was loaded. Fast
rule settings (E2E_SETTINGS) make time-based rules fire within a minute. Each process writes its output
to .local/e2e-<pid>/<name>.log; a failing test shows the tail of every log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import psycopg
import pytest
from psycopg import sql

from ingest.core import park as park_file
from ingest.core.localservices import LocalMosquitto
from outfall import processes
from outfall.supervisor import broker_env
from tests.support import ROOT, Publisher, Services, issue_hj212_pws, unique_id, wait_for

T = TypeVar("T")

# Fast settings so offline, flatline, escalation and repeats fire within a minute.
E2E_SETTINGS: dict[str, str] = {
    "OUTFALL_COMPLIANCE_JOB_PERIODS": orjson.dumps(
        {
            "offline_sweep": 2,
            "data_quality": 3,
            "escalate": 2,
            "deliver": 1,
            "refresh_limits": 30,
            "dead_letter_retention": 2,
            "compact_readings": 2,
            "sm4_rotation": 2,
            "close_windows": 5,  # hours and days close within seconds of their grace, not each minute
            "refer_abnormal": 1,
        }
    ).decode(),
    "OUTFALL_COMPLIANCE_OFFLINE_K": "3",
    "OUTFALL_COMPLIANCE_FLATLINE_S": "40",
    "OUTFALL_COMPLIANCE_FLATLINE_MIN_COUNT": "5",
    "OUTFALL_COMPLIANCE_ZERO_S": "10",
    # abnormal data goes before officers 20 s after it opened when the plant has not explained it
    "OUTFALL_COMPLIANCE_ABNORMAL_REFER_AFTER_S": "20",
    "OUTFALL_COMPLIANCE_ESCALATE_AFTER_S": "20",
    "OUTFALL_COMPLIANCE_CRITICAL_REPEAT_S": "20",
    "OUTFALL_COMPLIANCE_CLEAR_HOLD_S": "5",
    "OUTFALL_COMPLIANCE_LATE_GRACE_S": "5",
    # HJ 212 gateway: a short first-frame deadline and a small per-address cap, so
    # tests/security/test_gateway.py sees them act within seconds
    "OUTFALL_HJ212_FIRST_FRAME_S": "3",
    "OUTFALL_HJ212_MAX_CONNECTIONS_PER_IP": "16",
    # Reverse control: short answer timeouts (1 s, one retry) so refused and unanswered commands end
    # within seconds in tests/e2e/test_hj212_commands.py
    "OUTFALL_HJ212_COMMAND_OVER_TIME_S": "1",
    "OUTFALL_HJ212_COMMAND_RE_COUNT": "1",
    "OUTFALL_HJ212_COMMAND_EXEC_TIMEOUT_S": "10",
    "OUTFALL_HJ212_COMMAND_POLL_S": "0.2",
    # The secret store's key (receivers' signing secrets are sealed under it), as `outfall run` makes one.
    "OUTFALL_SECRET_KEY": "5e" * 32,
    "OUTFALL_SMTP_STARTTLS": "false",  # local test SMTP servers speak plain SMTP
    # Chat robots count their rate per 8 s instead of per minute, so a burst's digests drain in seconds
    "OUTFALL_ROBOT_WINDOW_S": "8",
}

# A small park whose points report every 2 s; `{id}` is replaced by a unique park id.
E2E_PARK = """
id: {id}
name: End-to-end park
timezone: Asia/Shanghai
industry: electroplating
standard: GB21900-2008-T2
plants:
  - id: shop-01
    name: Shop one
    points:
      - id: workshop
        kind: workshop_outlet
        interval_s: 2
        mn: "{mn}"
        parameters: {{cr_total: mg/L, ni: mg/L, ph: pH}}
      - id: total
        kind: total_outlet
        interval_s: 2
        parameters: {{cod: mg/L, nh3_n: mg/L, ph: pH, flow: L/s}}
"""

LOG_TAIL_LINES = 40
LEADER_LINE = "compliance leader: scheduler and real-time consumer running"  # compliance/scheduler.py


class System:
    """The running system and the helpers the end-to-end tests drive it with."""

    def __init__(self, services: Services, database_url: str, root: Path) -> None:
        self.services, self.database_url, self.root = services, database_url, root
        self.api_port, self.hj212_port = free_port(), free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.broker = LocalMosquitto(root / "mosquitto", free_port(), auth=root / "broker")
        self.credentials_file = root / "credentials.json"
        self.settings = dict(E2E_SETTINGS)
        self.env = {
            **os.environ,
            **self.settings,
            "OUTFALL_DATABASE_URL": database_url,
            "OUTFALL_MQTT_URL": self.broker.url,
            "OUTFALL_API_HOST": "127.0.0.1",
            "OUTFALL_API_PORT": str(self.api_port),
            "OUTFALL_HJ212_HOST": "127.0.0.1",
            "OUTFALL_HJ212_PORT": str(self.hj212_port),
            **broker_env(self.broker, root),
            "OUTFALL_BROKER_SYNC_S": "1",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.token = ""
        self._publishers: dict[str, Publisher] = {}

    # -- processes -------------------------------------------------------------------------------
    def outfall(
        self, *args: str, timeout: float = 120, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> str:
        """Run a one-shot `outfall` command to completion (``env``: settings of this run only); its output,
        or a failure with it."""
        done = subprocess.run(
            [sys.executable, "-m", "outfall", *args],
            env={**self.env, **(env or {})},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=stdin,
        )
        assert done.returncode == 0, f"outfall {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start_process(self, name: str) -> None:
        proc = processes.BY_NAME[name]
        assert name not in self.procs or self.procs[name].poll() is not None, f"{name} is running"
        log = (self.root / f"{name}.log").open("ab")
        log.write(f"\n=== start {time.strftime('%H:%M:%S')} ===\n".encode())
        log.flush()
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "outfall", *proc.args],
            env={**self.env, **proc.env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def stop_process(self, name: str, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(sig)
        proc.wait(timeout=timeout)

    def running(self, name: str) -> bool:
        return name in self.procs and self.procs[name].poll() is None

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log_text(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def compliance_leader(self) -> str | None:
        """The running compliance process that holds leadership, from its own log (no interface reports
        the leader yet): the one whose latest start logged taking the lead."""
        for name in ("compliance-1", "compliance-2"):
            current = self.log_text(name).rsplit("=== start", 1)[-1]
            if self.running(name) and LEADER_LINE in current:
                return name
        return None

    def log_tails(self, lines: int = LOG_TAIL_LINES) -> str:
        out = []
        for path in sorted(self.root.glob("*.log")):
            tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            state = "running" if self.running(path.stem) else "stopped"
            out.append(f"--- {path.name} ({state}) ---\n" + "\n".join(tail))
        if self.broker.log_file.exists():
            tail = self.broker.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            out.append("--- mosquitto.log ---\n" + "\n".join(tail))
        return "\n".join(out)

    # -- interfaces ------------------------------------------------------------------------------
    def load_park(self, yaml_text: str = E2E_PARK) -> str:
        """Load a park file (a template with `{id}` and optionally `{mn}`) through `outfall park load`
        under a unique park id, give its loggers credentials (`outfall broker provision`, which reloads
        the broker), and give each point with an MN the HJ 212 PW the tests' frames carry
        (TEST_HJ212_PW, replacing the provisioned one), as commissioning its logger does; returns the id."""
        park_id = unique_id("e2e")
        path = self.root / f"{park_id}.yaml"
        text = yaml_text.format(id=park_id, mn=unique_id("mn").replace("-", ""))
        path.write_text(text, encoding="utf-8")
        self.outfall("park", "load", str(path))
        self.outfall("broker", "provision", park_id, "--credentials", str(self.credentials_file))
        with psycopg.connect(self.database_url) as conn:
            issue_hj212_pws(conn, park_file.parse(text))
        return park_id

    def credentials(self, park: str, plant: str, point: str) -> dict[str, str]:
        """The point's logger credentials from the file `outfall broker provision` wrote."""
        known: dict[str, dict[str, str]] = orjson.loads(self.credentials_file.read_bytes())
        return known[f"{park}/{plant}/{point}"]

    def connect(self, login: tuple[str, str] | None, client_id: str | None = None) -> Publisher:
        """A new QoS 1 client of the system's broker (not waited for: see ``wait_connected``)."""
        return Publisher("127.0.0.1", self.broker.port, login, client_id)

    def publisher(self, park: str, plant: str, point: str) -> Publisher:
        """The point's data logger: one connection, logged in with its own credentials."""
        key = f"{park}/{plant}/{point}"
        if key not in self._publishers:
            creds = self.credentials(park, plant, point)
            pub = self.connect((creds["mqtt_username"], creds["mqtt_password"]))
            pub.wait_connected()
            self._publishers[key] = pub
        return self._publishers[key]

    def publish(
        self,
        park: str,
        plant: str,
        point: str,
        ts: datetime,
        values: dict[str, float],
        flags: dict[str, str] | None = None,
    ) -> None:
        """One JSON v1 message at QoS 1, as a data logger sends it; returns once the broker has it."""
        assert ts.tzinfo is not None, "JSON v1 times carry an offset"
        body: dict[str, Any] = {"ts": ts.isoformat(), "values": values}
        if flags:
            body["flags"] = flags
        publisher = self.publisher(park, plant, point)
        publisher.publish(f"outfall/v1/{park}/{plant}/{point}", orjson.dumps(body))
        publisher.flush()
        assert not publisher.refused, f"the broker refused {park}/{plant}/{point}: {publisher.refused}"

    def receiver_secret(self, park: str, subscription: str) -> str:
        """A new signing secret for a webhook subscription, through `outfall receiver secret set
        --generate` (which prints it once, last); the secret a receiver checks signatures with."""
        out = self.outfall(
            "receiver", "secret", "set", f"{park}/{subscription}", "webhook-secret", "--generate"
        )
        return out.strip().splitlines()[-1]

    def publish_raw(
        self, park: str, plant: str, point: str, payload: bytes, topic: str | None = None
    ) -> None:
        """Any bytes (junk included) as the point's data logger sends them, on its JSON v1 topic or on
        ``topic`` (e.g. its ``outfall/hj212/{MN}``), at QoS 1; returns once the broker has them."""
        publisher = self.publisher(park, plant, point)
        publisher.publish(topic or f"outfall/v1/{park}/{plant}/{point}", payload)
        publisher.flush()

    def try_publish(
        self, park: str, plant: str, point: str, payload: bytes, topic: str | None = None, wait: float = 10
    ) -> bool:
        """Publish once as the point's data logger on a connection of its own, closed afterwards: True
        when the broker acknowledged the message, False when it refused it (it closes the connection
        of a client that sends a packet over its max_packet_size), within ``wait`` seconds."""
        # The broker makes the login the client id: one connection per logger at a time.
        cached = self._publishers.pop(f"{park}/{plant}/{point}", None)
        if cached is not None:
            cached.close(timeout=5)
        creds = self.credentials(park, plant, point)
        once = self.connect((creds["mqtt_username"], creds["mqtt_password"]))
        try:
            once.wait_connected()
            once.publish(topic or f"outfall/v1/{park}/{plant}/{point}", payload)
            deadline = time.monotonic() + wait
            while once.acked < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            return once.acked >= 1
        finally:
            once.client.disconnect()
            once.client.loop_stop()

    def api_get(self, path: str, **params: Any) -> Any:
        """GET an API path with the admin token; the decoded JSON (fails on a non-2xx answer)."""
        params = {k.rstrip("_"): v for k, v in params.items() if v is not None}  # from_ -> from
        answer = httpx.get(
            self.api_url + path,
            params=params,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert answer.is_success, f"GET {path} {params}: {answer.status_code} {answer.text}"
        return answer.json()

    def alerts(self, park: str, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api_get("/api/v1/alerts", park=park, **params)
        return found

    @staticmethod
    def wait_for(
        fn: Callable[[], T], timeout: float = 30, message: str = "condition", interval: float = 0.2
    ) -> T:
        """Poll `fn` until it returns something truthy; that value. A costly `fn` (a monthly report)
        polls less often, or the polling itself slows the system under test."""
        return wait_for(fn, timeout=timeout, interval=interval, message=message)  # type: ignore[return-value]

    def healthy(self) -> bool:
        try:
            return httpx.get(self.api_url + "/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False


def free_port() -> int:
    from ingest.core.localservices import free_port as _free

    return _free()


def _own_database(services: Services, name: str) -> str:
    """A database of the system's own on the session's server (the same server when none can be
    created, e.g. on services given by OUTFALL_DATABASE_URL without CREATEDB)."""
    try:
        with psycopg.connect(services.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error:
        return services.database_url
    return psycopg.conninfo.make_conninfo(services.database_url, dbname=name)


_RUNNING: list[System] = []


@pytest.fixture(scope="session")
def system(services: Services) -> Iterator[System]:
    root = ROOT / ".local" / f"e2e-{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    sysm = System(services, _own_database(services, f"e2e_{os.getpid()}"), root)
    _RUNNING.append(sysm)
    try:
        sysm.broker.start()
        for step in processes.MIGRATE.steps:  # the table's migrate step, as compose runs it
            sysm.outfall(*step)
        for proc in processes.PROCESSES:
            if not proc.demo:
                sysm.start_process(proc.name)
        out = sysm.outfall("token", "create", "--role", "admin")
        sysm.token = out.split(": ", 1)[1].split()[0]
        try:
            sysm.wait_for(sysm.healthy, timeout=90, message="GET /healthz 200")
        except AssertionError:
            raise AssertionError("the system did not become healthy\n" + sysm.log_tails()) from None
        yield sysm
    finally:
        for publisher in sysm._publishers.values():
            with contextlib.suppress(AssertionError):  # a test may have ended its login
                publisher.close(timeout=5)
        sysm.stop_all()
        sysm.broker.stop()
        _RUNNING.remove(sysm)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _RUNNING:
        report.sections.append(("end-to-end process logs (tails)", _RUNNING[0].log_tails()))
