"""Tokens, roles and scope: pure decisions, no I/O.

A token is ``ofl_`` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored: the token has
the entropy of a key, so a slow password hash would add latency to every request and no safety.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "officer", "operator"]
ROLES: tuple[Role, ...] = ("admin", "officer", "operator")
PREFIX = "ofl_"


class ScopeError(ValueError):
    """A role and scope that do not fit together (e.g. an operator without a park)."""


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
