"""The request guard (api/guard.py) on a real uvicorn server: requests beyond the limit wait for a slot,
then get 503; event streams have a cap of their own. A slot is held by a request whose body is still
arriving, the way a slow or hostile client holds one. And /docs without its installed files says how to
install them (it never falls back to a CDN)."""

from __future__ import annotations

import socket
import time

import httpx

from tests.api.conftest import serve


def hold_a_slot(url: str, token: str) -> socket.socket:
    """A POST whose chunked body has begun and not ended: its route is waiting for the rest."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        (
            "POST /api/v1/alerts/999999999/ack HTTP/1.1\r\n"
            f"Host: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            'Transfer-Encoding: chunked\r\n\r\n2\r\n{"\r\n'
        ).encode()
    )
    return sock


def test_a_flood_waits_for_a_slot_then_gets_503_and_streams_are_capped(services, admin):
    token = admin["Authorization"].removeprefix("Bearer ")
    with serve(services, max_requests=1, queue_wait_s=0.5, max_streams=1) as url:
        held = hold_a_slot(url, token)
        time.sleep(0.2)
        started = time.monotonic()
        busy = httpx.get(url + "/api/v1/me", headers=admin, timeout=10)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2", busy.text
        assert 0.45 < time.monotonic() - started < 3  # it waited for a slot first
        held.sendall(b'9\r\n"note":1}\r\n0\r\n\r\n')  # the held request ends (422: a bad note)
        assert held.recv(100).startswith(b"HTTP/1.1 422")
        held.close()
        assert httpx.get(url + "/api/v1/me", headers=admin, timeout=10).status_code == 200
        with httpx.stream("GET", url + "/api/v1/events", headers=admin, timeout=10) as first:
            assert first.status_code == 200
            second = httpx.get(url + "/api/v1/events", headers=admin, timeout=10)
            assert second.status_code == 503
        assert httpx.get(url + "/api/v1/me", headers=admin, timeout=10).status_code == 200


def test_a_content_length_that_is_not_a_number_is_refused(services, admin):
    with serve(services) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /api/v1/alerts/1/ack HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 400")


def test_docs_say_how_to_install_their_files_when_they_are_missing(services, tmp_path):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ApiSettings

    app = create_app(ApiSettings(docs_assets=str(tmp_path)), services.database_url, ("127.0.0.1", 1))
    with TestClient(app) as client:
        answer = client.get("/docs")
        assert answer.status_code == 503 and "deploy/install-deps.sh" in answer.json()["detail"]
        assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 404
