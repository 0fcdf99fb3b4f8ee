"""The secret store: hashes Mosquitto accepts, sealing bound to the name, generations with overlap."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.core import secrets


@given(st.text(min_size=1, max_size=40))
@settings(max_examples=30, deadline=None)
def test_a_hash_verifies_its_password_and_no_other(password: str) -> None:
    hashed = secrets.hash_secret(password)
    assert secrets.verify(password, hashed)
    assert not secrets.verify(password + "x", hashed)


def test_a_malformed_hash_verifies_nothing() -> None:
    for bad in ("", "plain", "$6$1$abc$def", "$7$x$abc$def", "$7$10$!!$??"):
        assert not secrets.verify("anything", bad)


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd is not installed")
def test_the_hash_form_is_mosquittos(tmp_path: Path) -> None:
    """A hash made by mosquitto_passwd verifies here, so the broker reads the store's hashes as its own."""
    pwfile = tmp_path / "pw"
    pwfile.write_text("")
    pwfile.chmod(0o600)
    subprocess.run(["mosquitto_passwd", "-b", str(pwfile), "logger", "s3cret"], check=True)
    hashed = pwfile.read_text().strip().split(":", 1)[1]
    assert hashed.startswith("$7$")
    assert secrets.verify("s3cret", hashed)
    assert not secrets.verify("s3cret!", hashed)


def test_sealing_is_bound_to_the_key_and_the_name() -> None:
    key = bytes.fromhex(secrets.new_store_key())
    sealed = secrets.seal("0123456789abcdef", "logger/p/a/b/sm4", key)
    assert secrets.unseal(sealed, "logger/p/a/b/sm4", key) == "0123456789abcdef"
    with pytest.raises(secrets.SecretStoreError):
        secrets.unseal(sealed, "logger/p/a/c/sm4", key)
    with pytest.raises(secrets.SecretStoreError):
        secrets.unseal(sealed, "logger/p/a/b/sm4", bytes.fromhex(secrets.new_store_key()))


def test_the_store_key_must_be_32_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTFALL_SECRET_KEY", "abcd")
    with pytest.raises(secrets.SecretStoreError, match="64 hex"):
        secrets.SecretSettings().key()


def test_generations_overlap_then_only_the_newest_is_live(db: psycopg.Connection) -> None:
    name = secrets.logger_name("p-sec", "shop", "out", "mqtt")
    first = secrets.issue(db, name, "hash", secrets.hash_secret("one"), "test")
    second = secrets.issue(db, name, "hash", secrets.hash_secret("two"), "test", overlap=timedelta(hours=1))
    assert (first, second) == (1, 2)
    assert [s.generation for s in secrets.live_for(db, name)] == [2, 1]
    # Without an overlap the older generations end now.
    third = secrets.issue(db, name, "hash", secrets.hash_secret("three"), "test")
    db.commit()
    assert [s.generation for s in secrets.live_for(db, name)] == [third]
    assert secrets.revoke(db, name) == 1
    assert secrets.live_for(db, name) == []


def test_a_verifier_accepts_every_live_generation_and_caches_what_it_verified() -> None:
    slow = 100_000  # PBKDF2 iterations: a verification that is not cached takes a visible time
    old, new = secrets.hash_secret("old-pw", slow), secrets.hash_secret("new-pw", slow)
    verifier = secrets.Verifier({"MN1": [new, old]})
    assert verifier.known("MN1") and not verifier.known("MN2")
    started = time.perf_counter()
    assert verifier.check("MN1", "new-pw") and verifier.check("MN1", "old-pw")
    assert not verifier.check("MN1", "guess") and not verifier.check("MN2", "new-pw")
    uncached = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(100):  # cached either way: PBKDF2 does not run again for the same MN and PW
        assert verifier.check("MN1", "new-pw") and not verifier.check("MN1", "guess")
    assert time.perf_counter() - started < uncached / 4
    assert not any(b"new-pw" in key[1] for key in verifier._ok)  # a keyed digest, not the PW


def test_a_verifier_forgets_after_its_ttl() -> None:
    verifier = secrets.Verifier({"MN1": [secrets.hash_secret("pw")]}, ttl_s=0.0)
    assert verifier.check("MN1", "pw")
    verifier.hashes = {"MN1": [secrets.hash_secret("rotated")]}
    assert not verifier.check("MN1", "pw")  # re-verified against the current hashes
