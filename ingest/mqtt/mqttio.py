"""A paho-mqtt client tuned for a high message rate in one thread.

paho reads every MQTT packet with several small ``recv()`` calls (fixed header byte, each
remaining-length byte, then the body) and, driven by ``loop()``, makes one ``select()`` per packet.
At tens of thousands of messages a second those system calls are most of the worker's time. Here the
socket is wrapped so that one ``recv()`` fills a 256 KiB buffer that paho then reads from; ``pending()``
(which paho already honours for TLS sockets) tells the loop that buffered bytes are waiting, so the
loop can drain them without another ``select()``.
"""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

RECV_CHUNK = 256 * 1024


class BufferedSocket:
    """A non-blocking socket whose ``recv`` serves from a user-space buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._buf):
            data = self._sock.recv(RECV_CHUNK)  # raises BlockingIOError when nothing is there
            if not data:
                return b""
            self._buf, self._pos = data, 0
        end = self._pos + bufsize
        chunk = self._buf[self._pos : end]
        self._pos = end
        return chunk

    def pending(self) -> int:
        return len(self._buf) - self._pos

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class FastClient(mqtt.Client):
    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if isinstance(sock, socket.socket):
            return BufferedSocket(sock)
        return sock


def _pending(sock: object) -> int:
    pending: Callable[[], int] | None = getattr(sock, "pending", None)
    return pending() if pending else 0


def pump(
    client: mqtt.Client,
    wake: socket.socket,
    before_read: Callable[[], None],
    may_read: Callable[[], bool] = lambda: True,
) -> MQTTErrorCode:
    """One turn of a network loop: wait for data or a wake-up, read every buffered packet, write what
    is queued, keep the connection alive. ``before_read`` runs each turn (to queue PUBACKs);
    ``may_read`` is asked before each packet (False: leave the rest in the socket, back-pressure)."""
    sock = client.socket()
    if sock is None:
        return MQTTErrorCode.MQTT_ERR_NO_CONN
    reading = may_read()
    readable = reading and _pending(sock) > 0
    if not readable:
        wlist = [sock] if client.want_write() else []
        ready, _, _ = select.select([sock, wake] if reading else [wake], wlist, [], 0.1)
        readable = sock in ready
        if wake in ready:
            with contextlib.suppress(BlockingIOError):
                while wake.recv(4096):
                    pass
    before_read()
    for _ in range(5000 if readable else 0):
        rc = client.loop_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return rc
        if not _pending(client.socket()) or not may_read():
            break
    if client.want_write():
        rc = client.loop_write()
        if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
            return rc
    return client.loop_misc()
