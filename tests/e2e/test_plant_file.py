"""The plant file on the running system: a simulated HJ 212-2025 data logger (`outfall simulate
--protocol hj212 --edition 2025 --transport tcp`) reports through the gateway with its SM4 key; the
plant's file then shows its logger last seen now, with the edition of the frames it sent, the SM4 key
generation it holds (never the key), a clock in step, and its readings' limit sources; the plant's
operator reads the same file, another plant's operator gets 404."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson

from api import tokens
from tests.e2e.harness import E2E_PARK, System
from tests.support import ROOT, TEST_HJ212_PW

PARK_2025 = E2E_PARK + "config:\n  hj212: {{edition: 2025}}\n"


def _simulate(system: System, park: str) -> str:
    """Four seconds of the park's workshop logger over TCP, with the PW and SM4 key it was given. Its
    clock is the simulator's, started at the wall clock's time (no --start): in step with ours."""
    text = (system.root / f"{park}.yaml").read_text(encoding="utf-8")
    park_file = system.root / f"{park}-file.yaml"
    park_file.write_text(text[: text.index("      - id: total")] + "config:\n  hj212: {edition: 2025}\n")
    key = system.credentials(park, "shop-01", "workshop")["sm4_key"]
    creds = system.root / f"{park}-file.json"
    creds.write_bytes(orjson.dumps({f"{park}/shop-01/workshop": {"hj212_pw": TEST_HJ212_PW, "sm4_key": key}}))
    done = subprocess.run(
        [sys.executable, "-m", "outfall", "simulate", "--protocol", "hj212", "--edition", "2025",
         "--transport", "tcp", "--gateway", f"127.0.0.1:{system.hj212_port}", "--park", str(park_file),
         "--credentials", str(creds),
         "--duration", "4s", "--speed", "1"],
        env=system.env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return key


def test_a_logger_reporting_through_the_gateway_is_in_the_plant_file(system: System) -> None:
    park = system.load_park(PARK_2025)
    time.sleep(2.1)  # the gateway looks an unknown MN up again only 2 s after its last registry load
    key = _simulate(system, park)
    path = f"/api/v1/parks/{park}/plants/shop-01/file"
    file = system.wait_for(
        lambda: (f := system.api_get(path))["points"][1]["logger"]["last_seen"] and f,
        timeout=15,
        message="the workshop logger last seen",
    )
    workshop = {p["id"]: p for p in file["points"]}["workshop"]
    logger = workshop["logger"]
    assert (logger["edition"], logger["edition_seen"], logger["transport"]) == ("2025", "2025", "tcp-hj212")
    assert datetime.now(UTC) - datetime.fromisoformat(logger["last_seen"]) < timedelta(seconds=30)
    assert logger["sm4"]["generation"] == 1 and logger["mn"] == workshop["mn"]
    assert (
        logger["clock"] is not None and abs(logger["clock"]["ahead_s"]) < 5
    )  # the simulator's clock is ours
    ni = {q["code"]: q for q in workshop["parameters"]}["ni"]
    assert [s["standard"] for lim in ni["limits"] for s in lim["sources"]] == ["GB21900-2008-T2"]
    assert key.upper() not in orjson.dumps(file).decode().upper()

    # the plant's operator reads the same file; another plant's operator does not learn it exists
    _id, token = tokens.create(system.database_url, "operator", park, "shop-01", None)
    answer = httpx.get(system.api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200 and answer.json()["points"][1]["logger"]["edition_seen"] == "2025"
    nowhere = httpx.get(
        system.api_url + f"/api/v1/parks/{park}/plants/shop-02/file",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert nowhere.status_code == 404
