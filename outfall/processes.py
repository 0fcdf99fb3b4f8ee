"""THE process table: every process of a deployment with its wiring.

`outfall run` (outfall/supervisor.py), the end-to-end tests (tests/e2e) and `docker-compose.yml` all
come from this table; tests/test_process_table.py fails when the compose file drifts from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SAMPLE_PARK_FILE = "simulators/parks/electroplating.yaml"  # relative to the repository (the image's /app)


@dataclass(frozen=True)
class OneShot:
    """A task run to completion before the long-running processes start (migrations)."""

    name: str
    steps: tuple[tuple[str, ...], ...]  # `outfall` subcommand args, run in order, each must succeed


@dataclass(frozen=True)
class Process:
    """A long-running process: `outfall <args>` with these environment overrides."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    demo: bool = False  # only in demos (`outfall run`, compose profile `demo`), never in tests

    def __hash__(self) -> int:
        return hash(self.name)


def migrate(park_files: tuple[str, ...] = (SAMPLE_PARK_FILE,)) -> OneShot:
    """Schema, parks, then the broker's accounts: service account passwords and the password file and
    ACL (ingest/mqtt/accounts.py), so the broker starts with them."""
    parks = tuple(("park", "load", f) for f in park_files)
    return OneShot("migrate", (("db", "upgrade"), *parks, ("broker", "sync", "--once")))


def _ingest(n: int) -> Process:
    # Workers split the stream through an MQTT 5 shared subscription; each needs its own stable client
    # id, under which the broker keeps its persistent session (and the messages queued for it). The
    # broker makes the client id the username (use_username_as_clientid), so the worker logs in as a
    # service account of that name: nobody else can take its session over.
    client_id = f"outfall-ingest-{n}"
    env = {
        "OUTFALL_INGEST_SHARE_GROUP": "ingest",
        "OUTFALL_INGEST_CLIENT_ID": client_id,
        "OUTFALL_MQTT_USERNAME": client_id,
    }
    return Process(f"ingest-{n}", ("ingest",), env)


HJ212_2025 = ("simulate", "--protocol", "hj212", "--edition", "2025", "--transport", "tcp")
MIGRATE = migrate()
PROCESSES: tuple[Process, ...] = (
    _ingest(1),
    _ingest(2),
    Process("hj212", ("hj212", "serve")),
    # Leader and standby: the PostgreSQL advisory lock picks the leader; the other takes over when the
    # leader's session ends.
    Process("compliance-1", ("compliance",), {"OUTFALL_COMPLIANCE_INSTANCE": "compliance-1"}),
    Process("compliance-2", ("compliance",), {"OUTFALL_COMPLIANCE_INSTANCE": "compliance-2"}),
    Process("api", ("api",)),
    # Rewrites the broker's password file and ACL when a secret is issued, rotated or revoked, or an
    # overlap ends, and has the broker reload them (no restart, no client of an unchanged account lost).
    Process("broker-sync", ("broker", "sync")),
    # The demo's loggers: JSON v1 over MQTT, but those the park file says speak HJ 212-2025
    # (config.hj212.edition / edition_points: shops 01-04 of the sample park), which upload over TCP to
    # the gateway, SM4-encrypted, with heartbeats. Both simulate the whole park from the same seed and
    # start and send their share; with a park of no 2025 logger, simulator-hj212 has nothing to send.
    Process("simulator", ("simulate", "--speed", "1", "--live", "--skip-edition", "2025"), demo=True),
    Process(
        "simulator-hj212",
        (*HJ212_2025, "--speed", "1", "--live", "--only-edition", "2025"),
        {"OUTFALL_SIMULATOR_HEARTBEAT_S": "20"},
        demo=True,
    ),
)
BY_NAME = {p.name: p for p in PROCESSES}


def service_accounts() -> list[str]:
    """The broker usernames of the processes that read the stream (the ingest workers)."""
    return [p.env["OUTFALL_MQTT_USERNAME"] for p in PROCESSES if "OUTFALL_MQTT_USERNAME" in p.env]
