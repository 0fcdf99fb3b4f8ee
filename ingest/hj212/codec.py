"""HJ 212 wire format (HJ 212-2025, HJ 212-2017 and HJ/T 212-2005): frame codec, CRC and CP parsing.

    ##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n

``##``, the 4-digit length of the data segment, the data segment, its CRC as 4 hex digits, CR LF
(HJ 212-2017 §6.3.1). ``decode`` is pure and total over bytes: it returns a ``Frame`` or raises
``HJ212Error`` with a reason a person understands; no other exception escapes it. What real 2005-era
loggers send is tolerated: QN and Flag missing, header fields in any order, 17-digit DataTime (with
milliseconds), lower-case CRC, a trailing ``;`` before the closing ``&&``. Unknown header and CP fields
are kept, not fatal.

The edition is chosen per frame by the version bits of Flag (0 = 2005, 1 = 2017, 2 = 2025). A 2025 data
frame (CN 2000-2999, 1014, 3020) may carry its data area SM4-encrypted (``sm4.py``): the CRC is over the
plaintext, so the CRC is also what proves a key right. What real loggers get wrong but the CRC proves was
sent intact is accepted and named in ``Frame.quirks`` (``QUIRKS``); a park in strict mode refuses it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from ingest.core import parameters
from ingest.hj212 import sm4

MAX_DATA = 1024  # characters in the data segment (HJ 212-2017 §6.3.1, the packet layout)
MAX_CP = 950  # characters of CP (HJ 212-2025: a longer data segment must be split)
# An encrypted data area is written as text (hex: 2 characters a byte; braces: 5), so the wire segment
# of a 2025 frame may be longer than its plaintext; the plaintext is what MAX_DATA bounds.
MAX_WIRE = MAX_DATA + 4 * MAX_CP + 16
MAX_FRAME = 2 + 4 + MAX_WIRE + 4 + 2
HEADER_KEYS = ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO")
# Factor fields whose values are numbers (Table 4 plus SBxxx-RS/RT and the 2005 alarm value).
NUMERIC_FIELDS = frozenset(
    {"Rtd", "Min", "Avg", "Max", "Cou", "ZsRtd", "ZsMin", "ZsAvg", "ZsMax", "Ala", "RS", "RT"}
)
FLAG_REPLY = 0b01  # A: the sender wants an answer
FLAG_SPLIT = 0b10  # D: the packet carries PNUM and PNO
VERSION_2005, VERSION_2017, VERSION_2025 = 0, 1, 2
EDITIONS = {VERSION_2005: "2005", VERSION_2017: "2017", VERSION_2025: "2025"}

# What real loggers send that the standard does not allow, accepted when the CRC proves the frame was
# sent intact (README, HJ 212: "tolerant decoding"); the key is what the logger_quirks table counts.
QUIRKS = {
    "split_flag_without_pnum": "the split bit of Flag is set but PNUM/PNO are missing",
    "system_code_not_two_digits": "ST is blank or not 2 digits",
    "mn_not_24_characters": "MN is not 24 characters (HJ 212-2017 and 2025 fix it at 24)",
    "data_time_milliseconds": "DataTime carries milliseconds (17 digits)",
    "length_field_wrong": "the length field does not match the data segment (the CRC does)",
}

Edition = Literal["2005", "2017", "2025"]
Factors = dict[str, dict[str, float | str]]

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DIGITS = re.compile(r"[0-9]+")
_MN = re.compile(r"[0-9A-Za-z_-]{1,32}")
_TIME = re.compile(r"[0-9]{14}(?:[0-9]{3})?")
_ST = re.compile(r"[0-9]{0,3}")
_HEAD_FIELD = re.compile(r"(?:^|;)(MN|CN|Flag)=([^;]*)")


class HJ212Error(ValueError):
    """The one error of the codec: a frame that cannot be decoded, with the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Frame:
    st: str
    cn: str
    mn: str
    qn: str | None = None
    pw: str | None = None
    flag: int | None = None  # None: no Flag field (common in 2005-era traffic)
    pnum: int | None = None
    pno: int | None = None
    # factor code (as sent) -> field (Rtd, Avg, Flag, SampleTime, ...) -> number or text
    factors: Factors = field(default_factory=dict)
    # CP items that are not factor fields: DataTime, BeginTime, QnRtn, AlarmType, RtdInterval, ...
    other: dict[str, str] = field(default_factory=dict)
    extra_header: dict[str, str] = field(default_factory=dict)
    repeated: tuple[str, ...] = ()  # factor codes sent again in a later item (ignored, first counts)
    # keys of QUIRKS found while decoding; not part of the frame's value (a re-encoded frame has none)
    quirks: tuple[str, ...] = field(default=(), compare=False)
    encrypted: bool = field(default=False, compare=False)  # the data area arrived SM4-encrypted
    # the SM4 key that opened it (a key rotation's pending key proves the logger switched)
    key: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def version(self) -> int:
        return 0 if self.flag is None else self.flag >> 2

    @property
    def edition(self) -> Edition:
        return "2025" if self.version == VERSION_2025 else "2017" if self.version == VERSION_2017 else "2005"

    @property
    def backfill(self) -> bool:
        """``RF=1`` (HJ 212-2025): re-sent (补传) data, not a first sending."""
        return self.extra_header.get("RF") == "1"

    @property
    def wants_reply(self) -> bool:
        return self.flag is not None and bool(self.flag & FLAG_REPLY)

    @property
    def is_split(self) -> bool:
        return self.pnum is not None

    @property
    def data_time(self) -> str | None:
        return self.other.get("DataTime")


