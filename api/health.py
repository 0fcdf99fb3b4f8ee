"""Liveness of the service's dependencies, for /healthz."""

from __future__ import annotations

import asyncio

# A minimal MQTT 3.1.1 CONNECT (clean session, empty client id, keepalive 10 s). A healthy broker answers
# with CONNACK 0x20 0x02 0x00 0x00. Speaking the protocol catches a port that is open but not a broker.
_CONNECT = bytes([0x10, 12, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x0A, 0x00, 0x00])
_DISCONNECT = bytes([0xE0, 0x00])


async def broker_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(_CONNECT)
        await writer.drain()
        reply = await asyncio.wait_for(reader.readexactly(4), timeout)
        writer.write(_DISCONNECT)
        await writer.drain()
        return reply[0] == 0x20 and reply[3] == 0x00
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        writer.close()
