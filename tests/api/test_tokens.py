"""`outfall token create|list|revoke`: printed once, stored hashed, scope checked, revocation effective."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from api import auth, deps, tokens
from outfall import cli


def test_token_commands(services, make_park, client, capsys, monkeypatch, db):
    monkeypatch.setenv("OUTFALL_DATABASE_URL", services.database_url)
    spec = make_park()
    assert cli.main(["token", "create", "--role", "operator", "--park", spec.id, "--plant", "shop-01"]) == 0
    out = capsys.readouterr().out
    token_id, token = int(out.split()[1]), out.split(": ")[1].split()[0]
    assert token.startswith(auth.PREFIX)
    stored = db.execute("SELECT hash, prefix FROM api_tokens WHERE id = %s", (token_id,)).fetchone()
    assert bytes(stored[0]) == auth.token_hash(token) and token not in repr(stored)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).json()["plant"] == "shop-01"
    assert cli.main(["token", "list"]) == 0
    assert token not in capsys.readouterr().out
    assert cli.main(["token", "revoke", str(token_id)]) == 0
    monkeypatch.setattr(deps, "TOKEN_CACHE_S", 0.0)
    client.app.state.token_cache.clear()
    time.sleep(0.01)
    assert client.get("/api/v1/me", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "args",
    [
        ["--role", "operator"],  # an operator needs a park
        ["--role", "admin", "--park", "x"],
        ["--role", "officer", "--plant", "p"],
        ["--role", "officer", "--park", "no-such-park"],
    ],
)
def test_token_scope_errors_say_what_to_fix(services, monkeypatch, args):
    monkeypatch.setenv("OUTFALL_DATABASE_URL", services.database_url)
    with pytest.raises(SystemExit, match="outfall token create: "):
        cli.main(["token", "create", *args])


def test_an_expired_token_is_refused_even_from_the_cache_and_renewal_keeps_a_live_one(
    services, client, capsys, monkeypatch
):
    monkeypatch.setenv("OUTFALL_DATABASE_URL", services.database_url)
    assert cli.main(["token", "create", "--role", "officer", "--expires-in", "2s"]) == 0
    out = capsys.readouterr().out
    assert "expires in 2s" in out
    token_id, token = int(out.split()[1]), out.split(": ")[1].split()[0]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # now cached for 5 s
    assert tokens.renew(services.database_url, token_id, timedelta(seconds=3))
    time.sleep(2.2)  # past the first expiry: the renewal holds, in the database (the cache has the old one)
    client.app.state.token_cache.clear()
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    time.sleep(1.2)  # past the renewed expiry: refused at once, though the cache still has the token
    answer = client.get("/api/v1/me", headers=headers)
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    assert not tokens.renew(services.database_url, token_id, timedelta(hours=1))  # expired stays dead
    assert cli.main(["token", "list"]) == 0
    assert f"{token_id:>5}" not in capsys.readouterr().out  # listed only with --all
    assert cli.main(["token", "list", "--all"]) == 0
    assert "expires" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["12", "0h", "5w", "1.5h", "", "h"])
def test_a_bad_token_lifetime_says_what_to_write(services, monkeypatch, text):
    monkeypatch.setenv("OUTFALL_DATABASE_URL", services.database_url)
    with pytest.raises(SystemExit, match="use a number and s, m, h or d"):
        cli.main(["token", "create", "--role", "admin", "--expires-in", text])


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800)])
def test_token_lifetimes(text, seconds):
    assert auth.parse_duration(text) == timedelta(seconds=seconds)
