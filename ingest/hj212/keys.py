"""Per logger, what decoding its frames depends on (``codec.Policy``): its live SM4 keys and its park's
strict mode; and the SM4 text form Outfall writes for it.

Keys live in the secret store (``ingest/core/secrets.py``), sealed, as 32 hex characters under
``logger/{park}/{plant}/{point}/sm4``; every live generation is kept, newest first, so a logger still on
the old key during a rotation's overlap is read as well as one already on the new key. The newest is
the *current* key: what Outfall encrypts with. A key sent to the logger by a rotation (CN 1014) and not
yet confirmed is *pending* (``.../sm4-next``): frames under it are read too (a logger that switched
while its 9012 was lost loses nothing, and such a frame confirms the switch), but nothing is sent
under it. Strict mode and the text form come from the park file::

    config:
      hj212:
        strict: true              # refuse frames with quirks (default false: accept and count them)
        sm4_text: hex             # hex | hex-tail | brace: how Outfall writes SM4 ciphertext
        sm4_text_points: {shop-01/outlet: brace}   # per logger
        edition: 2025             # the loggers speak HJ 212-2025 (`outfall broker provision` gives keys)
        edition_points: {shop-01: 2025, shop-02/total: 2025}   # per plant or logger
        sm4_rotate_days: 90       # rotate keys through CN 1014 (OUTFALL_HJ212_SM4_ROTATE_DAYS)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from ingest.core import reads, secrets
from ingest.core.models import RegistryPoint
from ingest.hj212 import codec, sm4

log = logging.getLogger(__name__)

SM4 = "sm4"  # the secret's last name part
SM4_NEXT = "sm4-next"  # a rotation's key, sent to the logger and not yet confirmed


@dataclass(frozen=True)
class Policies:
    by_mn: dict[str, codec.Policy] = field(default_factory=dict)  # keys: current, then pending
    forms: dict[str, str] = field(default_factory=dict)
    pending: dict[str, tuple[bytes, ...]] = field(default_factory=dict)

    def __call__(self, mn: str) -> codec.Policy:
        return self.by_mn.get(mn, codec.TOLERANT)

    def form(self, mn: str) -> str:
        return self.forms.get(mn, sm4.DEFAULT_FORM)

    def current(self, mn: str) -> bytes | None:
        """The key Outfall encrypts with: the newest confirmed one (None: the logger has none)."""
        waiting = self.pending.get(mn, ())
        keys = [k for k in self(mn).keys if k not in waiting]
        return keys[0] if keys else None

    def is_pending(self, mn: str, key: bytes | None) -> bool:
        return key is not None and key in self.pending.get(mn, ())


def hj212_config(config: Mapping[str, Any]) -> dict[str, Any]:
    found = config.get("hj212", {})
    return found if isinstance(found, dict) else {}


def edition_of(config: Mapping[str, Any], plant: str, point: str) -> str:
    """The HJ 212 edition a park's logger speaks: ``edition_points`` by ``plant/point`` or ``plant``,
    else the park's ``edition`` (2017 by default). A 2025 logger is given an SM4 key."""
    hj = hj212_config(config)
    per = hj.get("edition_points") or {}
    return str(per.get(f"{plant}/{point}", per.get(plant, hj.get("edition", "2017"))))


def load(conn: psycopg.Connection, points: Iterable[RegistryPoint]) -> Policies:
    """Policies for every point with an MN, from the parks' config and the live ``sm4`` secrets."""
    configs = {p.id: hj212_config(p.config) for p in reads.parks(None, None).fetch(conn)}
    keys, waiting = _keys(conn, SM4), _keys(conn, SM4_NEXT)
    by_mn: dict[str, codec.Policy] = {}
    forms: dict[str, str] = {}
    pending: dict[str, tuple[bytes, ...]] = {}
    for point in points:
        if not point.mn:
            continue
        config = configs.get(point.park, {})
        where = (point.park, point.plant, point.code)
        found = tuple(keys.get(where, ()))
        if where in waiting:
            pending[point.mn] = tuple(k for k in waiting[where] if k not in found)
            found += pending[point.mn]
        by_mn[point.mn] = codec.Policy(keys=found, strict=bool(config.get("strict", False)))
        per_point = config.get("sm4_text_points", {}) or {}
        forms[point.mn] = str(per_point.get(f"{point.plant}/{point.code}", config.get("sm4_text", "hex")))
    return Policies(by_mn, forms, pending)


