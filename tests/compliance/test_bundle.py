"""Evidence bundles (compliance/bundle.py): a built zip verifies; any single changed byte fails it, and a
change inside a file's bytes or header names that file; a changed manifest or SHA256SUMS is blamed,
not the file it describes; `sha256sum -c` agrees."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance import bundle
from compliance.bundle import File

AT = datetime(2026, 12, 2, 13, 30, 7, tzinfo=UTC)
FRAME = (
    b"##0101QN=20160801085857223;ST=32;CN=2011;PW=123456;MN=LD130133000015;"
    b"CP=&&DataTime=20160824003817;B01-Rtd=36.91&&1C80\r\n"
)
FILES = [
    File("README.txt", "证据包 / Evidence bundle\n".encode()),
    File("raw/00001_20261202T213000+0800_tcp-hj212.hj212", FRAME),
    File("raw/00002_20261202T213100+0800_mqtt-json.json", b'{"ts": "2026-12-02T21:31:00+08:00"}'),
    File("readings.csv", b"time,value\r\n2026-12-02T13:30:00Z,36.91\r\n"),
]
SUBJECT = {"kind": "alert", "alert": 7}


def flip(data: bytes, at: int, xor: int = 0x01) -> bytes:
    return data[:at] + bytes([data[at] ^ xor]) + data[at + 1 :]


def test_a_built_bundle_verifies_and_lists_every_file_with_its_sha256():
    data = bundle.build(FILES, SUBJECT, AT)
    report = bundle.verify(data)
    assert report.ok, report.findings
    assert report.files == len(FILES) and report.sha256 == hashlib.sha256(data).hexdigest()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == [f.path for f in FILES] + [bundle.MANIFEST, bundle.SUMS]
        assert zf.read(FILES[1].path) == FRAME  # byte for byte
        manifest = json.loads(zf.read(bundle.MANIFEST))
    assert manifest["subject"] == SUBJECT and manifest["created_at"] == "2026-12-02T13:30:07Z"
    assert [(e["path"], e["sha256"]) for e in manifest["files"]] == [
        (f.path, hashlib.sha256(f.data).hexdigest()) for f in FILES
    ]
    assert bundle.build(FILES, SUBJECT, AT) == data  # the same files make the same bytes
    assert FRAME in data  # stored, not compressed: the frame stands in the zip as received


def test_one_changed_byte_of_a_file_names_the_file():
    data = bundle.build(FILES, SUBJECT, AT)
    at = data.index(FRAME) + FRAME.index(b"36.91")
    report = bundle.verify(flip(data, at))
    assert not report.ok
    assert {f.path for f in report.findings} == {FILES[1].path}


def test_a_changed_manifest_is_blamed_not_the_file_it_lists():
    data = bundle.build(FILES, SUBJECT, AT)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    good = hashlib.sha256(FILES[3].data).hexdigest()
    members[bundle.MANIFEST] = members[bundle.MANIFEST].replace(good.encode(), b"0" * 64)
    report = bundle.verify(_repack(members))
    paths = {f.path for f in report.findings}
    assert bundle.MANIFEST in paths and FILES[3].path not in paths


def test_an_extra_or_missing_file_is_named():
    data = bundle.build(FILES, SUBJECT, AT)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    del members[FILES[0].path]
    members["raw/planted.json"] = b"{}"
    found = {(f.path, f.problem) for f in bundle.verify(_repack(members)).findings}
    assert (FILES[0].path, "listed but missing from the zip") in found
    assert ("raw/planted.json", "in the zip but not in the manifest") in found


def test_not_a_zip_is_a_finding_not_a_crash():
    report = bundle.verify(b"PK\x03\x04 not really")
    assert not report.ok and report.findings[0].problem.startswith("not a readable zip")


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="no sha256sum on this machine")
def test_sha256sum_checks_an_unpacked_bundle(tmp_path):
    with zipfile.ZipFile(io.BytesIO(bundle.build(FILES, SUBJECT, AT))) as zf:
        zf.extractall(tmp_path)
    done = subprocess.run(["sha256sum", "-c", bundle.SUMS], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (tmp_path / FILES[3].path).write_bytes(b"time,value\r\n")
    assert subprocess.run(["sha256sum", "-c", bundle.SUMS], cwd=tmp_path, capture_output=True).returncode


def _repack(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buf.getvalue()


NAMES = st.text(alphabet="abcdefgh0123_", min_size=1, max_size=8)
PATHS = st.tuples(st.sampled_from(["", "raw/", "audit/"]), NAMES, st.sampled_from([".json", ".hj212"])).map(
    "".join
)
FILE = st.tuples(PATHS, st.binary(max_size=300))
BUNDLES = st.lists(FILE, min_size=1, max_size=6, unique_by=lambda f: f[0])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BUNDLES, st.floats(0, 1, exclude_max=True), st.integers(1, 255))
def test_any_single_changed_byte_fails_and_a_change_in_a_file_names_it(files, where, xor):
    data = bundle.build([File(p, b) for p, b in files], SUBJECT, AT)
    at = int(where * len(data))
    report = bundle.verify(flip(data, at, xor))
    assert not report.ok
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            end = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size
            if info.header_offset <= at < end:  # the member's local header or its bytes
                assert info.filename in {f.path for f in report.findings}, report.findings
