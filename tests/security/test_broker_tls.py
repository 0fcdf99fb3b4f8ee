"""The deployment broker's TLS listener (deploy/mosquitto.conf, issue 11 items 1 and 10): a data logger
logs in with a client certificate whose CN is its username, and may write only its own topics.

Runs the shipped configuration file itself on a real Mosquitto (paths and ports replaced), with a CA,
a server and a logger certificate made here, and the ACL rendered by ingest/mqtt/accounts.py."""

from __future__ import annotations

import getpass
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ingest.core import secrets
from ingest.core.localservices import free_port, wait_for_port
from ingest.core.reads import LoggerPoint
from ingest.mqtt import accounts
from tests.support import ROOT, Publisher, wait_for

LOGGER = LoggerPoint("park-a", "shop-01", "total", "MN0001")
OTHER = LoggerPoint("park-a", "shop-02", "total", None)
INGEST_PASSWORD = "ingest-password"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    ca_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if cn == "localhost":
        san = x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
        )
        builder = builder.add_extension(san, critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _write(folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / f"{name}.key").write_bytes(pem)


def _pki(folder: Path) -> None:
    folder.mkdir(parents=True)
    ca_key = _key()
    ca = _cert("Outfall test park CA", ca_key, None, ca_key)
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_key, logger_key = _key(), _key()
    _write(folder, "server", _cert("localhost", server_key, ca, ca_key), server_key)
    username = accounts.logger_username(LOGGER.park, LOGGER.plant, LOGGER.point)
    _write(folder, "logger", _cert(username, logger_key, ca, ca_key), logger_key)


def _config(root: Path, plain_port: int, tls_port: int) -> str:
    text = (ROOT / "deploy" / "mosquitto.conf").read_text(encoding="utf-8")
    for old, new in (
        ("/mosquitto/auth/", f"{root}/auth/"),
        ("/mosquitto/data/", f"{root}/data/"),
        ("/mosquitto/tls/", f"{root}/tls/"),
        ("listener 1883", f"listener {plain_port} 127.0.0.1"),
        ("listener 8883", f"listener {tls_port} 127.0.0.1"),
        ("log_dest stdout", f"log_dest file {root}/mosquitto.log"),
    ):
        assert old in text, f"deploy/mosquitto.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text + f"\nuser {getpass.getuser()}\n"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Path, int, int]]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    _pki(tmp_path / "tls")
    (tmp_path / "data").mkdir()
    ingest = accounts.Account(
        "outfall-ingest-1", secrets.hash_secret(INGEST_PASSWORD), "read", ("outfall/#",)
    )
    loggers = [
        accounts.Account(
            accounts.logger_username(p.park, p.plant, p.point), None, "write", accounts.logger_topics(p)
        )
        for p in (LOGGER, OTHER)
    ]
    assert accounts.write_files(tmp_path / "auth", *accounts.render([ingest, *loggers]))
    plain, tls = free_port(), free_port()
    (tmp_path / "mosquitto.conf").write_text(_config(tmp_path, plain, tls))
    proc = subprocess.Popen([binary, "-c", str(tmp_path / "mosquitto.conf")], start_new_session=True)
    try:
        wait_for_port(tls, 15, "mosquitto (TLS)")
        yield tmp_path, plain, tls
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _tls_client(root: Path, port: int, cert: bool) -> Publisher:
    def setup(client: mqtt.Client) -> None:
        client.tls_set(
            ca_certs=str(root / "tls" / "ca.crt"),
            certfile=str(root / "tls" / "logger.crt") if cert else None,
            keyfile=str(root / "tls" / "logger.key") if cert else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )

    return Publisher("127.0.0.1", port, setup=setup)


def test_a_logger_certificate_writes_its_own_topic_only(tls_broker: tuple[Path, int, int]) -> None:
    root, plain, tls = tls_broker
    reader = Publisher("127.0.0.1", plain, ("outfall-ingest-1", INGEST_PASSWORD))
    reader.wait_connected()
    reader.client.subscribe("$share/ingest/outfall/#", 1)
    logger = _tls_client(root, tls, cert=True)
    logger.wait_connected()
    own, other = accounts.logger_topics(LOGGER), accounts.logger_topics(OTHER)
    for topic in (*own, *other, "outfall/v1/park-b/shop-01/total"):
        logger.publish(topic, b"{}")
    logger.flush()
    assert logger.refused == [135, 135]  # the other plant's topic and another park's
    wait_for(lambda: len(reader.received) >= 2, timeout=10, message="the logger's own messages")
    time.sleep(0.3)
    assert sorted(reader.received) == sorted(own)
    logger.close()
    reader.close()


def test_no_certificate_no_connection(tls_broker: tuple[Path, int, int]) -> None:
    root, _plain, tls = tls_broker
    try:
        client = _tls_client(root, tls, cert=False)
    except (ssl.SSLError, OSError):
        return  # refused in the TLS handshake
    try:
        assert not client.connected.wait(3), "a client without a certificate was let in"
    finally:
        client.client.disconnect()
        client.client.loop_stop()