def _crc_step(value: int) -> int:
    for _ in range(8):
        value = (value >> 1) ^ 0xA001 if value & 1 else value >> 1
    return value


# ``(crc >> 8) ^ byte`` is below 256, so the eight shifts that follow are one table look-up.
_CRC_TABLE = tuple(_crc_step(n) for n in range(256))


def crc16(data: bytes) -> int:
    """The CRC of HJ 212 Annex A: not CRC-16/MODBUS; each byte goes in as ``(crc >> 8) ^ byte``."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc >> 8) ^ byte]
    return crc


def wrap(segment: str) -> bytes:
    """A data segment framed: ``##``, length, segment, CRC, CR LF."""
    data = segment.encode()
    if len(data) > MAX_DATA:
        raise HJ212Error(f"data segment is {len(data)} characters, over the {MAX_DATA}-character limit")
    return b"##%04d%s%04X\r\n" % (len(data), data, crc16(data))


def encryptable(cn: str, version: int) -> bool:
    """HJ 212-2025 encrypts the data area of data commands (CN 2000-2999), key exchange (1014) and
    device information (3020)."""
    return version == VERSION_2025 and (cn.startswith("2") or cn in ("1014", "3020"))


def encode(frame: Frame, key: bytes | None = None, form: str = sm4.DEFAULT_FORM) -> bytes:
    """One frame; with ``key``, a 2025 frame's data area is SM4-encrypted (after the CRC, which stays
    over the plaintext) and written in ``form``. The length field counts the segment as sent."""
    segment = _segment(frame)
    data = segment.encode()
    if len(data) > MAX_DATA:
        raise HJ212Error(f"data segment is {len(data)} characters, over the {MAX_DATA}-character limit")
    crc = crc16(data)
    if key is not None and encryptable(frame.cn, frame.version):
        cp_at = segment.index("CP=&&") + 5
        area = sm4.encrypt(segment[cp_at:-2].encode(), key)
        data = (segment[:cp_at] + sm4.to_text(area, form) + "&&").encode()
    return b"##%04d%s%04X\r\n" % (len(data), data, crc)


