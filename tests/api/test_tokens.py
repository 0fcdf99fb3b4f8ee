"""`outfall token create|list|revoke`: printed once, stored hashed, scope checked, revocation effective."""

from __future__ import annotations

import time

import pytest

from api import auth, deps
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
