"""A load generator that publishes pre-encoded MQTT 3.1.1 QoS 1 PUBLISH packets over a plain socket.

paho spends ~150 µs of Python per publish, so a paho load generator eats the core the system under
test needs (the benchmarks run on a 2-core machine with broker and database). Here packets are encoded
with a few byte operations and written in large chunks; a reader thread counts the PUBACKs. This is
the benchmark's own tool only: the system under test still receives ordinary QoS 1 messages.
"""

from __future__ import annotations

import itertools
import socket
import struct
import threading
import time
from collections.abc import Iterable

CHUNK = 256 * 1024
MAX_UNACKED = 30_000


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t + struct.pack("!H", packet_id) + payload
    return b"\x32" + _remaining_length(len(body)) + body


class RawPublisher:
    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = client_id.encode()
        var = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(cid)) + cid
        self.sock.sendall(b"\x10" + _remaining_length(len(var)) + var)
        connack = self.sock.recv(4)
        if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"broker refused the connection: {connack!r}")
        self.sent = 0
        self.acked = 0
        self._ids = itertools.cycle(range(1, 65_536))
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def _read_acks(self) -> None:
        while True:
            try:
                data = self.sock.recv(65_536)
            except OSError:
                return
            if not data:
                return
            self.acked += len(data) // 4  # every PUBACK of MQTT 3.1.1 is 4 bytes

    def publish(self, messages: Iterable[tuple[str, bytes]]) -> int:
        buf = bytearray()
        count = total = 0
        for topic, payload in messages:
            buf += publish_packet(topic, payload, next(self._ids))
            count += 1
            if len(buf) >= CHUNK:
                self._send(buf, count)
                total += count
                buf, count = bytearray(), 0
        if buf:
            self._send(buf, count)
            total += count
        return total

    def _send(self, buf: bytearray, count: int) -> None:
        while self.sent - self.acked > MAX_UNACKED:
            time.sleep(0.001)
        self.sock.sendall(buf)
        self.sent += count

    def wait_acked(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < self.sent:
            if time.monotonic() > deadline:
                raise TimeoutError(f"broker acknowledged {self.acked} of {self.sent} messages")
            time.sleep(0.01)

    def close(self) -> None:
        self.wait_acked()
        self.sock.sendall(b"\xe0\x00")
        self.sock.close()
