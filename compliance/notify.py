"""Notifications from the transactional outbox: grouped per plant, delivered by webhook (HMAC-SHA256
signed), e-mail (SMTP) and chat robots (WeCom, DingTalk, Feishu: compliance/robotdelivery.py, each under
its rate limit, a burst as digests), retried with exponential backoff until delivered.

Subscriptions live in the park file's config; their secrets do not (compliance/receivers.py):
    subscriptions:
      - {name: officers, webhook: "https://example.org/hook", min_severity: violation}
      - {name: dingtalk, webhook: secret-store, min_severity: critical}   # URL with a token: in the store
      - {name: shop-01, email: ops@example.org, plant: shop-01, min_severity: warning, audience: operator}
      - {name: duty, dingtalk: secret-store, min_severity: violation, mention: ["13800000000"]}
Each webhook subscription is signed with its own key (``receiver/{park}/{name}/webhook-secret``).
``audience: operator`` marks the plant's own receivers: they also get abnormal-data alerts while those
are the operator's only (compliance/routing.py); officers' receivers (the default) get them once
referred.

Delivery is at-least-once: a crash after sending but before the outcome is recorded sends again when
the claim's lease ends, so every message carries X-Outfall-Delivery (a stable id) for the receiver to
drop a repeat. No transaction is open while a message is sent (see ``deliver``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

import orjson
import psycopg

from compliance import receivers, repo, robotdelivery
from compliance.models import AlertView
from compliance.robots import CHANNELS
from compliance.settings import RobotSettings, SmtpSettings, WebhookSettings
from ingest.core.secrets import SecretSettings, SecretStoreError

log = logging.getLogger(__name__)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """X-Outfall-Signature: HMAC-SHA256 over "<timestamp>.<body>", hex (the timestamp stops replays)."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2**attempts, 3600))


def _alert_json(a: AlertView, event: str) -> dict[str, object]:
    d = asdict(a)
    d["event"] = event
    return orjson.loads(orjson.dumps(d))  # type: ignore[no-any-return]


def group_pending(conn: psycopg.Connection, now: datetime, group_s: float) -> int:
    """Turn pending outbox rows into one message per (subscription, plant)."""
    rows = repo.pending_outbox(conn, now - timedelta(seconds=group_s))
    by_plant: dict[tuple[str, str], list[repo.OutboxRow]] = defaultdict(list)
    for r in rows:
        by_plant[(r.park_id, r.plant_id)].append(r)
    made = 0
    names: dict[str, robotdelivery.Names] = {}
    for (park_id, plant_id), group in by_plant.items():
        views = {a.id: a for a in repo.get_alerts(conn, sorted({r.alert_id for r in group}))}
        for sub in receivers.subscriptions(repo.park_config(conn, park_id)):
            chosen = [r for r in group if sub.wants(plant_id, r.severity, r.audience) and r.alert_id in views]
            if not chosen:
                continue
            payload: dict[str, object] = {
                "park": park_id,
                "plant": plant_id,
                "alerts": [_alert_json(views[r.alert_id], r.event) for r in chosen],
            }
            ids = [r.id for r in chosen]
            if sub.robot:
                known = names.setdefault(park_id, robotdelivery.Names(park_id))
                payload = robotdelivery.robot_payload(conn, known, payload, ids)
            repo.insert_delivery(
                conn, sub.name, sub.channel, sub.target, park_id, plant_id, ids, payload, now
            )
            made += 1
        repo.mark_grouped(conn, [r.id for r in group])
    return made


# Sends in flight at once: one receiver that never answers holds one sender for its timeout, not the
# others. A run keeps grouping and claiming new work for RUN_BUDGET_S while sends are in flight.
SENDERS = 8
RUN_BUDGET_S = 60.0
POLL_S = 0.5


@dataclass
class Tally:
    grouped: int = 0
    sent: int = 0
    failed: int = 0


