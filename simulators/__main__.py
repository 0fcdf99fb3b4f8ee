"""Composition root of the simulator: `outfall simulate` / `python -m simulators`."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

import orjson

from ingest.core import logs, park
from ingest.core.settings import MqttSettings
from simulators import feed, hj212_tcp, replay, report, scenario
from simulators.credentials import SimulatorSettings
from simulators.plan import Plan, make_plan, sample_park

log = logging.getLogger("simulators")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def demo_scenario_path(name: str = "plating-demo") -> Path:
    """The scripted incidents `outfall run` plays on the sample park, so a demo has alerts to show."""
    return sample_park(name).parent.parent / "scenarios" / f"{name}.yaml"


def sample_park_path(name: str = "electroplating") -> Path:
    return sample_park(name)


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
        "--park",
        type=Path,
        default=None,
        help="park file (default: the sample electroplating park; dyeing for uci/bsm1 replays,"
        " the 148 HJ 212 stations for hj212-file)",
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
    p.add_argument("--scenario", type=Path, default=None, help="scenario file of scripted events (YAML)")
    p.add_argument(
        "--replay",
        nargs="+",
        metavar=("SOURCE", "PATH"),
        default=None,
        help=f"replay real data instead of simulating: {' | '.join(replay.SOURCES)} [PATH]"
        " (the data sets are public, not shipped: see the README's Replays section)",
    )
    p.add_argument(
        "--replay-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="the file to replay (hj212-file needs one; uci and bsm1-* fall back to"
        " $OUTFALL_SHARED_DATA or shared/data beside the project)",
    )
    p.add_argument("--protocol", choices=("json", "hj212"), default="json", help="wire format (default json)")
    p.add_argument(
        "--edition", choices=("2025", "2017", "2005"), default="2017", help="HJ 212 edition (default 2017)"
    )
    p.add_argument("--truth", type=Path, default=None, help="write the ground truth (JSON) to this file")
    p.add_argument(
        "--live",
        action="store_true",
        help="never publish ahead of the wall clock: start 3 h back (unless --start), catch up at"
        " --speed, then run in real time",
    )
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not a terminal")
    p.add_argument(
        "--credentials",
        type=Path,
        default=None,
        metavar="FILE",
        help="the loggers' credentials (JSON by park/plant/point, as `outfall broker provision` writes"
        " it): each logger publishes over MQTT with its own login (a broker with accounts refuses"
        " anonymous publishers) and its HJ 212 frames carry its hj212_pw"
        " (default $OUTFALL_SIMULATOR_CREDENTIALS)",
    )
    p.add_argument(
        "--only-edition",
        choices=("2025", "2017", "2005"),
        default=None,
        help="send only the loggers the park file says speak this HJ 212 edition (config.hj212.edition,"
        " edition_points); the simulation still covers the whole park, so two runs can split it",
    )
    p.add_argument(
        "--skip-edition",
        choices=("2025", "2017", "2005"),
        default=None,
        help="send every logger but those of this HJ 212 edition",
    )
    hj212_tcp.add_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    logs.configure("simulate")
    broker = MqttSettings()
    if broker.mqtt_url is None and args.transport == "mqtt":
        print("outfall simulate: set OUTFALL_MQTT_URL (or use `outfall run`)", file=sys.stderr)
        return 2
    try:
        plan = make_plan(args)
    except (OSError, park.ParkFileError, scenario.ScenarioError, replay.ReplayError, ValueError) as exc:
        print(f"outfall simulate: {exc}", file=sys.stderr)
        return 2
    if plan.idle:
        print(f"outfall simulate: nothing to send: {plan.idle}", flush=True)
        return 0
    if args.transport == "tcp":
        return hj212_tcp.run(args, plan, finish)
    host, port = broker.host_port()
    client: feed.Publisher
    logins = args.credentials or SimulatorSettings().credentials
    if logins is not None:
        client = feed.Fleet(host, port, plan.park, logins)
    else:
        client = feed.connect(host, port, login=broker.credentials())
    track = plan.tracker(args.progress)

    interrupted = False
    signal.signal(signal.SIGTERM, _interrupt)  # `outfall run` stops us with SIGTERM: still drain and sum up
    try:
        feed.publish(
            client, plan.messages(), speed=args.speed, count=args.count, rate=args.rate,
            live=args.live, on_sent=track.sent,
        )  # fmt: skip
    except KeyboardInterrupt:
        interrupted = True
    # Ctrl-C reaches every process of the terminal's group and `outfall run` then sends SIGTERM too:
    # the first signal stops publishing; later ones must not cut the (bounded) drain short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    feed.drain(client)
    track.close()
    finish(plan, track.tally, args.truth, interrupted)
    return 0


def _interrupt(_sig: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def finish(plan: Plan, tally: report.Tally, truth_path: Path | None, interrupted: bool) -> None:
    truth = plan.truth()
    truth["sent_per_point"] = dict(sorted(tally.per_point.items()))
    truth["messages_sent"] = tally.sent
    if truth_path is not None:
        truth_path.write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2))
    heading = f"outfall simulate: {plan.label}" + (" (interrupted)" if interrupted else "")
    extra = plan.notes() + ([f"ground truth  : {truth_path}"] if truth_path else [])
    print(report.summary(tally, heading, truth.get("events", []), extra), flush=True)
    log.info("simulator done: %d messages, park %s", tally.sent, plan.park.id)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
