"""Chat robots through the running system: breaches published over MQTT reach local WeCom, DingTalk and
Feishu robots (`outfall receiver test-server`, each a process of its own that checks the key or token,
the signature and the body the way the vendor does), in Chinese; a refused message (an error code in
an HTTP 200 answer) is retried; and a burst beyond a robot's rate limit arrives as digests that hold
every alert, within the limit. The robots' rate window is 8 s here (E2E_SETTINGS), not a minute.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg
import pytest

from compliance import receivers
from ingest.core.secrets import SecretSettings
from tests.e2e.harness import System
from tests.support import ROOT

PARK = """
id: {id}
name: 机器人测试园区
industry: electroplating
standard: GB21900-2008-T2
config:
  subscriptions:
    - {{name: ding, dingtalk: secret-store, min_severity: warning, rate_limit: 2, mention: [13800000000]}}
    - {{name: lark, feishu: secret-store, min_severity: warning}}
    - {{name: wework, wecom: secret-store, min_severity: warning}}
plants:
""" + "".join(
    f"""  - id: shop-0{i}
    name: {i}号电镀厂
    points:
      - id: total
        name: 总排口
        kind: total_outlet
        interval_s: 60
        parameters: {{{{cod: mg/L}}}}
"""
    for i in range(1, 7)
)
DING_SECRET, LARK_SECRET = "SECding-0123456789", "lark-secret"
WINDOW_S = 8  # OUTFALL_ROBOT_WINDOW_S in E2E_SETTINGS
ALERT_NO = re.compile(r"报警编号 (\d+)）")


class Robot:
    """`outfall receiver test-server` as a process; its JSON lines, read in a thread."""

    def __init__(self, kind: str, secret: str | None, limit: int = 20) -> None:
        args = ["--kind", kind, "--token", f"tok-{kind}", "--limit", str(limit), "--window", str(WINDOW_S)]
        if secret is not None:
            args += ["--secret", secret]
        self.kind = kind
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "outfall", "receiver", "test-server", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = orjson.loads(self.proc.stdout.readline())["listening"]
        self.requests: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.requests.append(orjson.loads(line))

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["ok"]]

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # seen once on a loaded machine: do not leave it behind
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def robots() -> Iterator[dict[str, Robot]]:
    found = {
        # ours: 2 per window; the robot's margin absorbs the network's jitter, as the vendors' does
        "ding": Robot("dingtalk", DING_SECRET, limit=4),
        "lark": Robot("feishu", LARK_SECRET),
        "wework": Robot("wecom", None),
    }
    yield found
    for robot in found.values():
        robot.close()


def test_breaches_reach_chat_robots_signed_in_chinese_and_a_burst_as_digests(
    system: System, robots: dict[str, Robot]
) -> None:
    park = system.load_park(PARK)
    start = datetime.now(UTC).replace(microsecond=0)
    for i in range(1, 7):  # every point reports (until then it is offline: those alerts go out too)
        system.publish(park, f"shop-0{i}", "total", start - timedelta(seconds=30), {"cod": 20})
    for name, robot in robots.items():  # the robot's URL (its token) and secret: in the secret store
        store_secret(system, f"{park}/{name}", "webhook-url", robot.url)
    store_secret(system, f"{park}/ding", "webhook-secret", DING_SECRET)
    store_secret(system, f"{park}/lark", "webhook-secret", "not-the-secret")
    ding, lark = robots["ding"], robots["lark"]

    # A burst: six plants breach at once (warnings: 70 mg/L against 80), beyond the DingTalk robot's
    # rate limit (2 messages per window)
    for i in range(1, 7):
        system.publish(park, f"shop-0{i}", "total", start, {"cod": 70})
    system.wait_for(lambda: len(exceedances(system, park)) == 6, message="six alerts")
    # Feishu refuses (signed with the wrong secret): an error code in an HTTP 200 answer, a failure
    system.wait_for(lambda: any(r["code"] == 19021 for r in lark.requests), message="Feishu refuses")
    assert not lark.accepted
    store_secret(system, f"{park}/lark", "webhook-secret", LARK_SECRET)  # and it is retried
    for robot in robots.values():
        for a in exceedances(system, park):
            # any event: on a busy leader a digest may tell of an alert already escalated (E2E: 20 s)
            found = functools.partial(block, robot, a["id"], "")
            try:
                system.wait_for(found, timeout=40, message=f"{robot.kind}: alert {a['id']}")
            except AssertionError as exc:
                seen = [(r["at"][11:19], r["delivery"], r["code"], r.get("title")) for r in robot.requests]
                raise AssertionError(f"{exc}; the robot saw {seen}; {deliveries(system, park)}") from None
    system.wait_for(lambda: not pending(system, park), timeout=40, message="everything delivered")

    # In Chinese: kind, severity, event, names, value against the limit with its unit, park-local time
    told = [a for a in exceedances(system, park) if all(block(r, a["id"]) for r in robots.values())]
    assert told, "no alert's opening was told by every robot"
    first = told[0]
    for robot in robots.values():
        text = block(robot, first["id"])
        assert text.startswith(("**预警｜超标｜新发生（报警编号", "预警｜超标｜新发生（报警编号")), text
        plant = first["plant"]
        names = (f"{plant[-1]}号电镀厂（{plant}）", "总排口（total）", "化学需氧量（cod）", "（北京时间）")
        for part in names:
            assert part in text
        assert f"监测值 70 mg/L，限值 {first['limit']:g} mg/L" in text
        local = datetime.fromisoformat(first["opened_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
        assert f"发生时间 {local:%Y-%m-%d %H:%M:%S}" in text
    assert all(r["mention"] == ["13800000000"] for r in ding.accepted)

    # Every alert change in exactly one message each robot accepted; nothing refused but Feishu's
    for name, robot in robots.items():
        delivered = delivered_changes(system, park, name)
        changes = [c for cs in delivered.values() for c in cs]
        assert sorted(changes) == outbox(system, park), name
        assert sorted(delivered) == sorted(int(r["delivery"]) for r in robot.accepted), name
        refused = [r["code"] for r in robot.requests if not r["ok"]]
        assert set(refused) <= ({19021} if name == "lark" else set()), (name, refused)
    # DingTalk got the burst as digests, never more than 2 requests in a window
    digests = [r for r in ding.accepted if r["title"].startswith("【报警汇总】")]
    assert digests and all(len(ALERT_NO.findall(r["text"])) >= 2 for r in digests)
    times = sorted(datetime.fromisoformat(r["at"]) for r in ding.requests)
    for i, t in enumerate(times):  # as they arrived, with 1.5 s for a loaded machine's delays
        assert sum(1 for s in times[i:] if (s - t).total_seconds() < WINDOW_S - 1.5) <= 2


def store_secret(system: System, receiver: str, what: str, value: str) -> None:
    """What `outfall receiver secret set RECEIVER WHAT` does with the value on stdin (the command
    itself: tests/security/test_windows.py), in this process: on this loaded machine each command
    costs seconds."""
    store = SecretSettings(secret_key=system.settings["OUTFALL_SECRET_KEY"])
    with psycopg.connect(system.database_url) as conn:
        receivers.set_secret(conn, store, receiver, what, value, "test")


def exceedances(system: System, park: str) -> list[dict[str, Any]]:
    return [a for a in system.alerts(park) if a["kind"] == "exceedance"]


def block(robot: Robot, alert_id: int, event: str = "新发生") -> str:
    """The block of an accepted message that tells of this alert's ``event`` (any event: ''), or ''."""
    for r in robot.accepted:
        for part in r["text"].split("\n\n"):
            if f"报警编号 {alert_id}）" in part and f"超标｜{event}" in part:
                return str(part).lstrip("▶ ")
    return ""


