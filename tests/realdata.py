"""Third-party public data the tests use when it is present, and fixtures of the same shape the tests
make themselves, so a plain clone covers the same ground.

The public files are never committed (see the README's Replays section for where each comes from and
its licence). They are looked for in ``$OUTFALL_SHARED_DATA`` or a ``shared/data`` folder beside the
project; a test that needs one skips with the reason when it is absent.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ingest.hj212 import codec as hj212

DATA = Path(os.environ.get("OUTFALL_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
# Real HJ/T 212-2005 traffic of 2016-08-24: test resources of https://github.com/xiaoyao9184/hj-t212-parser
# (Apache-2.0, commit 409d9a85), 3,675 frames.
HJ212_DAY = DATA / "hj212_2005_water_hourly_daily_2016-08-24.h212"
UCI = DATA / "uci_water_treatment" / "water-treatment.data"
BSM1 = DATA / "bsm1_influent"


def needs(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not path.exists(),
        reason=f"third-party data {path} is not present (public, not shipped: see the README's Replays)",
    )


def real_frames() -> list[bytes]:
    return [line for line in HJ212_DAY.read_bytes().split(b"\r\n") if line]


SENTINEL = -6.8056469e38  # a real logger's float sentinel, sent as a COD minimum
STATIONS = ("LD130103000186", "LD130105000375", "LD130184000021", "LD130181000055")


def field_2005_frames() -> list[bytes]:
    """One day of hourly (CN=2061) and daily (CN=2031) wastewater frames (ST=32) from four stations in
    the field's HJ/T 212-2005 style, framed by Outfall's own encoder (``hj212.wrap``), with the quirks
    of real traffic: 3-character factor codes (B01 flow L/s, 011 COD, 060 NH3-N, 001 pH), no QN and no
    Flag, DataTime with milliseconds (17 digits) at some stations, hourly B01-Cou = B01-Avg x 3.6, a
    float sentinel as a minimum, and one frame that repeats a factor (the first item counts)."""
    day = datetime(2016, 8, 24)
    frames = []
    for n, mn in enumerate(STATIONS):
        for hour in range(24):
            t = day + timedelta(hours=hour)
            flow = 20.0 + n + hour / 10
            factors = [_stat("B01", round(flow * 3.6, 2), flow - 1, flow, flow + 1)]
            cod = 40.0 + n * 5 + hour % 7
            factors.append(_stat("011", round(cod * flow * 3.6 / 1000, 4), cod - 3, cod, cod + 3))
            if n % 2:
                factors.append(_stat("060", 0.01, 1.2, 1.5, 1.9))
            else:
                factors.append("001-Min=6.91,001-Avg=7.12,001-Max=7.40")
            if n == 1 and hour == 5:
                factors[1] = _stat("011", 0.0, f"{SENTINEL:.0f}", cod, cod + 3)  # as loggers print it
            if n == 2 and hour == 7:
                factors.append(_stat("B01", 1.0, 18.71, 19.0, 19.5))  # repeated: ignored
            frames.append(_frame("2061", mn, t, ";".join(factors), millis=n % 2 == 0))
        daily = _stat("B01", 48_000.0, 18.0, 21.5, 25.0) + ";" + _stat("011", 90.0, 30.0, 44.0, 60.0)
        frames.append(_frame("2031", mn, day, daily, millis=n % 2 == 0))
    return frames


def _stat(code: str, cou: float, low: float | str, avg: float, high: float) -> str:
    return f"{code}-Cou={cou},{code}-Min={low},{code}-Avg={round(avg, 2)},{code}-Max={high}"


def _frame(cn: str, mn: str, t: datetime, cp: str, millis: bool) -> bytes:
    stamp = t.strftime("%Y%m%d%H%M%S") + ("000" if millis else "")
    return hj212.wrap(f"ST=32;CN={cn};PW=123456;MN={mn};CP=&&DataTime={stamp};{cp}&&")[:-2]


@pytest.fixture(params=["field-style fixture", "real 2016-08-24 file"])
def day_of_2005_frames(request: pytest.FixtureRequest) -> list[bytes]:
    """A day of 2005-edition traffic (frames without CR LF): the fixture above, and the real file when
    it is present."""
    if request.param == "field-style fixture":
        return field_2005_frames()
    if not HJ212_DAY.exists():
        pytest.skip(f"third-party data {HJ212_DAY} is not present (public, not shipped: see the README)")
    return real_frames()


BSM1_HEADER = ("t", "Si", "Ss", "Xi", "Xs", "Xbh", "Xba", "Xp", "So", "Sno", "Snh", "Snd", "Xnd", "Salk", "Q")


def write_bsm1(path: Path, steps: int) -> Path:
    """A BSM1 influent file in the published layout (tab-separated, CR LF, t in days at 15-minute steps,
    concentrations in g/m3, Q in m3/d) with made-up values, for replays without the public file."""
    rows = ["\t".join(BSM1_HEADER)]
    for k in range(steps):
        q = 20_000 + 50 * (k % 96)
        rows.append(
            f"{k / 96:.6f}\t30\t{60 + k % 7}\t58.5\t224.4\t31.4\t0\t0\t0\t0\t{28 + k % 5}\t6.9\t10.6\t7\t{q}"
        )
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode())
    return path
