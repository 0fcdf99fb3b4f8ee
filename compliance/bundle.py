"""Evidence bundles: named files in one zip with a manifest of their SHA-256, and the check of one.

Pure: files in, zip bytes out (``build``); zip bytes in, findings out (``verify``). What an alert's
bundle holds is compliance/evidence.py's business; this module only makes a bundle checkable.

A bundle is checked three ways, so a change of any single byte is found and, where it falls in a
file, the file is named:
- ``manifest.json`` lists every file with its size and SHA-256; ``SHA256SUMS`` says the same (and
  gives the manifest's own digest) in the format of ``sha256sum -c``, so a bundle can be checked
  without Outfall. A file that matches neither is the changed one; one that matches only SHA256SUMS
  means the manifest was changed, and the other way round SHA256SUMS.
- every zip member carries a CRC-32 and its local header repeats the directory's fields: a changed
  byte of a member's data or header is found and the member named. Members are stored, not
  compressed, so each file's bytes stand in the zip as they are (a raw frame can be read in it with
  any tool) and every byte of a member's data is a byte of the file.
- the zip's comment is a seal: the SHA-256 of every byte before it. A change in the zip's own
  structure (headers, directory) that leaves every file intact breaks the seal.
The seal, the manifest and SHA256SUMS are made by whoever made the zip: they prove the bundle is what
was exported, not who exported it. The digest of the whole zip, kept in the exporter's audit log (the
API's ``api_audit``), ties a bundle to its export.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FORMAT = "outfall-evidence/1"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
SEAL_PREFIX = b"outfall-evidence sha256:"
SEAL_SIZE = len(SEAL_PREFIX) + 64
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile.structFileHeader
# How zipfile fails on damaged input: RuntimeError for flags that say encrypted, NotImplementedError
# (one too) for a method or version it does not read, struct.error for a short record.
_DAMAGE = (zipfile.BadZipFile, zlib.error, struct.error, EOFError, ValueError, OSError, RuntimeError)


@dataclass(frozen=True)
class File:
    path: str  # inside the zip, '/'-separated
    data: bytes


@dataclass(frozen=True)
class Finding:
    path: str  # the file concerned; "" for the zip as a whole
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem


@dataclass(frozen=True)
class Report:
    files: int  # files the manifest lists
    sha256: str  # of the whole zip, as the exporter's audit log records it
    manifest: dict[str, Any]  # as read ({} when unreadable)
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build(files: Sequence[File], subject: Mapping[str, Any], created_at: datetime) -> bytes:
    """The zip: ``files`` in order, then the manifest (``subject`` and every file's path, size and
    SHA-256) and SHA256SUMS, sealed. Members carry ``created_at`` as their time, so the same files
    make the same bytes."""
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths) or {MANIFEST, SUMS} & set(paths):
        raise ValueError("file paths must be unique and not the manifest's")
    listed = [{"path": f.path, "bytes": len(f.data), "sha256": sha256(f.data)} for f in files]
    manifest = {
        "format": FORMAT,
        "created_at": created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "subject": dict(subject),
        "files": listed,
    }
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode() + b"\n"
    sums = [f"{sha256(manifest_bytes)}  {MANIFEST}"] + [f"{e['sha256']}  {e['path']}" for e in listed]
    members = [*files, File(MANIFEST, manifest_bytes), File(SUMS, ("\n".join(sums) + "\n").encode())]
    buf = io.BytesIO()
    stamp = created_at.astimezone(UTC).timetuple()[:6]
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for member in members:
            info = zipfile.ZipInfo(member.path, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.data)
        zf.comment = b"0" * SEAL_SIZE  # the seal's place: filled in below
    body = buf.getvalue()[:-SEAL_SIZE]
    return body + SEAL_PREFIX + sha256(body).encode()


def verify(data: bytes) -> Report:
    """Every check of a bundle; a bundle is intact when there are no findings."""
    whole = sha256(data)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except _DAMAGE as exc:
        return Report(0, whole, {}, (Finding("", f"not a readable zip: {exc}"),))
    with zf:
        actual, findings = _read_members(zf, data)
    manifest, sums, trouble = _manifests(actual)
    findings += trouble
    findings += _compare(actual, manifest, sums)
    if not findings:
        findings += _seal(data)
    unique = tuple(dict.fromkeys(findings))
    return Report(len(manifest.get("files", [])), whole, manifest, unique)


def _read_members(zf: zipfile.ZipFile, data: bytes) -> tuple[dict[str, bytes], list[Finding]]:
    """Each member's bytes; a member whose CRC, compressed data or local header is off is a finding."""
    actual: dict[str, bytes] = {}
    findings: list[Finding] = []
    for info in zf.infolist():
        if info.filename in actual:
            findings.append(Finding(info.filename, "is in the zip twice"))
            continue
        try:
            actual[info.filename] = zf.read(info)
        except _DAMAGE as exc:
            findings.append(Finding(info.filename, f"damaged: {exc}"))
            continue
        if not _header_agrees(info, data):
            findings.append(Finding(info.filename, "its local header differs from the zip's directory"))
    return actual, findings


