"""Replays of real, public data sets (not shipped with Outfall: the README's Replays section says where
each comes from and its licence) as protocol-neutral Records.

- ``uci``: the UCI water-treatment plant's daily effluent (pH, BOD, COD, SS, conductivity), 1990-91,
  as the park's central outlet, one reading a day from ``start`` (rows are sorted by date: the source
  groups them by month).
- ``bsm1-dry|rain|storm``: the IWA BSM1 influent, 15-minute central-inlet flow, COD (sum of the seven
  fractions), NH3-N (Snh) and TSS (0.75 x particulates), from ``start``.
- ``hj212-file``: real HJ 212 frames, one per line, published unchanged on ``outfall/hj212/{MN}``.

Only parameters the target point measures are sent (the rest are counted as skipped); each replay says
how many readings it will publish, so a test can check the whole file went out.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest.core import parameters, units
from ingest.core.models import ParkSpec, PointSpec
from ingest.hj212 import codec as hj212
from simulators.records import Record

SOURCES = ("uci", "bsm1-dry", "bsm1-rain", "bsm1-storm", "hj212-file")
BSM1_FILES = {
    "bsm1-dry": "Inf_dry_2006.txt",
    "bsm1-rain": "Inf_rain_2006.txt",
    "bsm1-storm": "Inf_strm_2006.txt",
}
UCI_FILE = "uci_water_treatment/water-treatment.data"
# UCI columns (0 = the day): output pH, BOD, COD, SS and conductivity (water-treatment.names).
UCI_COLUMNS = {23: "ph", 24: "bod5", 25: "cod", 26: "ss", 29: "conductivity"}
BSM1_COD = ("Si", "Ss", "Xi", "Xs", "Xbh", "Xba", "Xp")
BSM1_PARTICULATE = ("Xs", "Xi", "Xbh", "Xba", "Xp")
# HJ 212 periods: a logger sends an hourly (daily) record once the hour (day) has closed.
PERIOD = {"2061": timedelta(hours=1), "2031": timedelta(days=1), "2051": timedelta(minutes=1)}


class ReplayError(ValueError):
    pass


@dataclass
class Replay:
    """What a replay will send: records in delivery order, and the counts a test can check."""

    source: str
    path: Path
    point: str  # plant/point, or "by MN" for HJ 212 frames
    records: list[Record]
    readings: int  # values published (factor values, for HJ 212 frames)
    rows: int  # source rows (frames) read
    skipped: Counter[str] = field(default_factory=Counter)  # parameter -> values not sent
    bad_lines: int = 0  # lines that could not be read (replayed around, never fatal)
    first_bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason), a few

    def bad_line(self, number: int, reason: str) -> None:
        self.bad_lines += 1
        if len(self.first_bad) < FIRST_BAD:
            self.first_bad.append((number, reason))


FIRST_BAD = 5  # bad lines reported by number; the rest are counted


def data_dir() -> Path:
    """Where the named replays look for their files when none is given: OUTFALL_SHARED_DATA, or a
    ``shared/data`` folder beside the project."""
    configured = os.environ.get("OUTFALL_SHARED_DATA")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared" / "data"


def default_path(source: str) -> Path:
    """Where a named public data set is looked for when no file is given (it is not shipped)."""
    if source == "uci":
        path = data_dir() / UCI_FILE
    elif source in BSM1_FILES:
        path = data_dir() / "bsm1_influent" / BSM1_FILES[source]
    else:
        raise ReplayError(f"--replay {source} needs a file: --replay-file PATH")
    if not path.is_file():
        raise ReplayError(
            f"--replay {source}: no file given and {path} does not exist; download the public data set"
            " (see the README's Replays section) and give it with --replay-file PATH"
        )
    return path


def load(source: str, park: ParkSpec, start: datetime | None, path: Path | None = None) -> Replay:
    path = path or default_path(source)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc.strerror}") from None
    tz = ZoneInfo(park.timezone)
    if source == "uci":
        return _uci(text.decode("ascii"), park, start, tz, path)
    if source in BSM1_FILES:
        return _bsm1(source, text.decode("ascii"), park, start, tz, path)
    if source == "hj212-file":
        return _hj212(text, park, tz, path)
    raise ReplayError(f"unknown replay {source!r}; choose from {', '.join(SOURCES)}")


def _point(park: ParkSpec, kind: str) -> tuple[str, PointSpec]:
    for plant in park.plants:
        for pt in plant.points:
            if pt.kind == kind:
                return plant.id, pt
    raise ReplayError(f"park {park.id} has no {kind} point to replay into")


def _wire(point: PointSpec, code: str, value: float) -> float:
    """A catalogue-unit value in the unit the point's instrument reports."""
    return value / units.factor(point.parameters[code], parameters.BY_CODE[code].unit)


