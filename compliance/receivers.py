"""Notification receivers' secrets: in the secret store (ingest/core/secrets.py, form ``sealed``), never in
the park file, its config (which the API serves) or the environment.

Names (``receiver/{subscription}/{what}``, a subscription being ``{park}/{name}`` since names are the
park file's):
    receiver/{park}/{name}/webhook-secret   the HMAC-SHA256 key signing this subscription's webhooks
    receiver/{park}/{name}/webhook-url      the webhook URL when it carries a token (``?access_token=``,
                                            ``?key=``, user:password@); the park file then says
                                            ``webhook: secret-store``
    receiver/smtp/password                  the SMTP relay's password (OUTFALL_SMTP_USERNAME's)

Chat robots (``wecom: secret-store``, ``dingtalk: ...``, ``feishu: ...``) always keep their URL in the
store as ``webhook-url`` (the URL's key or token is the credential), and DingTalk's and Feishu's
signing secret, which the vendor issues (``SEC...``), as ``webhook-secret``.

Set or rotate them with `outfall receiver secret set RECEIVER WHAT` (value on stdin, or --generate).
Every subscription has its own signing secret: a receiver that learns its key cannot forge messages to
another. A webhook with no signing secret is never sent unsigned; its delivery fails with the command to
run, and is retried until one is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psycopg

from compliance import repo, robots
from compliance.models import SEVERITY_RANK
from ingest.core import secrets
from ingest.core.secrets import SecretSettings

STORED_URL = "secret-store"  # a park file's `webhook:` when the URL is in the store
SMTP = "smtp"
WEBHOOK_WHATS = ("webhook-secret", "webhook-url")
SMTP_WHATS = ("password",)


class MissingSecret(RuntimeError):
    """A receiver needs a secret the store does not hold."""


def receiver_id(park: str, subscription: str) -> str:
    return f"{park}/{subscription}"


def secret_name(receiver: str, what: str) -> str:
    """The store's name of one secret of a receiver (``park/name``, or ``smtp``)."""
    allowed = SMTP_WHATS if receiver == SMTP else WEBHOOK_WHATS
    if what not in allowed:
        raise ValueError(f"{receiver} has no secret {what!r} (one of: {', '.join(allowed)})")
    return secrets.receiver_name(receiver, what)


def token_in_url(url: str) -> bool:
    """Whether a URL visibly carries credentials (user:password@, or a query string, where DingTalk and
    WeCom bots put their tokens): such a URL belongs in the secret store, not in a park file. A token
    in the path (Feishu's hook/<token>) looks like any path and is not recognised."""
    parts = urlsplit(url)
    return bool(parts.username or parts.password or parts.query)


CHANNEL_KEYS = ("webhook", "email", *robots.CHANNELS)  # a subscription names exactly one


@dataclass(frozen=True)
class Subscription:
    name: str
    channel: str  # webhook | email | wecom | dingtalk | feishu
    target: str  # the URL, the address, or STORED_URL
    plant: str | None
    min_severity: str
    # chat robots only
    mention: tuple[str, ...] = ()  # mobiles to @ (DingTalk atMobiles, WeCom mentioned_mobile_list)
    sign: bool = True  # DingTalk/Feishu: sign with the robot's secret (off: a keyword or IP list guards it)
    rate_limit: int | None = None  # messages per OUTFALL_ROBOT_WINDOW_S, below the channel's setting
    # officer (the default): changes of alerts before officers; operator: the plant's operators, who
    # also get abnormal data before it is referred to officers (compliance/routing.py).
    audience: str = "officer"

    def wants(self, plant: str, severity: str, audience: str = "everyone") -> bool:
        """``audience``: the outbox row's (routing.audience): operator rows go to operators only."""
        if audience == "operator" and self.audience != "operator":
            return False
        return (self.plant in (None, "*", plant)) and SEVERITY_RANK[severity] >= SEVERITY_RANK[
            self.min_severity
        ]

    @property
    def robot(self) -> bool:
        return self.channel in robots.CHANNELS


