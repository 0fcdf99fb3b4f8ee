"""`outfall run`: the whole system on one machine, from the process table (outfall/processes.py).

Starts private TimescaleDB and Mosquitto instances when OUTFALL_DATABASE_URL / OUTFALL_MQTT_URL are not
set, runs the migrate step, then every long-running process of the table as a child process. A child
that dies is logged and restarted after a short backoff (the others keep running). Ctrl-C (or SIGTERM)
stops the children, then the services it started.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

import psycopg

from api import tokens
from api.settings import ApiSettings
from ingest.core.localservices import LocalMosquitto, free_port, local_services
from ingest.core.settings import BrokerSettings, DatabaseSettings, MqttSettings
from ingest.mqtt import accounts, brokercli
from outfall import processes
from outfall.processes import Process
from outfall.tasks import db_upgrade, park_load, resume_time, secret_key_env
from simulators.plan import LIVE_BACKFILL

log = logging.getLogger("outfall.run")

LOCAL_ROOT = Path(".local/run")
DEFAULT_PG_PORT = 54329
DEFAULT_MQTT_PORT = 18830
DEFAULT_HJ212_PORT = 8212
BACKOFF_S = (1.0, 2.0, 5.0, 10.0)  # between restarts of a process that keeps dying
STABLE_S = 60.0  # a process that ran this long starts again from the first backoff step
# The session token in the dashboard link lives this long and is renewed every SESSION_RENEW_S while
# `outfall run` runs: killed (no chance to revoke it), the session's token dies within SESSION_TOKEN_TTL.
SESSION_TOKEN_TTL = timedelta(minutes=10)
SESSION_RENEW_S = 60.0


def _port_or_free(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


@dataclass
class Child:
    """One process of the table under supervision."""

    process: Process
    args: tuple[str, ...]
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        self.popen = subprocess.Popen([sys.executable, "-m", "outfall", *self.args], env=self.env)
        self.started, self.restart_at = time.monotonic(), None

    def check(self, now: float) -> None:
        """Restart a child that died, after a backoff that grows while it keeps dying."""
        if self.popen is None or self.restart_at is not None:
            if self.restart_at is not None and now >= self.restart_at:
                log.info("restarting %s", self.process.name)
                self.start()
            return
        code = self.popen.poll()
        if code is None:
            return
        if code == 0 and self.process.demo:
            self.popen = None  # the simulator finished its run: nothing to restart
            return
        self.failures = 1 if now - self.started >= STABLE_S else self.failures + 1
        delay = BACKOFF_S[min(self.failures, len(BACKOFF_S)) - 1]
        log.error("%s exited with status %s; restarting in %.0f s", self.process.name, code, delay)
        self.restart_at = now + delay


def broker_env(broker: LocalMosquitto, root: Path) -> dict[str, str]:
    """Where `outfall broker sync` writes the private broker's files and how it reloads it; where the
    ingest workers find their service account passwords."""
    assert broker.auth is not None
    return {
        "OUTFALL_BROKER_DIR": str(broker.auth),
        "OUTFALL_BROKER_PID_FILE": str(broker.pid_file),
        "OUTFALL_MQTT_SECRETS_DIR": str(root / "secrets"),
    }


def broker_accounts(db_url: str, env: dict[str, str], park_ids: list[str], credentials: Path) -> Path:
    """The table's migrate step for the broker (service accounts, password file and ACL, reloaded),
    after a password for every logger of the parks, kept in ``credentials`` for the demo simulator."""
    with psycopg.connect(db_url) as conn:
        issued = sum(accounts.provision(conn, park_id, credentials) for park_id in park_ids)
    log.info("logger credentials: %d secret(s) issued, all in %s", issued, credentials)
    settings = BrokerSettings(
        dir=Path(env["OUTFALL_BROKER_DIR"]), pid_file=Path(env["OUTFALL_BROKER_PID_FILE"])
    )
    brokercli.once(db_url, settings, processes.service_accounts(), Path(env["OUTFALL_MQTT_SECRETS_DIR"]))
    return credentials


def children(
    args: argparse.Namespace,
    env: dict[str, str],
    parks: list[Path],
    resume: datetime | None = None,
    credentials: Path | None = None,
) -> list[Child]:
    """The table's processes with their `outfall run` arguments. The demo simulator starts 3 h back,
    or where the park's stored data ends (``resume``) when that is more recent, and publishes as each
    logger with the ``credentials`` of `outfall broker provision` when the broker has accounts."""
    from simulators.__main__ import demo_scenario_path

    out = []
    for proc in processes.PROCESSES:
        argv = proc.args
        if proc.demo:
            if args.no_simulator:
                continue
            argv = (*argv, "--park", str(parks[0]), "--speed", str(args.speed))
            if credentials is not None:
                argv = (*argv, "--credentials", str(credentials))
            if resume is not None:
                argv = (*argv, "--start", resume.isoformat())
            scenario = args.scenario or (None if args.park else demo_scenario_path())
            if scenario is not None:
                argv = (*argv, "--scenario", str(scenario))
        out.append(Child(proc, argv, {**env, **proc.env}))
    return out


def _banner(token: str, mqtt_url: str, hj212: str, db_url: str) -> str:
    api = ApiSettings()
    base = f"http://{api.host}:{api.port}"
    lines = [
        "",
        "Outfall is running.",
        f"  Dashboard   : {base}/#token={token}",
        f"  API         : {base}/api/v1  (OpenAPI docs: {base}/docs)",
        f"  Health      : {base}/healthz",
        f"  MQTT broker : {mqtt_url}",
        f"  HJ 212 TCP  : {hj212}",
        f"  Database    : {db_url}",
        "The dashboard link signs you in with a session token (admin) that is revoked when this stops",
        f"(and expires within {SESSION_TOKEN_TTL.seconds // 60} minutes if this is killed).",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def run_all(args: argparse.Namespace) -> int:
    from simulators.__main__ import sample_park_path

    db_url, mqtt_url = DatabaseSettings().database_url, MqttSettings().mqtt_url
    root = Path(os.environ.get("OUTFALL_LOCAL_DIR", LOCAL_ROOT))
    stop = False

    def _stop(_sig: int, _frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with local_services(
        root,
        need_db=db_url is None,
        need_mqtt=mqtt_url is None,
        pg_port=_port_or_free(DEFAULT_PG_PORT),
        mqtt_port=_port_or_free(DEFAULT_MQTT_PORT),
        broker_auth=True,
    ) as svc:
        db_url = db_url or (svc.postgres.url if svc.postgres else "")
        mqtt_url = mqtt_url or (svc.mosquitto.url if svc.mosquitto else "")
        # The table's migrate step, with the park files given on the command line.
        db_upgrade(db_url)
        parks = args.park or [sample_park_path()]
        park_ids = [park_load(db_url, path) for path in parks]
        resume = resume_time(db_url, park_ids[0], LIVE_BACKFILL)
        # A session token for the demo, in the dashboard link; revoked when `outfall run` stops, renewed
        # while it runs, so it expires soon after a kill.
        token_id, token = tokens.create(db_url, "admin", None, None, "outfall-run session", SESSION_TOKEN_TTL)
        # the secret store's key (.local/secret.key, made once): for the children, and for this process,
        # which issues the demo loggers' credentials (SM4 keys are sealed under it)
        os.environ.update(secret_key_env())
        hj212_host = os.environ.get("OUTFALL_HJ212_HOST", "127.0.0.1")
        hj212_port = int(os.environ.get("OUTFALL_HJ212_PORT") or _port_or_free(DEFAULT_HJ212_PORT))
        env = {
            **os.environ,
            "OUTFALL_DATABASE_URL": db_url,
            "OUTFALL_MQTT_URL": mqtt_url,
            "OUTFALL_HJ212_HOST": hj212_host,
            "OUTFALL_HJ212_PORT": str(hj212_port),
            # where the demo's HJ 212 TCP loggers (simulator-hj212) connect
            "OUTFALL_SIMULATOR_GATEWAY": f"{_reachable(hj212_host)}:{hj212_port}",
        }
        credentials = None
        if svc.mosquitto is not None and svc.mosquitto.auth is not None:
            env |= broker_env(svc.mosquitto, root.resolve())
            credentials = broker_accounts(db_url, env, park_ids, root.resolve() / "credentials.json")
        kids = children(args, env, parks, resume, credentials)
        for kid in kids:
            kid.start()
        print(_banner(token, mqtt_url, f"{hj212_host}:{hj212_port}", db_url), flush=True)
        renewed = time.monotonic()
        try:
            while not stop:
                now = time.monotonic()
                for kid in kids:
                    kid.check(now)
                if now - renewed >= SESSION_RENEW_S:
                    renewed = now
                    with contextlib.suppress(OSError, psycopg.Error):  # tried again at the next renewal
                        tokens.renew(db_url, token_id, SESSION_TOKEN_TTL)
                time.sleep(0.5)
        finally:
            _terminate(kids)
            tokens.revoke(db_url, token_id)
    return 0


def _reachable(host: str) -> str:
    """The address a local client connects to for a server listening on ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 - compared, not bound


def _terminate(kids: list[Child]) -> None:
    # The simulator first, so that what it publishes while draining is still ingested before ingest stops.
    for group in ([k for k in kids if k.process.demo], [k for k in kids if not k.process.demo]):
        _stop_all([k.popen for k in group if k.popen is not None])


def _stop_all(popens: list[subprocess.Popen[bytes]]) -> None:
    for child in popens:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in popens:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=20)
        if child.poll() is None:
            child.kill()
            child.wait()
