"""The secret store: logger credentials and receivers' secrets, outside the park file (table ``secrets``,
migration 027; this module is its only SQL).

Two forms, by what the secret is for:

* **hash** — a password that is only compared (a logger's MQTT password, its HJ 212 ``PW``). Stored as
  PBKDF2-HMAC-SHA512 in Mosquitto's password-file form ``$7$<iterations>$<salt b64>$<hash b64>``, so the
  broker's password file is written straight from the store and no clear password is kept anywhere.
  ``verify`` compares in constant time.
* **sealed** — a secret that must be used in clear (an SM4 key, a webhook signing secret, an SMTP
  password): AES-256-GCM under the store key (``OUTFALL_SECRET_KEY``, 32 bytes as 64 hex characters,
  or a file named by ``OUTFALL_SECRET_KEY_FILE``), the secret's name bound as associated data so a sealed
  value cannot be moved to another name.

A name has generations. ``issue`` adds one and gives the live ones a ``not_after`` = now + overlap, during
which old and new are both accepted; ``live`` returns what is accepted now, newest first.

Names (one scheme for every owner):
    logger/{park}/{plant}/{point}/mqtt       hash     the logger's MQTT password
    logger/{park}/{plant}/{point}/hj212-pw   hash     the HJ 212 PW field
    logger/{park}/{plant}/{point}/sm4        sealed   HJ 212-2025 data-area key (hex)
    logger/{park}/{plant}/{point}/sm4-next   sealed   a key sent to the logger with CN 1014, not yet
                                                      confirmed (ingest/hj212/rotation.py)
    receiver/{subscription}/{what}           sealed   a notification receiver's secret
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as pysecrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.core.query import Query

# Mosquitto's mosquitto_passwd uses 101; secrets Outfall issues are random (128 bits or more), so the
# iteration count is not what protects them, and HJ 212 frames are verified on the hot path.
PBKDF2_ITERATIONS = 1_000
_SALT_BYTES = 12
_KEY_BYTES = 32


class SecretStoreError(RuntimeError):
    """A sealed secret cannot be opened (no store key, the wrong key, or a tampered value)."""


class SecretSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTFALL_")

    secret_key: str | None = None  # 64 hex characters
    secret_key_file: Path | None = None

    def key(self) -> bytes:
        text = self.secret_key
        if text is None and self.secret_key_file is not None:
            text = self.secret_key_file.read_text().strip()
        if text is None:
            raise SecretStoreError("no store key: set OUTFALL_SECRET_KEY or OUTFALL_SECRET_KEY_FILE")
        try:
            key = bytes.fromhex(text)
        except ValueError as exc:
            raise SecretStoreError("the store key must be 64 hex characters") from exc
        if len(key) != _KEY_BYTES:
            raise SecretStoreError("the store key must be 64 hex characters (32 bytes)")
        return key


def derived_name(base: str, purpose: str, key: bytes) -> str:
    """``base`` followed by a tag only holders of the store key can compute: a name every Outfall
    process agrees on and no data logger can guess (the ingest workers' MQTT shared-subscription group:
    Mosquitto 2.0's ACL file does not check subscriptions, so a logger that knew the group could join it
    and take its turn of the messages, which the ACL then withholds from everyone)."""
    tag = hmac.new(key, f"{purpose}:{base}".encode(), hashlib.sha256).hexdigest()[:20]
    return f"{base}-{tag}"


def new_store_key() -> str:
    return pysecrets.token_hex(_KEY_BYTES)


def new_password() -> str:
    """A random password of 128+ bits that survives any config file and HJ 212's CP (letters and digits)."""
    return pysecrets.token_urlsafe(18).replace("-", "x").replace("_", "y")


# --- the two forms -------------------------------------------------------------------------------------


def hash_secret(plain: str, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", plain.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify(plain: str, hashed: str) -> bool:
    """Whether ``plain`` is the password behind ``hashed``, compared in constant time."""
    try:
        _, kind, iterations, salt, digest = hashed.split("$")
        if kind != "7":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.pbkdf2_hmac("sha512", plain.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


@dataclass
class Verifier:
    """The hashes accepted now per key (e.g. an HJ 212 MN: every live generation, so a rotation's
    overlap accepts old and new), with a cache of passwords already verified.

    PBKDF2 is slow on purpose, and a logger sends the same PW in every frame: a password verified once
    is remembered for ``ttl_s`` under a keyed digest (HMAC under a random per-process key, so no clear
    password stays in memory), and so is a refused one (bounded, so a flood of guesses cannot grow it).
    The owner builds a new Verifier when it reloads the secrets, which drops the cache: a revoked
    generation stops being accepted at the next refresh.
    """

    hashes: Mapping[str, Sequence[str]]
    ttl_s: float = 300.0
    max_refused: int = 4096
    _key: bytes = field(default_factory=lambda: os.urandom(32))
    _ok: dict[tuple[str, bytes], float] = field(default_factory=dict)
    _refused: dict[tuple[str, bytes], float] = field(default_factory=dict)

    def known(self, key: str) -> bool:
        return bool(self.hashes.get(key))

    def check(self, key: str, plain: str) -> bool:
        """Whether ``plain`` matches a live hash of ``key`` (constant-time comparison)."""
        now = time.monotonic()
        slot = (key, hmac.digest(self._key, f"{key}\0{plain}".encode(), "sha256"))
        for cache, answer in ((self._ok, True), (self._refused, False)):
            until = cache.get(slot)
            if until is not None and until > now:
                return answer
        ok = any(verify(plain, hashed) for hashed in self.hashes.get(key, ()))
        if ok:
            self._ok[slot] = now + self.ttl_s
        else:
            if len(self._refused) >= self.max_refused:
                self._refused.clear()
            self._refused[slot] = now + self.ttl_s
        return ok


def seal(plain: str, name: str, key: bytes) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain.encode(), name.encode())).decode()