def pending(system: System, park: str) -> int:
    """The park's alert changes not yet in a delivered message."""
    with psycopg.connect(system.database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM notify_outbox WHERE park_id = %s AND grouped_at IS NULL)"
            " + (SELECT count(*) FROM notify_deliveries WHERE park_id = %s AND delivered_at IS NULL"
            "    AND superseded_at IS NULL)",
            (park, park),
        ).fetchone()
    return int(row[0]) if row else 0


def outbox(system: System, park: str) -> list[int]:
    with psycopg.connect(system.database_url) as conn:
        return [
            r[0] for r in conn.execute("SELECT id FROM notify_outbox WHERE park_id = %s ORDER BY id", (park,))
        ]


def delivered_changes(system: System, park: str, subscription: str) -> dict[int, list[int]]:
    """Delivered messages of a subscription (delivery id -> the outbox ids it carried)."""
    with psycopg.connect(system.database_url) as conn:
        rows = conn.execute(
            "SELECT id, outbox_ids FROM notify_deliveries WHERE park_id = %s AND subscription = %s"
            " AND delivered_at IS NOT NULL AND superseded_at IS NULL",
            (park, subscription),
        ).fetchall()
    return {r[0]: list(r[1]) for r in rows}


def deliveries(system: System, park: str) -> list[tuple[Any, ...]]:
    """The park's deliveries as the database has them (for a failure's message)."""
    with psycopg.connect(system.database_url) as conn:
        return conn.execute(
            "SELECT id, subscription, outbox_ids, attempts, next_attempt_at::time(0), delivered_at::time(0),"
            " superseded_at::time(0), digest_of, left(last_error, 60) FROM notify_deliveries"
            " WHERE park_id = %s ORDER BY id",
            (park,),
        ).fetchall()
