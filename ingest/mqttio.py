"""A paho-mqtt client tuned for a high message rate in one thread.

paho reads every MQTT packet with several small ``recv()`` calls (fixed header byte, each
remaining-length byte, then the body) and, driven by ``loop()``, makes one ``select()`` per packet.
At tens of thousands of messages a second those system calls are most of the worker's time. Here the
socket is wrapped so that one ``recv()`` fills a 256 KiB buffer that paho then reads from; ``pending()``
(which paho already honours for TLS sockets) tells the loop that buffered bytes are waiting, so the
loop can drain them without another ``select()``.
"""

from __future__ import annotations

import socket
from typing import Any

import paho.mqtt.client as mqtt

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
