"""Chat robot deliveries: what compliance/notify.py does for WeCom, DingTalk and Feishu subscriptions on
top of webhooks and e-mail. Grouping adds the names and the park's time zone the Chinese text needs
(compliance/robottext.py); taking due deliveries honours each robot's rate limit and re-cuts a burst
into digests (compliance/digest.py), in one short transaction per robot; sending posts the vendor's
body with its signature (compliance/robots.py) and counts an error answer as a failure to retry.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from compliance import digest, receivers, repo, robots, robottext
from compliance.repo import deliveries as q
from compliance.settings import RobotSettings
from ingest.core import reads

log = logging.getLogger(__name__)
ANSWER_MAX = 65536  # bytes of a robot's answer read: it is a small JSON object


@dataclass
class Names:
    """The registry's names for one park, read once per grouping run when a robot needs them."""

    park: str
    _loaded: dict[str, Any] = field(default_factory=dict)

    def header(self, conn: psycopg.Connection) -> dict[str, object]:
        if "park" not in self._loaded:
            found = reads.parks(self.park, None).fetch(conn)
            self._loaded["park"] = found[0] if found else None
        row = self._loaded["park"]
        return {"park_name": row.name if row else self.park, "timezone": row.timezone if row else None}

    def of(self, conn: psycopg.Connection, plant: str) -> dict[str, object]:
        key = f"plant:{plant}"
        if key not in self._loaded:
            plants = {p.id: p.name for p in reads.plants(self.park, plant).fetch(conn)}
            points = {p.code: p.name for p in reads.points(self.park, plant).fetch(conn)}
            self._loaded[key] = (plants.get(plant), points)
        plant_name, points = self._loaded[key]
        return {"plant": plant_name, "points": points}


def robot_payload(
    conn: psycopg.Connection,
    names: Names,
    base: Mapping[str, Any],
    changes: Sequence[int],
) -> dict[str, object]:
    """A robot delivery's payload: the webhook payload plus the names and time zone its text shows,
    and on each alert the outbox id of its change (``change``), the unit digests are cut by."""
    plant = str(base["plant"])
    found = names.of(conn, plant)
    points: Mapping[str, str] = found["points"]  # type: ignore[assignment]
    alerts = []
    for a, change in zip(base["alerts"], changes, strict=True):
        alert_names = {"plant": found["plant"], "point": points.get(str(a.get("point")))}
        alerts.append({**a, "change": change, "names": alert_names})
    return {**base, **names.header(conn), "alerts": alerts}


# --- taking due deliveries under each robot's rate limit -------------------------------------------------


def take(
    conn: psycopg.Connection, at: datetime, lease_until: datetime, settings: RobotSettings, capacity: int
) -> list[repo.Delivery]:
    """Claim the robot deliveries that may go now, at most ``capacity``: per robot subscription, as
    many as its free slots allow, re-cut into digests when more wait than slots are free."""
    out: list[repo.Delivery] = []
    for queue in q.robot_queues(conn, at):
        if len(out) >= capacity:
            break
        with conn.transaction():
            out += _take_one(conn, queue, at, lease_until, settings, capacity - len(out))
    return out


def _take_one(
    conn: psycopg.Connection,
    queue: q.RobotQueue,
    at: datetime,
    lease_until: datetime,
    settings: RobotSettings,
    capacity: int,
) -> list[repo.Delivery]:
    sub = receivers.find(repo.park_config(conn, queue.park_id), queue.subscription)
    limit = settings.limit(queue.channel, sub.rate_limit if sub else None)
    free = min(capacity, digest.slots(q.robot_sends(conn, queue, at - limit.window), at, limit))
    if free <= 0:
        return []
    rows = q.waiting(conn, queue, at)
    if not rows:
        return []
    mention = sub.mention if sub else ()
    max_bytes = settings.max_bytes(queue.channel, bool(mention))
    header = rows[0].payload

    tail = len("".join(f" @{m}" for m in mention).encode()) if queue.channel == robots.DINGTALK else 0

    def fits(items: Sequence[Mapping[str, Any]]) -> bool:
        text = robottext.message(queue.channel, {**header, "digest": True}, items, mention).text
        return len(text.encode()) + tail <= max_bytes  # DingTalk's mentions are appended to the text

    waiting = [digest.Waiting(r.id, tuple(_alerts(r.payload))) for r in rows]
    plan = digest.plan(waiting, free, fits)
    if plan.recut is None:
        ids = [r.id for r in rows[: plan.send]]
    else:
        ids = _recut(conn, queue, rows, plan.recut, at)[: plan.send]
        what = f"{queue.channel} robot {queue.park_id}/{queue.subscription}"
        log.info(
            "%s: %d waiting re-cut into %d digest(s), %d sent now",
            what,
            len(rows),
            len(plan.recut),
            plan.send,
        )
    return q.claim_these(conn, queue, ids, at, lease_until)


def _alerts(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = payload.get("alerts")
    return [a for a in items if isinstance(a, Mapping)] if isinstance(items, list) else []


def _recut(
    conn: psycopg.Connection,
    queue: q.RobotQueue,
    rows: Sequence[q.WaitingRow],
    messages: Sequence[Sequence[Mapping[str, Any]]],
    at: datetime,
) -> list[int]:
    """Replace ``rows`` by one delivery per message: each carries the outbox ids of its changes and
    names the rows it continues; the rows are kept, superseded."""
    header = {k: v for k, v in rows[0].payload.items() if k not in ("alerts", "plant")}
    ids = []
    for items in messages:
        plants = sorted({str(a.get("plant")) for a in items})
        plant = plants[0] if len(plants) == 1 else "*"
        changes = [int(a["change"]) for a in items]
        sources = sorted({r.id for r in rows if set(r.outbox_ids) & set(changes)})
        payload = {**header, "plant": plant, "digest": True, "alerts": list(items)}
        where = (queue.subscription, queue.channel, rows[0].target, queue.park_id, plant)
        ids.append(q.insert_delivery(conn, *where, changes, payload, at, digest_of=sources))
    q.supersede(conn, [r.id for r in rows], at)
    return ids


# --- sending ---------------------------------------------------------------------------------------------


def post(d: repo.Delivery, robot: receivers.Robot, settings: RobotSettings) -> None:
    """One request to the robot. Raises on anything but the vendor's "ok" (robots.RobotRefused for an
    error answer, which the vendors give with HTTP 200)."""
    if not robot.url.startswith(("http://", "https://")):
        raise ValueError(f"the URL of robot {d.park_id}/{d.subscription} must be http(s)")
    message = robottext.message(d.channel, d.payload, _alerts(d.payload), robot.mention)
    req = robots.request(d.channel, robot.url, message, robot.secret, time.time())
    http = urllib.request.Request(  # noqa: S310 - the URL is the store's, http(s) only (checked above)
        req.url,
        data=req.body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "X-Outfall-Delivery": str(d.id)},
    )
    try:
        with urllib.request.urlopen(http, timeout=settings.timeout_s) as resp:  # noqa: S310
            status, answer = resp.status, resp.read(ANSWER_MAX)
    except urllib.error.HTTPError as exc:  # the error's text would carry the URL: keep to its status
        raise robots.RobotRefused(f"HTTP {exc.code}") from None
    robots.check_answer(d.channel, status, answer)