def subscriptions(config: dict[str, object]) -> list[Subscription]:
    out = []
    entries = config.get("subscriptions") or []
    for i, e in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(e, dict):
            continue
        channel = next((k for k in CHANNEL_KEYS if e.get(k)), "email")
        target = str(e.get(channel))
        sev = str(e.get("min_severity", "violation"))
        rate = e.get("rate_limit")
        out.append(
            Subscription(
                str(e.get("name", f"sub-{i}")),
                channel,
                target,
                e.get("plant"),
                sev if sev in SEVERITY_RANK else "violation",
                robots.mobiles(e.get("mention")),
                e.get("sign", True) is not False,
                rate if isinstance(rate, int) and not isinstance(rate, bool) and rate > 0 else None,
                "operator" if e.get("audience") == "operator" else "officer",
            )
        )
    return out


def find(config: dict[str, object], name: str) -> Subscription | None:
    return next((s for s in subscriptions(config) if s.name == name), None)


def check_subscriptions(config: dict[str, object]) -> list[str]:
    """What is wrong with a park file's subscriptions: a webhook URL carrying a token belongs in the
    secret store (the park file and its config are served by the API and kept in files); a chat
    robot's URL always does (its token is the credential), so the park file says only ``secret-store``."""
    problems = []
    entries = config.get("subscriptions") or []
    for i, e in enumerate(entries if isinstance(entries, list) else []):
        kinds = [k for k in CHANNEL_KEYS if isinstance(e, dict) and e.get(k)]
        if len(kinds) != 1:
            problems.append(f"subscription {i + 1}: name exactly one of {', '.join(CHANNEL_KEYS)}")
        elif str(e.get("min_severity", "violation")) not in SEVERITY_RANK:
            problems.append(
                f"subscription {e.get('name')}: min_severity is one of {', '.join(SEVERITY_RANK)}"
            )
    for sub in subscriptions(config):
        if sub.channel == "webhook" and token_in_url(sub.target):
            problems.append(
                f"subscription {sub.name}: its webhook URL carries credentials; write `webhook:"
                f" {STORED_URL}` and put the URL in the secret store with `outfall receiver"
                f" secret set PARK/{sub.name} webhook-url`"
            )
        if sub.robot and sub.target != STORED_URL:
            problems.append(
                f"subscription {sub.name}: a {sub.channel} robot's URL carries its token; write"
                f" `{sub.channel}: {STORED_URL}` and put the URL in the secret store with `outfall"
                f" receiver secret set PARK/{sub.name} webhook-url` (its signing secret, if any, as"
                " webhook-secret)"
            )
    return problems


@dataclass
class Opener:
    """Opens sealed receiver secrets with the store key, read once when first needed (a system with no
    webhook and no SMTP password runs without one)."""

    store: SecretSettings
    _key: bytes | None = field(default=None, init=False)

    def open(self, conn: psycopg.Connection, name: str) -> str | None:
        found = secrets.live_for(conn, name)
        if not found:
            return None
        if self._key is None:
            self._key = self.store.key()
        return secrets.unseal(found[0].value, name, self._key)


@dataclass(frozen=True)
class Webhook:
    url: str
    signing_key: bytes


def webhook(conn: psycopg.Connection, opener: Opener, park: str, subscription: str, target: str) -> Webhook:
    """Where a subscription's webhook goes and the key that signs it. Raises MissingSecret (with the
    command that fixes it) or secrets.SecretStoreError (no store key, or the wrong one)."""
    rid = receiver_id(park, subscription)
    key = opener.open(conn, secret_name(rid, "webhook-secret"))
    if key is None:
        raise MissingSecret(
            f"no signing secret for webhook subscription {rid}: webhooks are never sent unsigned; set one"
            f" with `outfall receiver secret set {rid} webhook-secret --generate`"
        )
    url = target
    if target == STORED_URL:
        stored = opener.open(conn, secret_name(rid, "webhook-url"))
        if stored is None:
            raise MissingSecret(
                f"subscription {rid} has its webhook URL in the secret store, and the store has none:"
                f" set it with `outfall receiver secret set {rid} webhook-url` (the URL on stdin)"
            )
        url = stored
    return Webhook(url, key.encode())