def unseal(sealed: str, name: str, key: bytes) -> str:
    raw = base64.b64decode(sealed)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], name.encode()).decode()
    except Exception as exc:  # cryptography raises InvalidTag; any failure means the same thing
        raise SecretStoreError(f"secret {name!r} cannot be opened with this store key") from exc


# --- names ---------------------------------------------------------------------------------------------


def logger_name(park: str, plant: str, point: str, what: str) -> str:
    return f"logger/{park}/{plant}/{point}/{what}"


def receiver_name(subscription: str | int, what: str) -> str:
    return f"receiver/{subscription}/{what}"


# --- the table -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Secret:
    name: str
    generation: int
    form: str
    value: str
    created_at: datetime
    not_after: datetime | None


def issue(
    conn: psycopg.Connection,
    name: str,
    form: str,
    value: str,
    created_by: str,
    overlap: timedelta | None = timedelta(0),
) -> int:
    """Add a generation of ``name`` holding ``value`` (already hashed or sealed); the live generations
    stay accepted for ``overlap`` (None: as long as they were). Returns the new generation. The caller
    commits."""
    if form not in ("hash", "sealed"):
        raise ValueError(f"unknown secret form {form!r}")
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('secrets:' || %s))", (name,))
    if overlap is not None:
        conn.execute(
            "UPDATE secrets SET not_after = now() + %s"
            " WHERE name = %s AND (not_after IS NULL OR not_after > now() + %s)",
            (overlap, name, overlap),
        )
    row = conn.execute(
        "INSERT INTO secrets (name, generation, form, value, created_by)"
        " SELECT %s, coalesce(max(generation), 0) + 1, %s, %s, %s FROM secrets WHERE name = %s"
        " RETURNING generation",
        (name, form, value, created_by, name),
    ).fetchone()
    assert row is not None
    return int(row[0])


def revoke(conn: psycopg.Connection, name: str) -> int:
    """End every generation of ``name`` now. Returns how many were live."""
    cur = conn.execute(
        "UPDATE secrets SET not_after = now() WHERE name = %s AND (not_after IS NULL OR not_after > now())",
        (name,),
    )
    return cur.rowcount


def retire(conn: psycopg.Connection, name: str, generations: range, after: timedelta = timedelta(0)) -> int:
    """End the live ``generations`` of ``name`` at now + ``after`` (sooner if they end sooner
    already). Returns how many were live."""
    cur = conn.execute(
        "UPDATE secrets SET not_after = now() + %s WHERE name = %s AND generation >= %s AND generation < %s"
        " AND (not_after IS NULL OR not_after > now() + %s)",
        (after, name, generations.start, generations.stop, after),
    )
    return cur.rowcount


def live(prefix: str) -> Query[Secret]:
    """The generations accepted now of every name starting with ``prefix``, newest first per name."""
    return Query(
        "SELECT name, generation, form, value, created_at, not_after FROM secrets"
        " WHERE name LIKE %(prefix)s || '%%' AND (not_after IS NULL OR not_after > now())"
        " ORDER BY name, generation DESC",
        {"prefix": prefix.replace("%", r"\%").replace("_", r"\_")},
        Secret,
    )


def live_for(conn: psycopg.Connection, name: str) -> list[Secret]:
    return [s for s in live(name).fetch(conn) if s.name == name]


@dataclass(frozen=True)
class Generation:
    """A live generation of a secret without its value: which key a logger holds, never the key."""

    name: str
    generation: int
    created_at: datetime
    not_after: datetime | None  # the end of a rotation's overlap; None: live until replaced


def live_generations(names: Sequence[str]) -> Query[Generation]:
    """The generations accepted now of these secrets, newest first per name."""
    return Query(
        "SELECT name, generation, created_at, not_after FROM secrets WHERE name = ANY(%s)"
        " AND (not_after IS NULL OR not_after > now()) ORDER BY name, generation DESC",
        (list(names),),
        Generation,
    )
