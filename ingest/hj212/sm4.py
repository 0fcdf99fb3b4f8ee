"""SM4 over the CP data area (HJ 212-2025): ECB, no padding, whole 16-byte blocks encrypted and a
remainder under 16 bytes left plain; the frame's CRC is over the plaintext segment (encrypt after CRC).

The cipher is ``cryptography``'s SM4 (GB/T 32907-2016); nothing here is hand-written cryptography.

How the ciphertext bytes are written as text inside ``CP=&&...&&`` is not settled by any source we could
read (see the README, HJ 212 section), so the text form is pluggable (``FORMS``):

* ``hex``: every byte of the area (encrypted blocks and plain remainder) as upper-case hex;
* ``hex-tail``: the encrypted blocks as hex, the plain remainder as it is;
* ``brace``: every byte as ``{0x4F,0x1A,...}`` (the form one public implementation shows).

Decoding tries every form that parses (the CRC picks the right reading), so a logger's form needs no
setting to be received; the setting (park file ``config.hj212.sm4_text``) is the form Outfall writes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16
KEY_BYTES = 16
TextForm = Literal["hex", "hex-tail", "brace"]
DEFAULT_FORM: TextForm = "hex"

_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_BRACE_ITEM = re.compile(r"0[xX][0-9A-Fa-f]{1,2}")


class SM4KeyError(ValueError):
    """A key that is not 16 bytes written as 32 hex characters."""


def parse_key(text: str) -> bytes:
    """A key as 32 hex characters (the secret store's ``sm4`` form, and ``--sm4-key``)."""
    cleaned = text.strip()
    if len(cleaned) != 2 * KEY_BYTES or not _HEX.fullmatch(cleaned):
        raise SM4KeyError("an SM4 key is 32 hex characters (128 bits)")
    return bytes.fromhex(cleaned)


def new_key() -> str:
    return secrets.token_hex(KEY_BYTES).upper()


def _whole(data: bytes) -> int:
    return len(data) // BLOCK * BLOCK


def encrypt(area: bytes, key: bytes) -> bytes:
    """ECB over the whole blocks of ``area``; the remainder (under 16 bytes) stays plain."""
    n = _whole(area)
    # ECB is what HJ 212-2025 prescribes for the data area; not our choice of mode
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305
    return enc.update(area[:n]) + enc.finalize() + area[n:]


def decrypt(area: bytes, key: bytes) -> bytes:
    n = _whole(area)
    dec = Cipher(algorithms.SM4(key), modes.ECB()).decryptor()  # noqa: S305
    return dec.update(area[:n]) + dec.finalize() + area[n:]


# --- text forms -------------------------------------------------------------------------------------


def _hex_out(data: bytes) -> str:
    return data.hex().upper()


def _hex_in(text: str) -> bytes | None:
    return bytes.fromhex(text) if text and _HEX.fullmatch(text) else None


def _tail_out(data: bytes) -> str:
    n = _whole(data)
    return data[:n].hex().upper() + data[n:].decode("utf-8")  # a tail cut inside a character: ValueError


def _tail_in(text: str) -> bytes | None:
    # the blocks take 32 hex characters each; whatever is left (under 16 characters) is the plain tail
    blocks = (len(text) // (2 * BLOCK)) * 2 * BLOCK
    while blocks > 0 and len(text) - blocks < BLOCK:
        head, tail = text[:blocks], text[blocks:]
        if tail and _HEX.fullmatch(head):
            return bytes.fromhex(head) + tail.encode("utf-8")
        blocks -= 2 * BLOCK
    return None


def _brace_out(data: bytes) -> str:
    return "{" + ",".join(f"0x{b:02X}" for b in data) + "}"


def _brace_in(text: str) -> bytes | None:
    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        return None
    items = text[1:-1].split(",")
    if not all(_BRACE_ITEM.fullmatch(i.strip()) for i in items):
        return None
    return bytes(int(i.strip(), 16) for i in items)


FORMS: dict[str, tuple[Callable[[bytes], str], Callable[[str], bytes | None]]] = {
    "hex": (_hex_out, _hex_in),
    "hex-tail": (_tail_out, _tail_in),
    "brace": (_brace_out, _brace_in),
}


def to_text(data: bytes, form: str) -> str:
    return FORMS[form][0](data)


def readings_of(text: str) -> list[tuple[str, bytes]]:
    """Every (form, bytes) the text can be read as; the caller's CRC check picks the right one."""
    out = []
    for name, (_, read) in FORMS.items():
        data = read(text)
        if data is not None and (name != "hex-tail" or len(data) % BLOCK):
            out.append((name, data))
    return out