def _header_agrees(info: zipfile.ZipInfo, data: bytes) -> bool:
    """The member's local header says what the central directory says, field by field (zipfile itself
    compares only the name)."""
    try:
        fields = _LOCAL_HEADER.unpack_from(data, info.header_offset)
        name = info.filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
    except (struct.error, UnicodeEncodeError):
        return False
    year, month, day, hour, minute, second = info.date_time
    expected = (
        b"PK\x03\x04",
        info.extract_version,
        info.reserved,
        info.flag_bits,
        info.compress_type,
        (hour << 11) | (minute << 5) | (second // 2),
        ((year - 1980) << 9) | (month << 5) | day,
        info.CRC,
        info.compress_size,
        info.file_size,
        len(name),
        len(info.extra),
    )
    return bool(fields == expected)


def _manifests(actual: Mapping[str, bytes]) -> tuple[dict[str, Any], dict[str, str], list[Finding]]:
    """The manifest and SHA256SUMS as read (path -> digest), and what is wrong with them."""
    findings: list[Finding] = []
    manifest: dict[str, Any] = {}
    raw = actual.get(MANIFEST)
    if raw is None:
        findings.append(Finding(MANIFEST, "missing"))
    else:
        try:
            loaded = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            findings.append(Finding(MANIFEST, f"not readable JSON: {exc}"))
        else:
            if isinstance(loaded, dict) and loaded.get("format") == FORMAT and _listing_ok(loaded):
                manifest = loaded
            else:
                findings.append(Finding(MANIFEST, f"not a {FORMAT} manifest"))
    sums: dict[str, str] = {}
    text = actual.get(SUMS)
    if text is None:
        findings.append(Finding(SUMS, "missing"))
        return manifest, sums, findings
    for line in text.decode("utf-8", "replace").splitlines():
        digest, sep, path = line.partition("  ")
        if not sep or len(digest) != 64 or path in sums:
            findings.append(Finding(SUMS, f"unreadable line {line[:80]!r}"))
            continue
        sums[path] = digest
    return manifest, sums, findings


def _listing_ok(manifest: Mapping[str, Any]) -> bool:
    files = manifest.get("files")
    return isinstance(files, list) and all(
        isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("sha256"), str)
        for e in files
    )


def _compare(
    actual: Mapping[str, bytes], manifest: Mapping[str, Any], sums: Mapping[str, str]
) -> list[Finding]:
    """Each file against the manifest and SHA256SUMS, naming the one that changed."""
    findings: list[Finding] = []
    listed = {e["path"]: e["sha256"] for e in manifest.get("files", [])}
    if MANIFEST in actual and sums and sums.get(MANIFEST) != sha256(actual[MANIFEST]):
        findings.append(Finding(MANIFEST, "its SHA-256 does not match SHA256SUMS"))
    for path in sorted(set(listed) | (set(sums) - {MANIFEST})):
        if path not in actual:
            findings.append(Finding(path, "listed but missing from the zip"))
            continue
        digest = sha256(actual[path])
        in_manifest, in_sums = listed.get(path), sums.get(path)
        if digest == in_manifest == in_sums:
            continue
        if digest not in (in_manifest, in_sums):
            findings.append(Finding(path, "its SHA-256 matches neither the manifest nor SHA256SUMS"))
        elif digest == in_sums:
            findings.append(Finding(MANIFEST, f"its SHA-256 of {path} is not the file's"))
        else:
            findings.append(Finding(SUMS, f"its SHA-256 of {path} is not the file's"))
    for path in sorted(set(actual) - set(listed) - {MANIFEST, SUMS}):
        findings.append(Finding(path, "in the zip but not in the manifest"))
    return findings


def _seal(data: bytes) -> list[Finding]:
    body, seal = data[:-SEAL_SIZE], data[-SEAL_SIZE:]
    if not seal.startswith(SEAL_PREFIX):
        return [Finding("", "the zip's comment is not an Outfall evidence seal (re-packed?)")]
    if seal[len(SEAL_PREFIX) :] != sha256(body).encode():
        return [
            Finding(
                "",
                "the zip's structure (headers, directory or comment) was changed: its seal does not match,"
                " though every file matches the manifest",
            )
        ]
    return []
