"""`outfall run`: the whole system on one machine.

Starts private TimescaleDB and Mosquitto instances when OUTFALL_DATABASE_URL / OUTFALL_MQTT_URL are not
set, migrates, loads the park files, then runs ingest, the API and the simulator as child processes.
Ctrl-C (or SIGTERM) stops the children, then the services it started.
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
from pathlib import Path
from types import FrameType

from api import tokens
from api.cli import db_upgrade, park_load
from api.settings import ApiSettings
from ingest.localservices import free_port, local_services
from ingest.settings import DatabaseSettings, MqttSettings

log = logging.getLogger("outfall.run")

LOCAL_ROOT = Path(".local/run")
DEFAULT_PG_PORT = 54329
DEFAULT_MQTT_PORT = 18830
DEFAULT_HJ212_PORT = 8212


def _port_or_free(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def _spawn(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], env=env)


def _is_simulator(child: subprocess.Popen[bytes]) -> bool:
    return "simulators" in list(map(str, child.args))  # type: ignore[arg-type]


def run_all(args: argparse.Namespace) -> int:
    from simulators.__main__ import demo_scenario_path, sample_park_path

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
    ) as svc:
        db_url = db_url or (svc.postgres.url if svc.postgres else "")
        mqtt_url = mqtt_url or (svc.mosquitto.url if svc.mosquitto else "")
        db_upgrade(db_url)
        parks = args.park or [sample_park_path()]
        for path in parks:
            park_load(db_url, path)
        # A session token for the demo, in the dashboard link; revoked when `outfall run` stops.
        token_id, token = tokens.create(db_url, "admin", None, None, "outfall-run session")
        api = ApiSettings()
        hj212_host = os.environ.get("OUTFALL_HJ212_HOST", "127.0.0.1")
        hj212_port = int(os.environ.get("OUTFALL_HJ212_PORT") or _port_or_free(DEFAULT_HJ212_PORT))
        env = {
            **os.environ,
            "OUTFALL_DATABASE_URL": db_url,
            "OUTFALL_MQTT_URL": mqtt_url,
            "OUTFALL_HJ212_HOST": hj212_host,
            "OUTFALL_HJ212_PORT": str(hj212_port),
        }
        children = [_spawn(env, "-m", "api.cli", "ingest"), _spawn(env, "-m", "api")]
        children.append(_spawn(env, "-m", "api.cli", "hj212", "serve"))  # HJ 212 data loggers over TCP
        children.append(_spawn(env, "-m", "api.cli", "compliance"))  # rules, alerts, scheduler, notify
        if not args.no_simulator:
            sim = ["-m", "simulators", "--park", str(parks[0]), "--speed", str(args.speed), "--live"]
            scenario = args.scenario or (None if args.park else demo_scenario_path())
            if scenario is not None:
                sim += ["--scenario", str(scenario)]
            children.append(_spawn(env, *sim))
        base = f"http://{api.host}:{api.port}"
        lines = [
            "",
            "Outfall is running.",
            f"  Dashboard   : {base}/#token={token}",
            f"  API         : {base}/api/v1  (OpenAPI docs: {base}/docs)",
            f"  Health      : {base}/healthz",
            f"  MQTT broker : {mqtt_url}",
            f"  HJ 212 TCP  : {hj212_host}:{hj212_port}",
            f"  Database    : {db_url}",
            "The dashboard link signs you in with a session token (admin) that is revoked when this stops.",
            "Press Ctrl-C to stop.",
            "",
        ]
        print("\n".join(lines), flush=True)
        try:
            while not stop:
                dead = [c for c in children if c.poll() is not None and not _is_simulator(c)]
                if dead:
                    log.error("a service process exited (%s); stopping", dead[0].args)
                    break
                time.sleep(0.5)
        finally:
            _terminate(children)
            tokens.revoke(db_url, token_id)
    return 0


def _terminate(children: list[subprocess.Popen[bytes]]) -> None:
    # The simulator first, so that what it publishes while draining is still ingested before ingest stops.
    for group in ([c for c in children if _is_simulator(c)], [c for c in children if not _is_simulator(c)]):
        _stop_all(group)


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=20)
        if child.poll() is None:
            child.kill()
            child.wait()