def deliver(
    conn: psycopg.Connection,
    now: datetime,
    group_s: float,
    webhook: WebhookSettings,
    smtp: SmtpSettings,
    store: SecretSettings,
    robots: RobotSettings,
) -> Tally:
    """Group, claim, send and record, each database step in its own short transaction on ``conn``
    (autocommit) and every send with no transaction open: a receiver that hangs holds one sender
    thread, never a database lock or snapshot that other writers or the live event stream wait on."""
    start = time.monotonic()
    tally = Tally()
    opener = receivers.Opener(store)
    inflight: dict[Future[None], repo.Delivery] = {}
    with ThreadPoolExecutor(SENDERS, thread_name_prefix="notify-send") as pool:
        while True:
            elapsed = time.monotonic() - start
            at = now + timedelta(seconds=elapsed)
            if elapsed < RUN_BUDGET_S:
                with conn.transaction():
                    tally.grouped += group_pending(conn, at, group_s)
                until = at + lease(webhook, smtp, robots)
                with conn.transaction():
                    claimed = repo.claim_deliveries(conn, at, until, SENDERS - len(inflight))
                claimed += robotdelivery.take(conn, at, until, robots, SENDERS - len(inflight) - len(claimed))
                for d, ready in _with_secrets(conn, claimed, opener, at, tally):
                    inflight[pool.submit(_send, d, ready, webhook, smtp, robots)] = d
            if not inflight:
                return tally
            done, _ = wait(inflight, timeout=POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                finished = now + timedelta(seconds=time.monotonic() - start)
                ok = _record(conn, inflight.pop(future), future.exception(), finished)
                tally.sent += ok
                tally.failed += not ok


def lease(webhook: WebhookSettings, smtp: SmtpSettings, robots: RobotSettings) -> timedelta:
    """How long a claimed delivery is left alone: longer than one send can take (connect and answer
    each wait up to the timeout), so only a crashed sender's delivery is taken again."""
    return timedelta(seconds=2 * max(webhook.timeout_s, smtp.timeout_s, robots.timeout_s) + 30)


# a webhook's URL and key, a robot's URL and secret, or the SMTP password
Secrets = receivers.Webhook | receivers.Robot | str | None


def _with_secrets(
    conn: psycopg.Connection,
    claimed: list[repo.Delivery],
    opener: receivers.Opener,
    at: datetime,
    tally: Tally,
) -> list[tuple[repo.Delivery, Secrets]]:
    """Open each claimed delivery's receiver secrets from the store (before sending, with no transaction
    held while it sends). A delivery whose secret is missing is recorded as a failed attempt with the
    reason, and retried after its backoff."""
    ready: list[tuple[repo.Delivery, Secrets]] = []
    for d in claimed:
        try:
            with conn.transaction():
                if d.channel == "webhook":
                    found: Secrets = receivers.webhook(conn, opener, d.park_id, d.subscription, d.target)
                elif d.channel in CHANNELS:
                    found = receivers.robot(conn, opener, d.park_id, d.subscription, d.channel)
                else:
                    found = receivers.smtp_password(conn, opener)
        except (receivers.MissingSecret, SecretStoreError) as exc:
            _record(conn, d, exc, at)
            tally.failed += 1
            continue
        ready.append((d, found))
    return ready


def _send(
    d: repo.Delivery, found: Secrets, webhook: WebhookSettings, smtp: SmtpSettings, robots: RobotSettings
) -> None:
    if isinstance(found, receivers.Webhook):
        _post(d, found, webhook)
    elif isinstance(found, receivers.Robot):
        robotdelivery.post(d, found, robots)
    else:
        _mail(d, smtp, found)


def _record(conn: psycopg.Connection, d: repo.Delivery, exc: BaseException | None, at: datetime) -> bool:
    """One delivery's outcome, in its own transaction. Any failure is retried after a backoff; the
    error is kept on the row."""
    with conn.transaction():
        if exc is None:
            repo.delivery_done(conn, d.id)
            return True
        log.warning("delivery %d to %s failed (attempt %d): %s", d.id, d.target, d.attempts, exc)
        repo.delivery_failed(conn, d.id, at + backoff(d.attempts - 1), f"{type(exc).__name__}: {exc}")
        return False


def _post(d: repo.Delivery, hook: receivers.Webhook, webhook: WebhookSettings) -> None:
    body = orjson.dumps(d.payload)
    ts = str(int(datetime.now().timestamp()))
    req = urllib.request.Request(  # noqa: S310 - targets come from the park file or store, http(s) only
        hook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Outfall-Delivery": str(d.id),
            "X-Outfall-Timestamp": ts,
            "X-Outfall-Signature": sign(hook.signing_key, ts, body),
        },
    )
    if not hook.url.startswith(("http://", "https://")):
        raise ValueError(f"webhook target of {d.subscription} must be http(s)")
    with urllib.request.urlopen(req, timeout=webhook.timeout_s) as resp:  # noqa: S310
        if resp.status >= 300:
            raise RuntimeError(f"HTTP {resp.status}")


def _mail(d: repo.Delivery, smtp: SmtpSettings, password: str | None) -> None:
    if smtp.host is None:
        raise RuntimeError("OUTFALL_SMTP_HOST is not set")
    items = d.payload.get("alerts")
    alerts_ = items if isinstance(items, list) else []
    msg = EmailMessage()
    msg["From"], msg["To"] = smtp.sender, d.target
    msg["Subject"] = (
        f"[Outfall] {d.payload.get('park')}/{d.payload.get('plant')}: {len(alerts_)} alert change(s)"
    )
    msg["X-Outfall-Delivery"] = str(d.id)
    lines = [
        f"{a['event']}: {a['severity']} {a['kind']} at {a['point']} {a['parameter']}"
        f" value {a['value']} (peak {a['peak']}) limit {a['limit']} {a['unit'] or ''} since {a['opened_at']}"
        for a in alerts_
    ]
    msg.set_content("\n".join(lines) + "\n")
    if smtp.username and password is None:
        raise receivers.MissingSecret(
            "OUTFALL_SMTP_USERNAME is set and the store has no SMTP password: set it with"
            " `outfall receiver secret set smtp password`"
        )
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
        if smtp.starttls:
            client.starttls()  # refused by a server without STARTTLS: nothing is sent in clear
        if smtp.username and password is not None:
            client.login(smtp.username, password)
        client.send_message(msg)
