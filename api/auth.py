"""Tokens, roles and scope, and what of a park's config a caller may see: pure decisions, no I/O.

A token is ``ofl_`` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored: the token has
the entropy of a key, so a slow password hash would add latency to every request and no safety.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from ingest.core.redact import redact

Role = Literal["admin", "officer", "operator"]
ROLES: tuple[Role, ...] = ("admin", "officer", "operator")
PREFIX = "ofl_"


class ScopeError(ValueError):
    """A role and scope that do not fit together (e.g. an operator without a park)."""


_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """A token lifetime such as ``90s``, ``30m``, ``12h`` or ``7d`` (more than zero)."""
    m = _DURATION.match(text.strip())
    if not m or int(m[1]) == 0:
        raise ScopeError(f"{text!r} is not a duration: use a number and s, m, h or d, e.g. 12h")
    return timedelta(seconds=int(m[1]) * _UNIT_S[m[2]])


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def check_scope(role: str, park: str | None, plant: str | None) -> None:
    if role not in ROLES:
        raise ScopeError(f"role must be one of {', '.join(ROLES)}")
    if role == "admin" and (park or plant):
        raise ScopeError("an admin token has no park or plant scope")
    if role == "operator" and not park:
        raise ScopeError("an operator token needs --park (and optionally --plant)")
    if plant and role != "operator":
        raise ScopeError("only operator tokens are limited to one plant")
    if plant and not park:
        raise ScopeError("--plant needs --park")


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what they may see. park/plant None = not limited."""

    token_id: int
    name: str
    role: Role
    park: str | None = None
    plant: str | None = None
    expires_at: datetime | None = None  # None = no expiry

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @property
    def actor(self) -> str:
        """How the caller appears in audit logs: role, token name and id."""
        return f"{self.role}:{self.name}#{self.token_id}"

    def sees_park(self, park: str) -> bool:
        return self.park is None or self.park == park

    def sees_plant(self, park: str, plant: str) -> bool:
        return self.sees_park(park) and (self.plant is None or self.plant == plant)

    # What each role may change. Objects outside the scope are never reached: they are 404 before this.
    @property
    def may_change_alerts(self) -> bool:
        return self.role in ("admin", "officer")

    @property
    def may_declare_maintenance(self) -> bool:
        return self.role in ("admin", "operator")

    @property
    def may_change_registry(self) -> bool:
        return self.role == "admin"

    @property
    def may_explain(self) -> bool:
        """The plant's side explains its abnormal data (an admin may, for it)."""
        return self.role in ("admin", "operator")

    @property
    def officer_view(self) -> bool:
        """An officer sees alerts as compliance routed them to officers (compliance/routing.py):
        abnormal data only once referred. Operators and admins see every alert in their scope."""
        return self.role == "officer"


# --- what a caller may see of a park's config ------------------------------------------------------------
RECEIVERS = "subscriptions"  # compliance/notify.py reads the receivers from this key
# A key that names a credential is never shown, at any depth, to anyone (receivers' secrets live in the
# secret store; one left in a park file must not leak through the API).
_SECRET_NAME = re.compile(
    r"(?i)^(?:.*_)?(?:secret|secrets|token|password|passwd|pw|key|sign|signature|apikey|hmac|credentials?)"
    r"(?:_.*)?$"
)


def visible_config(config: Mapping[str, Any], caller: Principal) -> dict[str, Any]:
    """The park config as ``caller`` may see it: receivers (webhook URLs, e-mail addresses) for admins
    only and with the credentials in their URLs masked; entries that name another plant (permits,
    maintenance windows, ...) hidden from an operator limited to one plant; no credential to anyone."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if _SECRET_NAME.match(key) or (key == RECEIVERS and caller.role != "admin"):
            continue
        out[key] = _scrubbed(_own_plant(value, caller.plant) if caller.plant else value)
    return out


def _own_plant(value: Any, plant: str) -> Any:
    """A list of per-plant entries without the other plants' (entries without a plant apply to all)."""
    if not isinstance(value, list):
        return value
    return [e for e in value if not isinstance(e, dict) or e.get("plant") in (None, "*", plant)]


def _scrubbed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items() if not _SECRET_NAME.match(str(k))}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value