def encode_parts(frame: Frame, key: bytes | None = None, form: str = sm4.DEFAULT_FORM) -> list[bytes]:
    """The frame as one packet, or split (PNUM/PNO, the D bit of Flag) when its data segment would pass
    1,024 characters or its CP 950 (HJ 212-2025): each part carries the non-factor items (DataTime)
    and as many factors as fit."""
    if len(_segment(frame).encode()) <= MAX_DATA and len(_cp(frame).encode()) <= MAX_CP:
        return [encode(frame, key, form)]
    groups: list[dict[str, dict[str, float | str]]] = [{}]
    for code, fields in frame.factors.items():
        trial = replace(frame, factors={**groups[-1], code: fields}, pnum=9999, pno=9999, flag=0)
        if groups[-1] and (len(_cp(trial)) > MAX_CP or len(_segment(trial).encode()) > MAX_DATA):
            groups.append({})
        groups[-1][code] = fields
    flag = (frame.flag if frame.flag is not None else VERSION_2017 << 2) | FLAG_SPLIT
    parts = [replace(frame, factors=g, flag=flag, pnum=len(groups), pno=n) for n, g in enumerate(groups, 1)]
    for part in parts:
        if len(_cp(part)) > MAX_CP:
            raise HJ212Error(f"one CP item is over the {MAX_CP}-character limit of CP even alone")
    return [encode(part, key, form) for part in parts]


def _segment(frame: Frame) -> str:
    head = [("QN", frame.qn), ("ST", frame.st), ("CN", frame.cn), ("PW", frame.pw), ("MN", frame.mn)]
    head += [("Flag", None if frame.flag is None else str(frame.flag))]
    head += [("PNUM", _opt(frame.pnum)), ("PNO", _opt(frame.pno)), *frame.extra_header.items()]
    header = "".join(f"{k}={v};" for k, v in head if v is not None)
    return f"{header}CP=&&{_cp(frame)}&&"


def _cp(frame: Frame) -> str:
    items = [f"{k}={v}" for k, v in frame.other.items()]
    for code, fields in frame.factors.items():
        items.append(",".join(f"{code}-{name}={_text(value)}" for name, value in fields.items()))
    return ";".join(items)


def _opt(value: int | None) -> str | None:
    return None if value is None else str(value)


