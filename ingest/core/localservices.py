"""Private PostgreSQL+TimescaleDB and Mosquitto instances for `outfall run` and the tests.

Each instance lives in its own directory (git-ignored ``.local/``) on its own port, so the project never
depends on whatever services the machine already runs. `deploy/install-deps.sh` installs the binaries.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PG_CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_connections = 200
shared_buffers = 512MB
work_mem = 16MB
maintenance_work_mem = 256MB
max_wal_size = 4GB
checkpoint_timeout = 15min
wal_compression = on
log_min_messages = warning
logging_collector = off
"""

MOSQUITTO_CONF = """
persistence true
persistence_location {data}/
pid_file {data}/mosquitto.pid
user {user}
autosave_interval 30
persistent_client_expiration 14d
# The default (1000 queued messages per offline persistent session) drops data while a worker is
# down; keep everything instead and let the persistent store grow.
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 0
# A JSON v1 message or an HJ 212 frame is a few kB; the ingest worker bounds its memory against this.
max_packet_size 262144
set_tcp_nodelay true
log_dest file {data}/mosquitto.log
log_type error
log_type warning
"""

ANONYMOUS_LISTENER = """
listener {port} 127.0.0.1
allow_anonymous true
"""

# The broker of `outfall run` and the end-to-end system: accounts and ACL written by `outfall broker sync`
# (ingest/mqtt/accounts.py) into {auth}. Refused connections are logged (notice), and so are every
# reload (information) and every subscription (so a subscription to `#` leaves a trace); denied
# publishes are answered with reason 135 and logged only at debug level by Mosquitto 2.0.
AUTH_LISTENER = """
per_listener_settings false
allow_anonymous false
password_file {auth}/passwd
acl_file {auth}/acl
log_type notice
log_type information
log_type subscribe
listener {port} 127.0.0.1
use_username_as_clientid true
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f} s")


def _pg_bindir() -> Path:
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*") if (p / "bin/postgres").exists()), key=lambda p: int(p.name))
    if not versions:
        raise RuntimeError("PostgreSQL server binaries not found; run deploy/install-deps.sh")
    return versions[-1] / "bin"


def _as_pg_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; drop to the packaged 'postgres' user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class LocalPostgres:
    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://outfall@127.0.0.1:{self.port}/outfall"

    def init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.data_dir, pg.pw_uid, pg.pw_gid)
        initdb = [str(_pg_bindir() / "initdb"), "-D", str(self.data_dir), "-U", "outfall", "--auth=trust"]
        subprocess.run(
            _as_pg_user([*initdb, "-E", "UTF8", "--locale=C.UTF-8"]), check=True, capture_output=True
        )

    def start(self) -> None:
        self.init()
        (self.data_dir / "postgresql.auto.conf").write_text(PG_CONF.format(port=self.port))
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.data_dir / "postgresql.auto.conf", pg.pw_uid, pg.pw_gid)
        self._ctl("start", "-w", "-t", "60", "-l", str(self.data_dir / "server.log"))
        self._create_database()

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._ctl("stop", "-w", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self._ctl("start", "-w", "-t", "60", "-l", str(self.data_dir / "server.log"))

    def _ctl(self, *args: str) -> None:
        cmd = _as_pg_user([str(_pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), *args])
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _create_database(self) -> None:
        psql = [
            str(_pg_bindir() / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "outfall",
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = subprocess.run(
            [*psql, "SELECT 1 FROM pg_database WHERE datname = 'outfall'"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not exists:
            subprocess.run([*psql, "CREATE DATABASE outfall"], check=True, capture_output=True)


@dataclass
class LocalMosquitto:
    """A private broker. With ``auth`` (a folder holding ``passwd`` and ``acl``, written by `outfall broker
    sync`) it refuses anonymous clients and applies the ACL; without, it is open (the in-process component
    tests and the benchmark). Until the files exist it starts with empty ones: nobody may connect."""

    data_dir: Path
    port: int
    auth: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "mosquitto.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "mosquitto.log"

    def config(self) -> str:
        text = MOSQUITTO_CONF.format(data=self.data_dir, user=getpass.getuser())
        if self.auth is None:
            return text + ANONYMOUS_LISTENER.format(port=self.port)
        self.auth.mkdir(parents=True, exist_ok=True)
        for name in ("passwd", "acl"):
            if not (self.auth / name).exists():
                (self.auth / name).touch(mode=0o600)
        return text + AUTH_LISTENER.format(port=self.port, auth=self.auth)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("mosquitto not found; run deploy/install-deps.sh")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(self.config())
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, 15, "mosquitto")

    def stop(self) -> None:
        if self.proc is None:
            return
        # SIGTERM makes mosquitto write its persistent store (sessions and queued messages) to disk.
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class LocalServices:
    postgres: LocalPostgres | None
    mosquitto: LocalMosquitto | None


@contextlib.contextmanager
def local_services(
    root: Path,
    *,
    need_db: bool,
    need_mqtt: bool,
    pg_port: int,
    mqtt_port: int,
    fresh: bool = False,
    broker_auth: bool = False,
) -> Iterator[LocalServices]:
    """Start whichever private services are needed; stop them on exit, whatever happens. With
    ``broker_auth`` the broker takes its accounts and ACL from ``root/broker`` (see LocalMosquitto)."""
    if fresh and root.exists():
        shutil.rmtree(root)
    root = root.resolve()
    pg = LocalPostgres(root / "pg", pg_port) if need_db else None
    auth = root / "broker" if broker_auth else None
    mq = LocalMosquitto(root / "mosquitto", mqtt_port, auth) if need_mqtt else None
    try:
        if pg is not None:
            log.info("starting private PostgreSQL on port %d (%s)", pg_port, pg.data_dir)
            pg.start()
        if mq is not None:
            log.info("starting private Mosquitto on port %d (%s)", mqtt_port, mq.data_dir)
            mq.start()
        yield LocalServices(pg, mq)
    finally:
        if mq is not None:
            mq.stop()
        if pg is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                pg.stop()


def stop_orphans(parent: Path, prefix: str) -> list[Path]:
    """Stop the services of ``parent/<prefix><pid>`` folders whose owning process is gone (a test run
    killed before its clean-up ran), and remove the folders. Returns the folders cleaned."""
    cleaned = []
    for folder in sorted(parent.glob(f"{prefix}*")):
        suffix = folder.name[len(prefix) :]
        if not suffix.isdigit() or _alive(int(suffix)):
            continue
        if (folder / "pg" / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError, RuntimeError):
                LocalPostgres(folder / "pg", 0).stop("immediate")
        pid_file = folder / "mosquitto" / "mosquitto.pid"
        if pid_file.exists():
            with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)
        cleaned.append(folder)
    return cleaned


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
