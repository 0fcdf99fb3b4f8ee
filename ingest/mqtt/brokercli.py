"""`outfall logger issue|rotate|revoke` and `outfall broker sync|provision`: the broker's accounts from
the command line (ingest/mqtt/accounts.py holds the rules; this module parses and prints).

A new secret is printed once and kept nowhere in clear. After a change the broker files are rewritten
and the broker reloaded at once when OUTFALL_BROKER_DIR (and OUTFALL_BROKER_PID_FILE) are set; otherwise
the running `outfall broker sync` picks the change up within OUTFALL_BROKER_SYNC_S.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg

from ingest.core import secrets
from ingest.core.settings import BrokerSettings, MqttSettings
from ingest.mqtt import accounts

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"duration {text!r}: use a number and s, m, h or d, e.g. 24h")
    return timedelta(seconds=float(match[1]) * _SECONDS[match[2]])


def point_path(text: str) -> tuple[str, str, str]:
    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r}: give the point as PARK/PLANT/POINT")
    return parts[0], parts[1], parts[2]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logger = sub.add_parser("logger", help="a data logger's secrets: MQTT password, HJ 212 PW")
    logger_sub = logger.add_subparsers(dest="logger_command", required=True)
    for action, text in (
        ("issue", "issue the first secret (refused when one is live: use rotate)"),
        ("rotate", "issue a new secret; the old one stays valid for --overlap"),
        ("revoke", "end every generation of the secret now"),
    ):
        cmd = logger_sub.add_parser(action, help=text)
        cmd.add_argument("point", type=point_path, help="PARK/PLANT/POINT")
        cmd.add_argument("--what", choices=("mqtt", "hj212-pw"), default="mqtt", help="which secret (mqtt)")
        if action == "rotate":
            cmd.add_argument(
                "--overlap", type=duration, default=timedelta(hours=24), help="e.g. 24h (default)"
            )
        cmd.set_defaults(logger_action=action)
    broker = sub.add_parser("broker", help="the broker's password file and ACL")
    broker_sub = broker.add_subparsers(dest="broker_command", required=True)
    sync = broker_sub.add_parser("sync", help="keep the broker files in step with the store and registry")
    sync.add_argument(
        "--once", action="store_true", help="write them once (and the service accounts), then exit"
    )
    prov = broker_sub.add_parser("provision", help="local development: secrets for every logger of a park")
    prov.add_argument("park")
    prov.add_argument("--credentials", type=Path, required=True, help="the JSON credentials file (0600)")


def logger_command(args: argparse.Namespace, database_url: str) -> int:
    park, plant, point = args.point
    with psycopg.connect(database_url) as conn:
        try:
            found = accounts.find_point(conn, park, plant, point)
        except LookupError as exc:
            raise SystemExit(f"outfall logger {args.logger_action}: {exc}") from None
        name = f"logger/{park}/{plant}/{point}/{args.what}"
        if args.logger_action == "revoke":
            ended = secrets.revoke(conn, name)
            print(f"revoked {name}: {ended} live generation(s) ended")
        elif args.logger_action == "issue" and secrets.live_for(conn, name):
            raise SystemExit(f"outfall logger issue: {name} has a live secret; use `outfall logger rotate`")
        else:
            overlap = getattr(args, "overlap", timedelta(0))
            new = accounts.issue_logger(
                conn, found, args.what, f"outfall logger {args.logger_action}", overlap
            )
            _print_issued(new, overlap if args.logger_action == "rotate" else None)
    _sync_now(database_url)
    return 0


def _print_issued(new: accounts.Issued, overlap: timedelta | None) -> None:
    print(f"secret   : {new.name} (generation {new.generation})")
    if new.username:
        print(f"username : {new.username}")
    print(f"password : {new.password}")
    if overlap is not None:
        print(f"The previous secret stays valid for {overlap}.")
    print("The password is shown once; only its hash is stored.")


def _sync_now(database_url: str) -> None:
    settings = BrokerSettings()
    if settings.dir is None:
        print("OUTFALL_BROKER_DIR is not set: the running `outfall broker sync` applies the change")
        return
    with psycopg.connect(database_url) as conn:
        accounts.sync(conn, settings)


def broker_command(args: argparse.Namespace, database_url: str, services: list[str]) -> int:
    """``services``: the ingest service accounts' usernames (from the process table)."""
    if args.broker_command == "provision":
        with psycopg.connect(database_url) as conn:
            issued = accounts.provision(conn, args.park, args.credentials)
        print(f"park {args.park}: {issued} secret(s) issued; credentials in {args.credentials}")
        _sync_now(database_url)
        return 0
    settings = BrokerSettings()
    if args.once:
        once(database_url, settings, services, MqttSettings().mqtt_secrets_dir)
        return 0
    return run_sync(database_url, settings, threading.Event())


def once(database_url: str, settings: BrokerSettings, services: list[str], folder: Path | None) -> None:
    """The service accounts' passwords (files in ``folder``, OUTFALL_MQTT_SECRETS_DIR), then the broker
    files."""
    with psycopg.connect(database_url) as conn:
        if folder is not None:
            issued = accounts.ensure_services(conn, services, folder)
            if issued:
                log.info("service accounts issued: %s (passwords in %s)", ", ".join(issued), folder)
        else:
            log.warning("OUTFALL_MQTT_SECRETS_DIR is not set: no service account passwords written")
    with psycopg.connect(database_url) as conn:
        accounts.sync(conn, settings)


def run_sync(database_url: str, settings: BrokerSettings, stop: threading.Event) -> int:
    """Re-render the files every ``sync_s``: an issued, rotated or revoked secret, an overlap that ended,
    a point added or retired reaches the broker without anyone restarting it."""
    _on_signals(stop.set)
    if settings.dir is None:
        log.warning("OUTFALL_BROKER_DIR is not set (a broker without our accounts): nothing to do")
        stop.wait()
        return 0
    log.info("keeping %s in step with the secret store every %.0f s", settings.dir, settings.sync_s)
    confirmed: tuple[float, ...] = ()
    while not stop.is_set():
        try:
            with psycopg.connect(database_url, connect_timeout=5) as conn:
                changed = accounts.sync(conn, settings)
            confirmed = _confirm_reload(settings, changed, confirmed)
        except (psycopg.Error, OSError) as exc:
            log.warning("broker files not refreshed: %s", exc)
        stop.wait(settings.sync_s)
    return 0


def _confirm_reload(
    settings: BrokerSettings, changed: bool, confirmed: tuple[float, ...]
) -> tuple[float, ...]:
    """Reload the broker once more, a round after its files changed (here or by a CLI command):
    Mosquitto keeps one pending-reload flag and clears it when a reload ends, so a SIGHUP that arrives
    during a reload is lost, and with it the change that sent it. Returns the files' confirmed stamp."""
    assert settings.dir is not None
    stamp = accounts.files_stamp(settings.dir)
    if stamp == confirmed or changed:
        return confirmed  # unchanged, or just reloaded: confirm at the next round
    if settings.pid_file is not None:
        accounts.reload(settings.pid_file)
    return stamp


def _on_signals(handler: Callable[[], None]) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _s, _f: handler())
