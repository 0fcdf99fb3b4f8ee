"""Known gaps of the broker (Mosquitto 2.0.11, Debian 12's), pinned as strict xfails so that a broker
that closes them turns them into failures to remove. Each runs on a broker of its own, configured as
`outfall run`'s (ingest/core/localservices.py), because the attack also disturbs the broker for whoever
comes next.

1. The ACL file does not check subscriptions: a data logger may join the ingest workers' shared
   subscription; the broker hands it its turn of the messages, which the ACL then withholds, so they
   reach no worker. Needs a broker that checks subscribe ACLs (Mosquitto's dynamic-security plugin,
   EMQX); meanwhile a deployment can make OUTFALL_INGEST_SHARE_GROUP unguessable.
2. A client refused several times under the client id of a connected persistent session (an ingest
   worker's) leaves that session without its ACL after the next reload (a rotation): the worker gets
   nothing more, or the broker crashes. In a deployment the password listener (1883) is reachable only
   inside the compose network and the loggers' listener (8883) refuses any client without a certificate
   before it sends a client id."""

from __future__ import annotations

import functools
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.core import secrets
from ingest.core.localservices import LocalMosquitto, free_port
from ingest.core.reads import LoggerPoint
from ingest.mqtt import accounts
from tests.support import Publisher

WORKER, SPY = LoggerPoint("p", "shop-01", "total", None), LoggerPoint("p", "shop-02", "total", None)
PASSWORD = "a-throwaway-password"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalMosquitto]:
    hashed = secrets.hash_secret(PASSWORD)
    found = [accounts.Account("outfall-ingest-1", hashed, "read", ("outfall/#",))]
    for p in (WORKER, SPY):
        username = accounts.logger_username(p.park, p.plant, p.point)
        found.append(accounts.Account(username, hashed, "write", accounts.logger_topics(p)))
    accounts.write_files(tmp_path / "auth", *accounts.render(found))
    mq = LocalMosquitto(tmp_path / "mosquitto", free_port(), auth=tmp_path / "auth")
    mq.start()
    yield mq
    mq.stop()


def _ingest(broker: LocalMosquitto) -> Publisher:
    """An ingest worker's connection: persistent session, shared subscription."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600

    def persistent(client: mqtt.Client) -> None:
        client.connect = functools.partial(client.connect, clean_start=False, properties=props)  # type: ignore[method-assign]

    ingest = Publisher("127.0.0.1", broker.port, ("outfall-ingest-1", PASSWORD), setup=persistent)
    ingest.wait_connected()
    ingest.client.subscribe("$share/ingest/outfall/#", 1)
    return ingest


def _login(point: LoggerPoint) -> tuple[str, str]:
    return accounts.logger_username(point.park, point.plant, point.point), PASSWORD


@pytest.mark.xfail(strict=True, reason="Mosquitto 2.0's ACL file does not check subscriptions")
def test_a_logger_joining_the_ingest_share_group_takes_nothing_away(broker: LocalMosquitto) -> None:
    ingest = _ingest(broker)
    spy = Publisher("127.0.0.1", broker.port, _login(SPY))
    logger = Publisher("127.0.0.1", broker.port, _login(WORKER))
    for client in (spy, logger):
        client.wait_connected()
    spy.client.subscribe("$share/ingest/outfall/#", 1)
    time.sleep(0.5)
    for i in range(20):
        logger.publish(accounts.logger_topics(WORKER)[0], str(i).encode())
    logger.flush()
    time.sleep(1)
    assert spy.received == []
    assert len(ingest.received) == 20


@pytest.mark.xfail(strict=True, reason="Mosquitto 2.0.11 loses the session's ACL (or crashes) on reload")
def test_refused_clients_claiming_an_ingest_client_id_change_nothing(broker: LocalMosquitto) -> None:
    ingest = _ingest(broker)
    intruder = Publisher(
        "127.0.0.1", broker.port, None, client_id="outfall-ingest-1"
    )  # retries every 0.1-1 s
    time.sleep(3)
    intruder.client.loop_stop()
    intruder.client.disconnect()
    assert not intruder.connected.is_set()
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGHUP)  # what a rotation does
    time.sleep(0.5)
    logger = Publisher("127.0.0.1", broker.port, _login(WORKER))
    logger.wait_connected()
    for i in range(5):
        logger.publish(accounts.logger_topics(WORKER)[0], str(i).encode())
    time.sleep(1)
    assert len(ingest.received) == 5