def _text(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if not math.isfinite(value):
        raise HJ212Error(f"cannot encode {value!r}: HJ 212 numbers are finite decimals")
    # The shortest repr, written without an exponent (HJ 212 numbers are plain decimals).
    return format(Decimal(repr(value)), "f")


@dataclass(frozen=True)
class Policy:
    """What decoding one logger's frames depends on: its live SM4 keys (newest first; several during a
    rotation's overlap) and whether its park refuses quirks (strict mode)."""

    keys: tuple[bytes, ...] = ()
    strict: bool = False


TOLERANT = Policy()
Lookup = Callable[[str], Policy]


def decode(raw: bytes, policy: Policy | Lookup = TOLERANT) -> Frame:
    """Decode one frame (with or without its CR LF). ``policy`` (or a look-up of it by MN) gives the
    logger's SM4 keys and strictness. Raises ``HJ212Error`` and nothing else: the fuzz tests hold it to
    that, so there is deliberately no catch-all here to hide a parser bug."""
    length, data, carried = _unwrap(raw.rstrip(b"\r\n"))
    quirks: list[str] = []
    text, strict, key = _open(length, data, carried, policy, quirks)
    cp_at = text.find("CP=&&")
    header = _header(text[:cp_at])
    factors, other, repeated = parse_cp(text[cp_at + 5 : -2])
    frame = _frame(header, factors, other, repeated, quirks)
    frame = replace(frame, quirks=tuple(dict.fromkeys(quirks)), encrypted=key is not None, key=key)
    if strict and frame.quirks:
        raise HJ212Error(strict_refusal(frame))
    return frame


def strict_refusal(frame: Frame) -> str:
    """Why a park in strict mode refuses this frame (its first quirk)."""
    return f"refused in strict mode (park setting): {QUIRKS[frame.quirks[0]]}"


def _unwrap(raw: bytes) -> tuple[int, bytes, int]:
    """Check ``##`` and the shape of length and CRC; return the length field, data segment and CRC."""
    if not raw.startswith(b"##"):
        raise HJ212Error(f"frame does not start with ## (starts with {raw[:8]!r})")
    length_field = raw[2:6]
    if len(raw) < 12 or not length_field.isdigit():
        raise HJ212Error(f"bad length field {length_field!r}: expected 4 decimal digits after ##")
    data, crc_field = raw[6:-4], raw[-4:]
    if len(data) > MAX_WIRE:
        raise HJ212Error(f"data segment is over the {MAX_DATA}-character limit")
    try:
        carried = int(crc_field.decode("ascii"), 16)
    except ValueError:
        raise HJ212Error(f"bad CRC field {crc_field!r}: expected 4 hex digits") from None
    return int(length_field), data, carried


def _open(
    length: int, data: bytes, carried: int, policy: Policy | Lookup, quirks: list[str]
) -> tuple[str, bool, bytes | None]:
    """The plaintext data segment, checked against the CRC (decrypted first when the logger has SM4
    keys and the frame is a 2025 data frame); with the park's strictness and the key that opened it
    (None: it came in clear)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise HJ212Error("data segment is not valid UTF-8") from None
    cp_at = text.find("CP=&&")
    head: dict[str, str] = {m[1]: m[2] for m in _HEAD_FIELD.finditer(text[: max(cp_at, 0)])}
    found = policy(head.get("MN", "")) if callable(policy) else policy
    sealed = bool(found.keys) and encryptable(head.get("CN", ""), _version(head.get("Flag")))
    if len(data) > MAX_DATA and not sealed:  # only an encrypted area's text may make it longer
        raise HJ212Error(f"data segment is {len(data)} characters, over the {MAX_DATA}-character limit")
    if cp_at < 0:
        raise HJ212Error("data segment has no CP=&&...&& part")
    if not text.endswith("&&") or len(text) < cp_at + 7:
        raise HJ212Error("CP is not closed with && before the CRC")
    plain, key = text, None
    if sealed:
        plain, key = _decrypted(text, cp_at, carried, found.keys, head.get("MN", ""))
    elif crc16(data) != carried:
        if not _length_ok(length, data):
            raise HJ212Error(f"bad length: the length field says {length}, the data segment has {len(data)}")
        raise HJ212Error(f"bad CRC: frame carries {carried:04X}, data gives {crc16(data):04X}")
    if len(plain.encode()) > MAX_DATA:
        raise HJ212Error(f"data segment is over the {MAX_DATA}-character limit")
    if not (_length_ok(length, data) or _length_ok(length, plain.encode())):
        quirks.append("length_field_wrong")
    return plain, found.strict, key


def may_be_sealed(raw: bytes) -> bool:
    """Whether a frame that failed to decode is a 2025 data frame (one an SM4 key may open)."""
    head = raw[: raw.find(b"CP=&&")].decode("utf-8", errors="replace")
    found = {m[1]: m[2] for m in _HEAD_FIELD.finditer(head)}
    return encryptable(found.get("CN", ""), _version(found.get("Flag")))


def _decrypted(text: str, cp_at: int, carried: int, keys: tuple[bytes, ...], mn: str) -> tuple[str, bytes]:
    """The segment with its data area decrypted by the first key (newest first) and text form under
    which the CRC matches, and that key; a frame no live key opens is refused, as is one sent in clear."""
    head, area = text[: cp_at + 5], text[cp_at + 5 : -2]
    readings = sm4.readings_of(area)
    for key in keys:
        for _form, blob in readings:
            try:
                plain = head + sm4.decrypt(blob, key).decode("utf-8") + "&&"
            except UnicodeDecodeError:
                continue
            if crc16(plain.encode()) == carried:
                return plain, key
    if crc16(text.encode()) == carried:
        raise HJ212Error(f"MN {mn} has an SM4 key, but this 2025 data frame came with its data area in clear")
    raise HJ212Error(
        f"SM4: the data area does not decrypt under any of the {len(keys)} live key(s) of MN {mn}"
        " (the CRC over the plaintext does not match): a wrong key, or a damaged frame"
    )


def edition_of_flag(flag: str | None) -> Edition:
    """The edition a header's Flag field names (none: the 2005 edition, which had no Flag)."""
    version = _version(flag)
    return "2025" if version == VERSION_2025 else "2017" if version == VERSION_2017 else "2005"


def _version(flag: str | None) -> int:
    return int(flag) >> 2 if flag is not None and _DIGITS.fullmatch(flag) and len(flag) <= 3 else 0


def _length_ok(length: int, data: bytes) -> bool:
    return length in (len(data), _chars(data))


def _chars(data: bytes) -> int:
    # Some loggers count characters, not bytes, when the segment holds UTF-8 text (Chinese names).
    return len(data.decode("utf-8", errors="replace"))


def _header(text: str) -> dict[str, str]:
    header: dict[str, str] = {}
    for item in text.split(";"):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise HJ212Error(f"bad header: {item[:40]!r} is not KEY=VALUE")
        if key in header:
            raise HJ212Error(f"bad header: field {key} appears twice")
        header[key] = value
    for key in ("ST", "CN", "MN"):
        if key not in header:
            raise HJ212Error(f"missing field {key} in the header")
    return header


def _frame(
    header: dict[str, str],
    factors: Factors,
    other: dict[str, str],
    repeated: tuple[str, ...],
    quirks: list[str],
) -> Frame:
    st, cn, mn = header.pop("ST"), header.pop("CN"), header.pop("MN")
    if not _ST.fullmatch(st):
        raise HJ212Error(f"bad header: ST={st[:10]!r} is not a system code of digits")
    if not (len(cn) == 4 and _DIGITS.fullmatch(cn)):
        raise HJ212Error(f"bad header: CN={cn[:10]!r} is not a 4-digit command code")
    if not _MN.fullmatch(mn):
        raise HJ212Error(f"bad header: MN={mn[:40]!r} is not 1-32 letters and digits")
    qn = header.pop("QN", None)
    if qn is not None and not (_DIGITS.fullmatch(qn) and len(qn) <= 20):
        raise HJ212Error(f"bad header: QN={qn[:30]!r} is not a timestamp of digits")
    flag = _int_field(header, "Flag", 255)
    pnum, pno = _int_field(header, "PNUM", 9999), _int_field(header, "PNO", 9999)
    if flag is not None and flag >> 2 > VERSION_2025:
        raise HJ212Error(
            f"unsupported protocol version {flag >> 2} in Flag={flag} (2005 = 0, 2017 = 1, 2025 = 2)"
        )
    if (pnum is None) != (pno is None):
        raise HJ212Error("bad header: a split packet needs both PNUM and PNO")
    if pnum is not None and pno is not None and not 1 <= pno <= pnum:
        raise HJ212Error(f"bad header: packet number PNO={pno} is outside 1..PNUM={pnum}")
    quirks += _header_quirks(st, mn, flag, pnum, other)
    pw = header.pop("PW", None)
    return Frame(st, cn, mn, qn, pw, flag, pnum, pno, factors, other, header, repeated)


def _header_quirks(st: str, mn: str, flag: int | None, pnum: int | None, other: dict[str, str]) -> list[str]:
    found = []
    if flag is not None and flag & FLAG_SPLIT and pnum is None:
        found.append("split_flag_without_pnum")  # decoded as one whole packet
    if len(st) != 2:
        found.append("system_code_not_two_digits")
    if flag is not None and flag >> 2 >= VERSION_2017 and len(mn) != 24:
        found.append("mn_not_24_characters")  # 14 characters is right for 2005
    if len(other.get("DataTime", "")) == 17:
        found.append("data_time_milliseconds")
    return found


def _int_field(header: dict[str, str], key: str, maximum: int) -> int | None:
    value = header.pop(key, None)
    if value is None:
        return None
    if not (_DIGITS.fullmatch(value) and len(value) <= 4 and int(value) <= maximum):
        raise HJ212Error(f"bad header: {key}={value[:10]!r} is not an integer 0-{maximum}")
    return int(value)


def parse_cp(body: str) -> tuple[Factors, dict[str, str], tuple[str, ...]]:
    """Items are separated by ``;``, fields of one item by ``,``; ``code-Field=value`` is a factor field.

    Returns the factors, the other items, and the codes of factor items that repeat an earlier item's
    code (real loggers do this, e.g. three ``B01`` items in one frame): the first one counts.
    """
    factors: Factors = {}
    other: dict[str, str] = {}
    repeated: list[str] = []
    for item in body.split(";"):
        item_factors: Factors = {}
        for pair in item.split(",") if item else ():
            key, eq, value = pair.partition("=")
            if not eq or not key:
                raise HJ212Error(f"bad CP item {pair[:40]!r}: expected KEY=VALUE")
            code, dash, name = key.rpartition("-")
            if not dash or not code or not name:
                if key in other:
                    raise HJ212Error(f"CP field {key} appears twice")
                other[key] = _checked_time(key, value)
                continue
            fields = item_factors.setdefault(code, {})
            if name in fields:
                raise HJ212Error(f"CP field {key} appears twice in one item")
            fields[name] = _number(key, value) if name in NUMERIC_FIELDS else _checked_time(name, value)
        for code, fields in item_factors.items():
            if code in factors:
                repeated.append(code)
            else:
                factors[code] = fields
    return factors, other, tuple(repeated)


def _number(key: str, value: str) -> float:
    if len(value) > 64 or not _NUMBER.fullmatch(value):
        raise HJ212Error(f"bad number: {key}={value[:40]!r}")
    return float(value)


def _checked_time(key: str, value: str) -> str:
    if key.endswith("Time") and key not in ("HeartbeatTime", "OverTime"):  # OverTime: seconds (CN 1000)
        local_time(value, key)  # validate here so a bad time is a decode error, not a surprise later
    return value


def local_time(text: str, what: str = "DataTime") -> datetime:
    """``YYYYMMDDhhmmss`` or ``YYYYMMDDhhmmsszzz`` (local time, no zone) as a naive datetime."""
    if not _TIME.fullmatch(text):
        raise HJ212Error(f"bad {what} {text[:40]!r}: expected YYYYMMDDhhmmss (14 or 17 digits)")
    try:
        return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(microsecond=int(text[14:] or 0) * 1000)
    except ValueError:
        raise HJ212Error(f"bad {what} {text!r}: not a real date and time") from None


def format_time(when: datetime) -> str:
    """A naive local datetime as HJ 212 ``YYYYMMDDhhmmss``."""
    return when.strftime("%Y%m%d%H%M%S")


def code_2017(code: str) -> str:
    """A 2005 factor code as its 2017 code (``011`` -> ``w01018``); other codes unchanged."""
    param = parameters.BY_2005.get(code)
    return param.hj212_2017 if param is not None and param.hj212_2017 else code


def to_utc(local: str, zone: ZoneInfo, what: str = "DataTime") -> datetime:
    """HJ 212 times are local with no zone: read them in the zone of the point's park."""
    return local_time(local, what).replace(tzinfo=zone).astimezone(UTC)


def describe(frame: Frame, zone: ZoneInfo) -> dict[str, object]:
    """The JSON view of a frame (the `outfall hj212 decode` contract); factor codes in 2017 form."""
    values: dict[str, dict[str, float | str]] = {}
    for code, fields in frame.factors.items():
        shown = dict(fields)
        if isinstance(sample := shown.get("SampleTime"), str):
            shown["SampleTime"] = local_time(sample, "SampleTime").replace(tzinfo=zone).isoformat()
        values[code_2017(code)] = shown
    data_time = frame.data_time
    out: dict[str, object] = {
        "ok": True,
        "edition": frame.edition,
        "st": frame.st,
        "cn": frame.cn,
        "mn": frame.mn,
        "qn": frame.qn,
        "flag": frame.flag,
        "data_time": local_time(data_time).replace(tzinfo=zone).isoformat() if data_time else None,
        "values": values,
    }
    if frame.pnum is not None:
        out["pnum"], out["pno"] = frame.pnum, frame.pno
    if frame.backfill:
        out["backfill"] = True
    if frame.encrypted:
        out["encrypted"] = True
    if frame.quirks:
        out["quirks"] = list(frame.quirks)
    other = {k: v for k, v in frame.other.items() if k != "DataTime"}
    if other:
        out["other"] = other
    return out
