"""Composition root of the simulator: `outfall simulate` / `python -m simulators`."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from ingest import logs, park
from ingest.settings import MqttSettings
from simulators import feed

log = logging.getLogger("simulators")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def sample_park_path(name: str = "electroplating") -> Path:
    return Path(str(resources.files("simulators") / "parks" / f"{name}.yaml"))


def duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"duration {text!r}: use a number and s, m, h or d, e.g. 90m")
    return timedelta(seconds=float(match[1]) * _SECONDS[match[2]])


def timestamp(text: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"start {text!r}: use ISO 8601, e.g. 2026-11-29T08:00:00+08:00"
        ) from None
    if ts.tzinfo is None:
        raise argparse.ArgumentTypeError(f"start {text!r} needs a UTC offset")
    return ts


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="outfall simulate")
    p.add_argument(
        "--park", type=Path, default=None, help="park file (default: the sample electroplating park)"
    )
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per wall second; 0 = as fast as possible (default 1)",
    )
    p.add_argument("--rate", type=float, default=None, help="cap on messages per second")
    p.add_argument("--start", type=timestamp, default=None, help="simulated start time (default: now)")
    p.add_argument("--duration", type=duration, default=None, help="simulated time to cover, e.g. 2h")
    p.add_argument("--count", type=int, default=None, help="stop after this many messages")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")
    return p


def run(args: argparse.Namespace) -> int:
    logs.configure("simulate")
    broker = MqttSettings()
    if broker.mqtt_url is None:
        print("outfall simulate: set OUTFALL_MQTT_URL (or use `outfall run`)", file=sys.stderr)
        return 2
    path = args.park or sample_park_path()
    try:
        spec = park.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, park.ParkFileError) as exc:
        print(f"outfall simulate: {exc}", file=sys.stderr)
        return 2
    start = args.start or datetime.now(UTC).replace(microsecond=0)
    until = start + args.duration if args.duration else None
    host, port = broker.host_port()
    client = feed.connect(host, port)
    try:
        sent = feed.publish(
            client,
            feed.messages(spec, start, args.seed, until),
            speed=args.speed,
            count=args.count,
            rate=args.rate,
        )
    except KeyboardInterrupt:
        sent = -1
    feed.drain(client)
    log.info(
        "simulator done: %s messages for %d points of park %s",
        sent if sent >= 0 else "some",
        sum(len(p.points) for p in spec.plants),
        spec.id,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