def _keys(conn: psycopg.Connection, what: str) -> dict[tuple[str, str, str], list[bytes]]:
    """Live SM4 keys (``what``: current or pending) by (park, plant, point), newest first; none when
    the store key is not set."""
    found = [s for s in secrets.live("logger/").fetch(conn) if s.name.endswith(f"/{what}")]
    if not found:
        return {}
    try:
        store_key = secrets.SecretSettings().key()
    except secrets.SecretStoreError as exc:
        log.error("SM4 keys are registered but cannot be opened (%s): encrypted frames will be refused", exc)
        return {}
    out: dict[tuple[str, str, str], list[bytes]] = {}
    for secret in found:
        parts = secret.name.split("/")
        if len(parts) != 5 or secret.form != "sealed":
            continue
        try:
            key = sm4.parse_key(secrets.unseal(secret.value, secret.name, store_key))
        except (secrets.SecretStoreError, sm4.SM4KeyError) as exc:
            log.error("SM4 key %s generation %d not usable: %s", secret.name, secret.generation, exc)
            continue
        out.setdefault((parts[1], parts[2], parts[3]), []).append(key)
    return out


def set_key(
    conn: psycopg.Connection, park: str, plant: str, point: str, key_hex: str, by: str, overlap_s: float
) -> int:
    """Issue a new generation of a logger's SM4 key (the old ones stay live for ``overlap_s``).
    Returns the generation. The caller commits."""
    return _issue(conn, secrets.logger_name(park, plant, point, SM4), key_hex, by, overlap_s)


def _issue(conn: psycopg.Connection, name: str, key_hex: str, by: str, overlap_s: float | None) -> int:
    sm4.parse_key(key_hex)  # refuse a malformed key before it is stored
    sealed = secrets.seal(key_hex.strip().upper(), name, secrets.SecretSettings().key())
    overlap = None if overlap_s is None else timedelta(seconds=overlap_s)
    return secrets.issue(conn, name, "sealed", sealed, by, overlap)


# --- rotation (CN 1014): the pending key ----------------------------------------------------------


def current_since(conn: psycopg.Connection) -> dict[tuple[str, str, str], datetime]:
    """When each logger's current key was issued (its newest live generation), by (park, plant, point)."""
    out: dict[tuple[str, str, str], datetime] = {}
    for s in secrets.live("logger/").fetch(conn):
        parts = s.name.split("/")
        if len(parts) == 5 and parts[4] == SM4:
            where = (parts[1], parts[2], parts[3])
            out[where] = max(out.get(where, s.created_at), s.created_at)
    return out


def issue_pending(conn: psycopg.Connection, park: str, plant: str, point: str, by: str) -> int:
    """A new random key for the logger, pending until it confirms the switch; earlier pending keys stay
    as they are (a silent logger may have switched to one). Returns its generation. The caller commits."""
    name = secrets.logger_name(park, plant, point, SM4_NEXT)
    return _issue(conn, name, sm4.new_key(), by, overlap_s=None)


def pending_hex(conn: psycopg.Connection, park: str, plant: str, point: str, generation: int) -> str | None:
    """The pending key of that generation as 32 hex characters, while it is live."""
    name = secrets.logger_name(park, plant, point, SM4_NEXT)
    for s in secrets.live_for(conn, name):
        if s.generation == generation:
            return secrets.unseal(s.value, name, secrets.SecretSettings().key())
    return None


def pending_generation(conn: psycopg.Connection, park: str, plant: str, point: str, key: bytes) -> int | None:
    """The live pending generation holding ``key`` (a frame opened under it), if any."""
    name = secrets.logger_name(park, plant, point, SM4_NEXT)
    store_key = secrets.SecretSettings().key()
    for s in secrets.live_for(conn, name):
        if secrets.unseal(s.value, name, store_key).upper() == key.hex().upper():
            return s.generation
    return None


def promote(
    conn: psycopg.Connection, park: str, plant: str, point: str, generation: int, by: str, overlap_s: float
) -> int | None:
    """The logger switched to pending ``generation``: it becomes the current key (the previous ones
    accepted for ``overlap_s`` more) and it and older pending keys end. None when it is no longer
    pending (already promoted, or ended). The caller commits."""
    key_hex = pending_hex(conn, park, plant, point, generation)
    if key_hex is None:
        return None
    current = set_key(conn, park, plant, point, key_hex, by, overlap_s)
    secrets.retire(conn, secrets.logger_name(park, plant, point, SM4_NEXT), range(1, generation + 1))
    return current


def drop_pending(
    conn: psycopg.Connection, park: str, plant: str, point: str, generation: int, after_s: float = 0.0
) -> bool:
    """End a pending key now (the logger refused it) or after ``after_s`` (it may have switched
    without telling us: a frame under it within that time still confirms it)."""
    name = secrets.logger_name(park, plant, point, SM4_NEXT)
    # this generation only: a later rotation's key is not touched
    return secrets.retire(conn, name, range(generation, generation + 1), timedelta(seconds=after_s)) > 0