@dataclass(frozen=True)
class Robot:
    """A chat robot subscription, ready to send: its URL (token included), its signing secret (None:
    unsigned, as its ``sign: false`` says, or WeCom) and the mobiles to mention."""

    channel: str
    url: str
    secret: str | None
    mention: tuple[str, ...]


def robot(conn: psycopg.Connection, opener: Opener, park: str, name: str, channel: str) -> Robot:
    """Where a robot subscription's messages go, from the secret store. Raises MissingSecret (with the
    command that fixes it) or secrets.SecretStoreError. A subscription since removed from the park file
    keeps its deliveries going to its stored robot, signed."""
    rid = receiver_id(park, name)
    sub = find(repo.park_config(conn, park), name)
    url = opener.open(conn, secret_name(rid, "webhook-url"))
    if url is None:
        raise MissingSecret(
            f"no URL for {channel} robot {rid}: set it with `outfall receiver secret set {rid}"
            " webhook-url` (the robot's webhook address on stdin)"
        )
    secret = None
    if channel in robots.SIGNED and (sub is None or sub.sign):
        secret = opener.open(conn, secret_name(rid, "webhook-secret"))
        if secret is None:
            raise MissingSecret(
                f"no signing secret for {channel} robot {rid}: set the robot's secret (加签 / 签名校验)"
                f" with `outfall receiver secret set {rid} webhook-secret` (on stdin), or write"
                " `sign: false` in its subscription when a keyword or IP list guards the robot"
            )
    return Robot(channel, url, secret, sub.mention if sub else ())


def smtp_password(conn: psycopg.Connection, opener: Opener) -> str | None:
    return opener.open(conn, secret_name(SMTP, "password"))


# --- `outfall receiver secret ...` ----------------------------------------------------------------------


def check_receiver(conn: psycopg.Connection, receiver: str) -> None:
    """A receiver is ``smtp`` or ``park/name`` of a subscription in that park's file. Raises ValueError."""
    if receiver == SMTP:
        return
    park, _, name = receiver.partition("/")
    if not name:
        raise ValueError(f"a receiver is `smtp` or PARK/SUBSCRIPTION, not {receiver!r}")
    names = {s.name for s in subscriptions(repo.park_config(conn, park))}
    if name not in names:
        known = ", ".join(sorted(names)) or "none"
        raise ValueError(f"park {park!r} has no subscription {name!r} (its subscriptions: {known})")


def set_secret(
    conn: psycopg.Connection, store: SecretSettings, receiver: str, what: str, value: str, actor: str
) -> int:
    """Seal ``value`` as the receiver's new secret; the previous one ends now (we are the only sender,
    so nothing needs the old key once the new one is stored). Returns the generation."""
    check_receiver(conn, receiver)
    name = secret_name(receiver, what)
    if not value:
        raise ValueError("the secret is empty")
    if what == "webhook-url" and not value.startswith(("http://", "https://")):
        raise ValueError("a webhook URL starts with http:// or https://")
    return secrets.issue(conn, name, "sealed", secrets.seal(value, name, store.key()), actor)


def revoke_secret(conn: psycopg.Connection, receiver: str, what: str) -> int:
    return secrets.revoke(conn, secret_name(receiver, what))


def listed(conn: psycopg.Connection, receiver: str | None) -> list[secrets.Secret]:
    """The live receiver secrets (names and generations; callers never print values)."""
    prefix = "receiver/" + (f"{receiver}/" if receiver else "")
    return secrets.live(prefix).fetch(conn)
