"""Per logger, what decoding its frames depends on (``codec.Policy``): its live SM4 keys and its park's
strict mode; and the SM4 text form Outfall writes for it.

Keys live in the secret store (``ingest/core/secrets.py``), sealed, as 32 hex characters under
``logger/{park}/{plant}/{point}/sm4``; every live generation is kept, newest first, so a logger still on
the old key during a rotation's overlap is read as well as one already on the new key. Strict mode and
the text form come from the park file::

    config:
      hj212:
        strict: true              # refuse frames with quirks (default false: accept and count them)
        sm4_text: hex             # hex | hex-tail | brace: how Outfall writes SM4 ciphertext
        sm4_text_points: {shop-01/outlet: brace}   # per logger
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ingest.core import reads, secrets
from ingest.core.models import RegistryPoint
from ingest.hj212 import codec, sm4

log = logging.getLogger(__name__)

SM4 = "sm4"  # the secret's last name part


@dataclass(frozen=True)
class Policies:
    by_mn: dict[str, codec.Policy] = field(default_factory=dict)
    forms: dict[str, str] = field(default_factory=dict)

    def __call__(self, mn: str) -> codec.Policy:
        return self.by_mn.get(mn, codec.TOLERANT)

    def form(self, mn: str) -> str:
        return self.forms.get(mn, sm4.DEFAULT_FORM)


def hj212_config(config: Mapping[str, Any]) -> dict[str, Any]:
    found = config.get("hj212", {})
    return found if isinstance(found, dict) else {}


def load(conn: psycopg.Connection, points: Iterable[RegistryPoint]) -> Policies:
    """Policies for every point with an MN, from the parks' config and the live ``sm4`` secrets."""
    configs = {p.id: hj212_config(p.config) for p in reads.parks(None, None).fetch(conn)}
    keys = _keys(conn)
    by_mn: dict[str, codec.Policy] = {}
    forms: dict[str, str] = {}
    for point in points:
        if not point.mn:
            continue
        config = configs.get(point.park, {})
        found = tuple(keys.get((point.park, point.plant, point.code), ()))
        by_mn[point.mn] = codec.Policy(keys=found, strict=bool(config.get("strict", False)))
        per_point = config.get("sm4_text_points", {}) or {}
        forms[point.mn] = str(per_point.get(f"{point.plant}/{point.code}", config.get("sm4_text", "hex")))
    return Policies(by_mn, forms)


def _keys(conn: psycopg.Connection) -> dict[tuple[str, str, str], list[bytes]]:
    """Live SM4 keys by (park, plant, point), newest first; none when the store key is not set."""
    found = [s for s in secrets.live("logger/").fetch(conn) if s.name.endswith(f"/{SM4}")]
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
    from datetime import timedelta

    sm4.parse_key(key_hex)  # refuse a malformed key before it is stored
    name = secrets.logger_name(park, plant, point, SM4)
    sealed = secrets.seal(key_hex.strip().upper(), name, secrets.SecretSettings().key())
    return secrets.issue(conn, name, "sealed", sealed, by, timedelta(seconds=overlap_s))
