"""The broker's accounts (ingest/mqtt/accounts.py): names, the rendered password file and ACL, and the
files and credentials written from the store against the real database."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson
import psycopg
import pytest

from ingest.core import secrets
from ingest.core.models import ParkSpec
from ingest.core.reads import LoggerPoint
from ingest.core.settings import BrokerSettings
from ingest.mqtt import accounts
from tests.support import SMALL_PARK, Services


def test_each_generation_has_its_own_username() -> None:
    assert accounts.logger_username("p", "shop-01", "total") == "p.shop-01.total"
    assert accounts.logger_username("p", "shop-01", "total", 3) == "p.shop-01.total.g3"


def test_a_logger_writes_its_json_and_hj212_topics() -> None:
    assert accounts.logger_topics(LoggerPoint("p", "s", "t", "MN1")) == (
        "outfall/v1/p/s/t",
        "outfall/hj212/MN1",
    )
    assert accounts.logger_topics(LoggerPoint("p", "s", "t", None)) == ("outfall/v1/p/s/t",)


def test_render_writes_user_blocks_and_only_password_logins() -> None:
    reader = accounts.Account("outfall-ingest-1", "$7$hash", "read", ("outfall/#",))
    cert_only = accounts.Account("p.s.t", None, "write", ("outfall/v1/p/s/t",))
    passwd, acl = accounts.render([reader, cert_only])
    assert passwd == "outfall-ingest-1:$7$hash\n"
    assert "user outfall-ingest-1\ntopic read outfall/#\n" in acl
    assert "user p.s.t\ntopic write outfall/v1/p/s/t\n" in acl
    assert "pattern" not in acl and "\ntopic" not in acl.split("user", 1)[0]  # no rule outside a user block


@pytest.mark.parametrize("bad", ["a/b", "a+b", "a#b", "a:b", "a b", ""])
def test_render_refuses_usernames_an_acl_cannot_hold(bad: str) -> None:
    with pytest.raises(ValueError):
        accounts.render([accounts.Account(bad, "$7$x", "write", ("outfall/v1/p/s/t",))])


def test_files_are_private_and_rewritten_only_on_change(tmp_path: Path) -> None:
    assert accounts.write_files(tmp_path, "u:$7$x\n", "user u\n")
    assert stat.S_IMODE(os.stat(tmp_path / "passwd").st_mode) == 0o600
    assert not accounts.write_files(tmp_path, "u:$7$x\n", "user u\n")
    assert accounts.write_files(tmp_path, "u:$7$y\n", "user u\n")


def test_provision_then_rotate_then_expire(
    services: Services, make_park: Callable[..., ParkSpec], tmp_path: Path
) -> None:
    park = make_park()
    creds = tmp_path / "credentials.json"
    with psycopg.connect(services.database_url) as conn:
        first = accounts.provision(conn, park.id, creds)
    assert first == 2 * 3  # three points: an MQTT password and an HJ 212 PW each
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    known = orjson.loads(creds.read_bytes())
    entry = known[f"{park.id}/shop-01/total"]
    assert entry["mqtt_username"] == f"{park.id}.shop-01.total"
    with psycopg.connect(services.database_url) as conn:
        assert accounts.provision(conn, park.id, creds) == 0  # the file still holds live secrets
        point = accounts.find_point(conn, park.id, "shop-01", "total")
        new = accounts.issue_logger(conn, point, "mqtt", "test", timedelta(hours=1))
        mine = [a for a in accounts.accounts(conn) if a.username.startswith(f"{park.id}.shop-01.total")]
    assert new.username == f"{park.id}.shop-01.total.g2"
    assert {a.username for a in mine} == {entry["mqtt_username"], new.username}  # both during the overlap
    with psycopg.connect(services.database_url) as conn:
        conn.execute(
            "UPDATE secrets SET not_after = now() - interval '1 s' WHERE name = %s AND generation = 1",
            (secrets.logger_name(park.id, "shop-01", "total", "mqtt"),),
        )
        settings = BrokerSettings(dir=tmp_path / "broker")
        assert accounts.sync(conn, settings)
    passwd = (tmp_path / "broker" / "passwd").read_text()
    assert f"{new.username}:" in passwd and f"{park.id}.shop-01.total:" not in passwd
    acl = (tmp_path / "broker" / "acl").read_text()
    assert f"user {park.id}.shop-01.total\n" in acl  # still there for a client certificate with that CN


def test_provision_gives_the_loggers_of_a_2025_park_an_sm4_key(
    services: Services,
    make_park: Callable[..., ParkSpec],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OUTFALL_SECRET_KEY", "5e" * 32)
    park = make_park(SMALL_PARK + "config:\n  hj212: {{edition: 2025}}\n")
    plain = make_park()
    creds = tmp_path / "credentials.json"
    with psycopg.connect(services.database_url) as conn:
        assert accounts.provision(conn, park.id, creds) == 3 * 3  # and an SM4 key each
        assert accounts.provision(conn, plain.id, creds) == 2 * 3  # a 2017 park: none
        assert accounts.provision(conn, park.id, creds) == 0  # the file holds the live keys
        known = orjson.loads(creds.read_bytes())
        store_key = secrets.SecretSettings().key()
        for plant in park.plants:
            for point in plant.points:
                name = secrets.logger_name(park.id, plant.id, point.id, "sm4")
                live = [secrets.unseal(s.value, name, store_key) for s in secrets.live_for(conn, name)]
                assert live == [known[f"{park.id}/{plant.id}/{point.id}"]["sm4_key"]]  # the gateway's
    assert all("sm4_key" not in e for k, e in known.items() if k.startswith(f"{plain.id}/"))
