"""What one ``outfall simulate`` invocation will send, decided from its arguments before any I/O with
the broker: the park, the record stream (simulated or replayed), the wire format, and the ground truth."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from ingest.core import park
from ingest.core.models import ParkSpec
from ingest.hj212 import keys
from ingest.mqtt import jsonv1
from simulators import credentials, encode, replay, report, scenario
from simulators.engine import Engine
from simulators.records import Message, Record

# A live run starts this far back, so the dashboard has history at once; it catches up at --speed.
LIVE_BACKFILL = timedelta(hours=3)
REPLAY_PARK = {"hj212-file": "hj212-2016"}  # default park per replay source; dyeing for the others


@dataclass
class Plan:
    park: ParkSpec
    label: str
    records: Iterable[Record]
    render: encode.Renderer
    truth: Callable[[], dict[str, Any]]
    start: datetime | None = None
    total: float = 0.0  # progress bar: simulated seconds, or records for a replay; 0 = no bar
    by_count: bool = False
    extra: list[str] = field(default_factory=list)
    by_mn: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)  # MN -> the HJ 212 PW its logger sends
    sm4_keys: dict[str, bytes] = field(default_factory=dict)  # MN -> its HJ 212-2025 SM4 key
    idle: str = ""  # why nothing is to be sent (no logger selected), or empty

    def messages(self) -> Iterator[Message]:
        for record in self.records:
            yield self.render(self.park.id, record)

    def point_name(self, topic: str) -> str:
        if topic.startswith(jsonv1.TOPIC_PREFIX):
            return topic[len(jsonv1.TOPIC_PREFIX) :].split("/", 1)[-1]
        mn = topic.rsplit("/", 1)[-1]
        return self.by_mn.get(mn, f"MN {mn}")

    def progress(self, message: Message, sent: int) -> float:
        if self.by_count or self.start is None:
            return float(sent)
        return (message.sim_time - self.start).total_seconds()

    def tracker(self, force_bar: bool) -> Tracker:
        """Counts what is sent, per point, and drives the progress bar (when the run is bounded)."""
        bar = report.ProgressBar(self.total, self.label, force=force_bar) if self.total else None
        return Tracker(self, report.Tally(), bar)

    def notes(self) -> list[str]:
        return list(self.extra)


@dataclass
class Tracker:
    plan: Plan
    tally: report.Tally
    bar: report.ProgressBar | None

    def sent(self, msg: Message) -> None:
        self.tally.add(msg, self.plan.point_name(msg.topic))
        if self.bar is not None:
            self.bar.update(self.plan.progress(msg, self.tally.sent))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def sample_park(name: str) -> Path:
    return Path(str(resources.files("simulators") / "parks" / f"{name}.yaml"))


def make_plan(args: argparse.Namespace) -> Plan:
    scen = _scenario(args.scenario)
    source, path = _replay_args(args.replay, getattr(args, "replay_file", None))
    if source and scen:
        raise ValueError("use --scenario or --replay, not both")
    default = REPLAY_PARK.get(source, "dyeing") if source else "electroplating"
    park_path: Path = args.park or sample_park(default)
    spec = park.parse(park_path.read_text(encoding="utf-8"), str(park_path))
    render = encode.json_v1
    credentials_file = getattr(args, "credentials", None) or credentials.SimulatorSettings().credentials
    passwords = credentials.hj212_passwords(credentials_file, spec)
    sm4_keys = credentials.sm4_keys(credentials_file, spec)
    if args.protocol == "hj212":
        render = partial(encode.hj212_rtd, edition=args.edition, passwords=passwords)
        _check_mns(spec, replaying=source is not None)
    duration = args.duration or (scen.duration if scen else None)
    if source:
        replayed = _replay_plan(spec, source, path, args.start, duration, render)
        replayed.passwords, replayed.sm4_keys = passwords, sm4_keys
        return replayed
    start = args.start or (scen.start if scen else None)
    if start is None:
        now = datetime.now(UTC).replace(microsecond=0)
        start = now - LIVE_BACKFILL if args.live else now
    until = start + duration if duration else None
    events = scenario.resolve(scen, spec, start) if scen else []
    engine = Engine(spec, start, args.seed, events, until)
    label = f"park {spec.id}" + (f", scenario {scen.name}" if scen else "")
    total = (until - start).total_seconds() if until else 0.0
    keep = _edition_filter(spec, getattr(args, "only_edition", None), getattr(args, "skip_edition", None))
    records = (
        engine.records() if keep is None else (r for r in engine.records() if (r.plant, r.point) in keep)
    )
    plan = Plan(spec, label, records, render, engine.truth, start, total)
    if keep is not None:
        plan.label += f", {len(keep)} loggers"
        plan.idle = "" if keep else f"no logger of park {spec.id} is selected by its HJ 212 edition"
    plan.by_mn = _mn_names(spec)
    plan.passwords, plan.sm4_keys = passwords, sm4_keys
    return plan


def _edition_filter(spec: ParkSpec, only: str | None, skip: str | None) -> set[tuple[str, str]] | None:
    """The (plant, point) loggers this run sends, by the HJ 212 edition the park file gives each
    (``--only-edition``, ``--skip-edition``); None: all. The engine simulates the whole park either way
    (the central plant's inflow is the plants' sum), so two runs with the same seed and start split
    one park without a gap or a twin."""
    if only is None and skip is None:
        return None
    return {
        (plant.id, pt.id)
        for plant in spec.plants
        for pt in plant.points
        if (edition := keys.edition_of(spec.config, plant.id, pt.id)) == (only or edition) and edition != skip
    }


def _scenario(path: Path | None) -> scenario.Scenario | None:
    if path is None:
        return None
    return scenario.parse(path.read_text(encoding="utf-8"), str(path))


def _replay_args(values: list[str] | None, file: Path | None) -> tuple[str | None, Path | None]:
    if not values:
        if file is not None:
            raise ValueError("--replay-file needs --replay SOURCE")
        return None, None
    if len(values) > 2 or values[0] not in replay.SOURCES:
        raise ValueError(f"--replay takes one of {', '.join(replay.SOURCES)} and an optional PATH")
    if len(values) == 2 and file is not None:
        raise ValueError("give the replay's file once: --replay SOURCE PATH or --replay-file PATH")
    return values[0], Path(values[1]) if len(values) == 2 else file


def _replay_plan(
    spec: ParkSpec,
    source: str,
    path: Path | None,
    start: datetime | None,
    duration: timedelta | None,
    render: encode.Renderer,
) -> Plan:
    loaded = replay.load(source, spec, start, path)
    first = replay.first_time(loaded)
    until = first + duration if first and duration else None
    records = list(replay.records_until(loaded, until))
    extra = [
        f"replay        : {source} from {loaded.path} ({loaded.rows} rows) into {loaded.point}",
        f"readings sent : {loaded.readings} values in {len(loaded.records)} messages",
    ]
    if loaded.skipped:
        extra.append(f"not sent      : {dict(loaded.skipped)} (not measured at the target point)")
    if loaded.bad_lines:
        where = "; ".join(f"line {n}: {reason}" for n, reason in loaded.first_bad)
        extra.append(f"bad lines     : {loaded.bad_lines} not replayed (first: {where})")

    def truth() -> dict[str, Any]:
        return {
            "park": spec.id,
            "replay": source,
            "path": str(loaded.path),
            "rows": loaded.rows,
            "readings": loaded.readings,
            "messages": len(loaded.records),
            "skipped": dict(loaded.skipped),
            "bad_lines": loaded.bad_lines,
            "first_bad_lines": [{"line": n, "reason": reason} for n, reason in loaded.first_bad],
        }

    label = f"replay {source} into park {spec.id}"
    plan = Plan(spec, label, records, render, truth, first, float(len(records)), True, extra)
    plan.by_mn = _mn_names(spec)
    return plan


def _mn_names(spec: ParkSpec) -> dict[str, str]:
    return {pt.mn: f"{plant.id}/{pt.id}" for plant in spec.plants for pt in plant.points if pt.mn}


def _check_mns(spec: ParkSpec, replaying: bool) -> None:
    missing = [f"{pl.id}/{pt.id}" for pl in spec.plants for pt in pl.points if not pt.mn]
    if missing and not replaying:
        raise ValueError(f"--protocol hj212 needs an mn for every point; missing at {', '.join(missing[:5])}")
