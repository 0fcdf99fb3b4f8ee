"""docker-compose.yml is hand-written YAML; this keeps it to the process table (outfall/processes.py):
the same services, the same commands, the table's environment, and a restart policy for each."""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from outfall import processes
from tests.support import ROOT

# Services that are not Outfall processes: the official images of the database, the broker and the
# TLS proxy in front of the API.
INFRASTRUCTURE = {"db", "broker", "proxy"}
# Environment a container needs and a local process must not have: the API listens on every interface
# inside its container, on 127.0.0.1 under `outfall run`; the demo's TCP loggers reach the gateway by its
# service name.
DEPLOYMENT_ONLY = {
    "api": {"OUTFALL_API_HOST": "0.0.0.0"},
    "simulator-hj212": {"OUTFALL_SIMULATOR_GATEWAY": "hj212:8212"},  # `outfall run` sets its own
}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return loaded


def test_compose_lists_every_process_of_the_table() -> None:
    services = _compose()["services"]
    table = {p.name for p in processes.PROCESSES} | {processes.MIGRATE.name}
    assert set(services) - INFRASTRUCTURE == table


def test_compose_commands_are_the_tables() -> None:
    services = _compose()["services"]
    for proc in processes.PROCESSES:
        assert services[proc.name]["command"] == list(proc.args), proc.name
        assert services[proc.name].get("restart") == "unless-stopped", proc.name
        assert ("demo" in services[proc.name].get("profiles", [])) == proc.demo, proc.name
    steps = " && ".join(shlex.join(("outfall", *step)) for step in processes.MIGRATE.steps)
    assert services["migrate"]["entrypoint"] == ["sh", "-c", steps]


def test_compose_environment_is_the_tables() -> None:
    compose = _compose()
    common = compose["x-outfall-env"]
    for proc in [*processes.PROCESSES, processes.MIGRATE]:
        env = compose["services"][proc.name]["environment"]
        table_env = getattr(proc, "env", {})
        expected = {**common, **table_env, **DEPLOYMENT_ONLY.get(proc.name, {})}
        assert env == expected, proc.name


def test_table_names_and_client_ids_are_unique() -> None:
    names = [p.name for p in processes.PROCESSES]
    assert len(names) == len(set(names))
    ids = [p.env["OUTFALL_INGEST_CLIENT_ID"] for p in processes.PROCESSES if p.args == ("ingest",)]
    assert len(ids) == len(set(ids)) == 2
    assert {p.env["OUTFALL_INGEST_SHARE_GROUP"] for p in processes.PROCESSES if p.args == ("ingest",)} == {
        "ingest"
    }
    assert sum(p.args == ("compliance",) for p in processes.PROCESSES) == 2  # leader and standby
