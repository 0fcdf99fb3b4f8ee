"""Evidence export on the running system: a nickel breach published over MQTT (JSON v1) and one sent by
an HJ 212 logger over TCP raise one alert; its evidence is exported through the API; the zip holds
both messages byte for byte and `outfall evidence verify` passes it, and fails it naming the file once
one byte of the frame is changed."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson

from ingest.hj212 import codec as hj212
from tests.e2e.harness import System
from tests.support import ROOT, TEST_HJ212_PW

NI_LIMIT = 0.5  # mg/L, GB 21900-2008 Table 2 at the workshop outlet


def _nickel(system: System, park: str) -> list[dict[str, Any]]:
    alerts = system.alerts(park, kind="exceedance", point="workshop", parameter="ni")
    return [a for a in alerts if a["plant"] == "shop-01"]


def _send_frame(system: System, frame: bytes) -> tuple[str, bytes]:
    """One frame from a logger's own TCP connection; (its peer name as the gateway sees it, the answer)."""
    with socket.create_connection(("127.0.0.1", system.hj212_port), timeout=20) as sock:
        sock.sendall(frame)
        answer = b""
        while not answer.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            assert chunk, "the gateway closed the link without answering"
            answer += chunk
        host, port = sock.getsockname()[:2]
    return f"tcp:{host}:{port}", answer


def test_breach_over_mqtt_and_tcp_exports_as_verifiable_evidence(system: System, tmp_path: Path) -> None:
    park = system.load_park()
    loaded = time.monotonic()
    points = system.api_get(f"/api/v1/parks/{park}/plants/shop-01/points")
    (mn,) = [p["mn"] for p in points if p["id"] == "workshop"]
    now = datetime.now(UTC).replace(microsecond=0)
    message = orjson.dumps({"ts": now.isoformat(), "values": {"ni": 4 * NI_LIMIT, "cr_total": 0.2}})
    system.publish_raw(park, "shop-01", "workshop", message)
    (alert,) = system.wait_for(lambda: _nickel(system, park), timeout=15, message="a nickel alert")

    # the gateway looks up an MN it does not know at most every 2 s: the park may be that new
    time.sleep(max(0.0, 2.1 - (time.monotonic() - loaded)))
    local = (now + timedelta(seconds=2)).astimezone(ZoneInfo("Asia/Shanghai"))
    cp = f"DataTime={local:%Y%m%d%H%M%S};w20121-Rtd=3.00,w20121-Flag=N"
    head = f"QN={local:%Y%m%d%H%M%S}000;ST=32;CN=2011;PW={TEST_HJ212_PW};MN={mn};Flag=5"
    frame = hj212.wrap(f"{head};CP=&&{cp}&&")
    peer, answer = _send_frame(system, frame)
    assert hj212.decode(answer).cn == "9014"  # committed
    system.wait_for(
        lambda: [a for a in _nickel(system, park) if a["id"] == alert["id"] and a["value"] == 3.0],
        timeout=15,
        message="the frame's value on the same alert",
    )

    got = httpx.get(
        f"{system.api_url}/api/v1/alerts/{alert['id']}/evidence",
        headers={"Authorization": f"Bearer {system.token}"},  # an admin's (officers: tests/api)
        timeout=30,
    )
    assert got.status_code == 200, got.text
    with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
        raw = {n: zf.read(n) for n in zf.namelist() if n.startswith("raw/") and n != "raw/index.csv"}
        index = zf.read("raw/index.csv").decode("utf-8-sig")
    assert sorted(raw.values()) == sorted([message, frame])  # byte for byte, the CRC and CR LF included
    assert f"outfall/v1/{park}/shop-01/workshop" in index and peer in index

    bundle_path = tmp_path / "evidence.zip"
    bundle_path.write_bytes(got.content)
    assert system.outfall("evidence", "verify", str(bundle_path)).startswith("OK ")

    (frame_file,) = [name for name, body in raw.items() if body == frame]
    data = bytearray(got.content)
    data[bytes(data).index(b"w20121-Rtd=3.00") + len("w20121-Rtd=")] ^= 0x02  # 3.00 -> 1.00
    bundle_path.write_bytes(bytes(data))
    done = subprocess.run(
        [sys.executable, "-m", "outfall", "evidence", "verify", str(bundle_path)],
        env=system.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and f"FAILED {frame_file}" in done.stdout, done.stdout + done.stderr