def _uci_rows(text: str) -> list[tuple[date, list[str]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != 39 or not cells[0].startswith("D-"):
            raise ReplayError(f"UCI line {number}: expected D-d/m/yy and 38 measures")
        day, month, year = (int(part) for part in cells[0][2:].split("/"))
        rows.append((date(1900 + year, month, day), cells))
    return sorted(rows, key=lambda row: row[0])


def _uci(text: str, park: ParkSpec, start: datetime | None, tz: ZoneInfo, path: Path) -> Replay:
    plant, point = _point(park, "central_outlet")
    rows = _uci_rows(text)
    first = rows[0][0]
    span = (rows[-1][0] - first).days + 1
    day0 = _day_start(start, span, tz)
    replay = Replay("uci", path, f"{plant}/{point.id}", [], 0, len(rows))
    for seq, (day, cells) in enumerate(rows, 1):
        values = {}
        for column, code in UCI_COLUMNS.items():
            if cells[column] == "?":
                continue
            if code not in point.parameters:
                replay.skipped[code] += 1
                continue
            values[code] = _wire(point, code, float(cells[column]))
        if values:
            ts = day0 + timedelta(days=(day - first).days)
            replay.records.append(Record(plant, point.id, ts, values, {}, seq, ts, point.mn))
            replay.readings += len(values)
    return replay


def _day_start(start: datetime | None, days: int, tz: ZoneInfo) -> datetime:
    """Park-local midnight of ``start``; by default the series ends yesterday, never in the future."""
    if start is None:
        start = datetime.now(tz) - timedelta(days=days)
    local = start.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _bsm1(source: str, text: str, park: ParkSpec, start: datetime | None, tz: ZoneInfo, path: Path) -> Replay:
    plant, point = _point(park, "central_inlet")
    lines = [line.split("\t") for line in text.splitlines() if line.strip()]
    header, body = lines[0], lines[1:]
    if header[0] != "t" or "Q" not in header:
        raise ReplayError(f"{path}: expected a BSM1 header t Si Ss ... Q")
    index = {name: i for i, name in enumerate(header)}
    last_day = float(body[-1][0])
    day0 = _day_start(start, int(last_day) + 1, tz)
    replay = Replay(source, path, f"{plant}/{point.id}", [], 0, len(body))
    to_lps = units.factor("m3/d", "L/s")
    for seq, cells in enumerate(body, 1):
        row = {name: float(cells[i]) for name, i in index.items()}
        derived = {
            "flow": row["Q"] * to_lps,
            "cod": sum(row[name] for name in BSM1_COD),
            "nh3_n": row["Snh"],
            "ss": 0.75 * sum(row[name] for name in BSM1_PARTICULATE),
        }
        values = {}
        for code, value in derived.items():
            if code in point.parameters:
                values[code] = _wire(point, code, value)
            else:
                replay.skipped[code] += 1
        ts = day0 + timedelta(seconds=round(row["t"] * 86400))
        replay.records.append(Record(plant, point.id, ts, values, {}, seq, ts, point.mn))
        replay.readings += len(values)
    return replay


def _hj212(data: bytes, park: ParkSpec, tz: ZoneInfo, path: Path) -> Replay:
    by_mn = {pt.mn: (plant.id, pt.id) for plant in park.plants for pt in plant.points if pt.mn}
    replay = Replay("hj212-file", path, "by MN", [], 0, 0)
    sent = datetime(2000, 1, 1, tzinfo=tz)
    for number, line in enumerate(data.splitlines(keepends=True), 1):
        if not line.strip():
            continue
        try:
            frame = hj212.decode(line)
        except hj212.HJ212Error as exc:
            replay.bad_line(number, exc.reason)  # one corrupt frame must not stop a day's traffic
            continue
        plant, point = by_mn.get(frame.mn, ("", ""))
        if not plant:
            replay.skipped[f"MN {frame.mn} (not in park {park.id})"] += 1
        when = hj212.local_time(frame.data_time).replace(tzinfo=tz) if frame.data_time else sent
        # File order is the real traffic order; pace by when each record could have been sent.
        sent = max(sent, when + PERIOD.get(frame.cn, timedelta(0)))
        replay.rows += 1
        replay.readings += len(frame.factors)
        replay.records.append(Record(plant, point, when, {}, {}, replay.rows, sent, frame.mn, raw=line))
    if not replay.records and replay.bad_lines:
        number, reason = replay.first_bad[0]
        raise ReplayError(f"{path}: no line could be read ({replay.bad_lines} bad; line {number}: {reason})")
    return replay


def hj212_park_yaml(data: bytes, park_id: str = "hj212-2016") -> str:
    """A park file with one plant per MN found in real HJ 212 traffic, measuring what it sends."""
    measured: dict[str, list[str]] = {}
    for line in data.splitlines():
        try:
            frame = hj212.decode(line) if line.strip() else None
        except hj212.HJ212Error:
            continue  # a corrupt frame names no station
        if frame is not None:
            codes = measured.setdefault(frame.mn, [])
            for code in frame.factors:
                param = parameters.BY_2005.get(code)
                if param is not None and param.code not in codes:
                    codes.append(param.code)
    lines = [
        "# Stations of real HJ/T 212-2005 traffic of 2016-08-24 (test resources of",
        "# https://github.com/xiaoyao9184/hj-t212-parser, Apache-2.0, commit 409d9a85): one plant per MN,",
        "# measuring the water factors it sends (2005 default units); by simulators.replay.hj212_park_yaml.",
        f"id: {park_id}",
        "name: HJ 212 sample stations (2016-08-24)",
        "timezone: Asia/Shanghai",
        "industry: mixed",
        "plants:",
    ]
    for mn, codes in sorted(measured.items()):
        params = ", ".join(codes) or "flow"
        lines += [
            f"  - id: {mn.lower()}",
            f"    name: station {mn}",
            "    points:",
            f'      - {{id: outlet, kind: total_outlet, mn: "{mn}", interval_s: 3600,',
            f"         parameters: [{params}]}}",
        ]
    return "\n".join(lines) + "\n"


def first_time(replay: Replay) -> datetime | None:
    return min((r.sent_at for r in replay.records), default=None)


def records_until(replay: Replay, until: datetime | None) -> Iterator[Record]:
    for record in replay.records:
        if until is None or record.ts < until:
            yield record
