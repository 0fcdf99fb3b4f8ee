"""The `outfall` command line: one console script, one subcommand per process or task."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ingest.core import logs
from outfall.tasks import database_url as _database_url
from outfall.tasks import db_upgrade, park_load, secret_key_env

log = logging.getLogger("outfall")


def _cmd_db(args: argparse.Namespace) -> int:
    db_upgrade(_database_url())
    return 0


def _cmd_park(args: argparse.Namespace) -> int:
    park_load(_database_url(), args.file)
    return 0


def _cmd_ingest(_args: argparse.Namespace) -> int:
    from outfall import wiring

    return wiring.ingest_worker()


def _cmd_compliance(args: argparse.Namespace) -> int:
    from compliance import cli

    return cli.command(args, _database_url)


def _cmd_limits(args: argparse.Namespace) -> int:
    from compliance import cli

    return cli.limits_show(args, _database_url)


def _cmd_receiver(args: argparse.Namespace) -> int:
    import os

    from compliance import cli

    os.environ.update(secret_key_env(create=False))  # `outfall run`'s key, when it made one here
    return cli.receiver_command(args, _database_url)


def _cmd_mark(args: argparse.Namespace) -> int:
    from compliance import markcli

    return markcli.command(args, _database_url)


def _cmd_token(args: argparse.Namespace) -> int:
    from api import tokens

    return tokens.command(args, _database_url())


def _cmd_evidence(args: argparse.Namespace) -> int:
    from api import evidence

    if args.evidence_command == "verify":
        return evidence.verify_command(args)  # no database: a bundle is checked on its own
    return evidence.export_command(args, _database_url())


def _cmd_report(args: argparse.Namespace) -> int:
    from api import reportdata

    return reportdata.command(args, _database_url())


def _cmd_api(_args: argparse.Namespace) -> int:
    from api.__main__ import main

    return main()


def _cmd_simulate(args: argparse.Namespace) -> int:
    from simulators.__main__ import run

    return run(args)


def _cmd_hj212_decode(args: argparse.Namespace) -> int:
    import sys

    from ingest.hj212 import cli as hj212_cli

    try:
        policy = hj212_cli.policy_from(
            args.sm4_key or [], args.strict, _database_url() if args.from_store else None
        )
    except ValueError as exc:
        print(f"outfall hj212 decode: {exc}", file=sys.stderr)
        return 2
    return hj212_cli.decode_lines(sys.stdin.buffer, sys.stdout, args.timezone, policy)


def _cmd_logger_sm4(args: argparse.Namespace) -> int:
    import os
    import sys

    from ingest.hj212 import cli as hj212_cli

    os.environ.update(secret_key_env(create=False))  # `outfall run`'s key, when it made one here
    key = None if args.generate else args.key
    return hj212_cli.sm4_set(_database_url(), args.sm4_logger, key, args.overlap_hours, sys.stdout)


def _cmd_hj212_serve(_args: argparse.Namespace) -> int:
    from outfall import wiring

    return wiring.hj212_gateway()  # the same real-time hook as `outfall ingest`


def _cmd_hj212_send(args: argparse.Namespace) -> int:
    import sys

    from ingest.hj212 import cli as hj212_cli

    return hj212_cli.send(_database_url(), args.mn, args.cn, args.fields, args.wait, sys.stdout)


def _cmd_hj212_rotate(args: argparse.Namespace) -> int:
    import os
    import sys

    from ingest.hj212 import cli as hj212_cli

    os.environ.update(secret_key_env(create=False))  # `outfall run`'s key, when it made one here
    return hj212_cli.rotate_key(_database_url(), args.rotate_logger, args.wait, sys.stdout)


def _cmd_hj212_enrol(args: argparse.Namespace) -> int:
    import sys

    from ingest.hj212 import cli as hj212_cli

    if args.point is None:
        return hj212_cli.waiting(_database_url(), sys.stdout)
    park, _, rest = args.point.partition("/")
    plant, _, point = rest.partition("/")
    return hj212_cli.assign(_database_url(), args.serial, park, plant, point, sys.stdout)


def _cmd_logger(args: argparse.Namespace) -> int:
    from ingest.mqtt import brokercli

    if args.logger_command == "sm4":
        return _cmd_logger_sm4(args)

    return brokercli.logger_command(args, _database_url())


def _cmd_broker(args: argparse.Namespace) -> int:
    from ingest.mqtt import brokercli
    from outfall import processes

    return brokercli.broker_command(args, _database_url(), processes.service_accounts())


def _cmd_run(args: argparse.Namespace) -> int:
    from outfall import supervisor

    return supervisor.run_all(args)


def build_parser() -> argparse.ArgumentParser:
    from simulators.__main__ import build_parser as simulate_parser

    parser = argparse.ArgumentParser(
        prog="outfall", description="Outfall: park wastewater compliance monitoring"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the whole system on local services, simulator included")
    run.add_argument("--park", type=Path, action="append", help="park file(s) to load (default: sample park)")
    run.add_argument(
        "--speed",
        type=float,
        default=600.0,
        help="simulator catch-up speed over its 3 h of history before it runs in real time (default 600x)",
    )
    run.add_argument("--no-simulator", action="store_true", help="start everything but the simulator")
    run.add_argument(
        "--scenario",
        type=Path,
        default=None,
        help="scenario file for the simulator (default with the sample park: its demo incidents)",
    )
    run.set_defaults(func=_cmd_run)
    sub.add_parser("ingest", help="the MQTT ingest worker").set_defaults(func=_cmd_ingest)
    sub.add_parser("api", help="the HTTP API").set_defaults(func=_cmd_api)
    simulate_parser(sub.add_parser("simulate", help="publish simulated monitor data")).set_defaults(
        func=_cmd_simulate
    )
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply pending migrations").set_defaults(func=_cmd_db)
    park = sub.add_parser("park", help="park registry")
    park_sub = park.add_subparsers(dest="park_command", required=True)
    load = park_sub.add_parser("load", help="load (or reload) a park file")
    load.add_argument("file", type=Path)
    load.set_defaults(func=_cmd_park)
    from compliance.cli import add_parsers

    add_parsers(sub, _cmd_compliance, _cmd_limits)
    from compliance.cli import add_receiver_parser

    _robot_test_server_parser(add_receiver_parser(sub, _cmd_receiver))
    from compliance.markcli import add_parser as mark_parser

    mark_parser(sub, _cmd_mark)
    from api.tokens import add_parser as token_parser

    token_parser(sub).set_defaults(func=_cmd_token)
    from api.evidence import add_parser as evidence_parser

    evidence_parser(sub).set_defaults(func=_cmd_evidence)
    from api.reportdata import add_parser as report_parser

    report_parser(sub).set_defaults(func=_cmd_report)
    from ingest.mqtt.brokercli import add_parsers as broker_parsers

    logger_sub = broker_parsers(sub)
    sub.choices["logger"].set_defaults(func=_cmd_logger)
    sub.choices["broker"].set_defaults(func=_cmd_broker)
    hj = sub.add_parser("hj212", help="HJ 212 frames: decode, TCP gateway")
    hj_sub = hj.add_subparsers(dest="hj212_command", required=True)
    decode = hj_sub.add_parser("decode", help="decode frames from stdin, one JSON object per line")
    decode.add_argument(
        "--timezone", default="Asia/Shanghai", help="zone of DataTime (default Asia/Shanghai)"
    )
    _decode_options(decode)
    decode.set_defaults(func=_cmd_hj212_decode)
    hj_sub.add_parser("serve", help="the HJ 212 TCP gateway (port 8212)").set_defaults(func=_cmd_hj212_serve)
    _sm4_parser(logger_sub)
    _command_parsers(hj_sub)
    return parser


def _command_parsers(hj_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`outfall hj212 send | rotate-key | enrol`: reverse control."""
    send = hj_sub.add_parser("send", help="queue a command to a logger and wait for its answer")
    send.add_argument("mn", help="the logger's MN")
    send.add_argument("cn", help="command code, e.g. 1061 (get real-time interval), 1012, 3015, 3020")
    send.add_argument("fields", nargs="*", help="CP fields as key=value, e.g. RtdInterval=60")
    send.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the answer (default 60)")
    send.set_defaults(func=_cmd_hj212_send)
    rotate = hj_sub.add_parser(
        "rotate-key", help="HJ 212-2025: give a logger a new SM4 key now, through CN 1014"
    )
    rotate.add_argument("rotate_logger", metavar="PARK/PLANT/POINT")
    rotate.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for the logger's answer (default: do not)"
    )
    rotate.set_defaults(func=_cmd_hj212_rotate)
    enrol = hj_sub.add_parser("enrol", help="loggers waiting to enter the network; assign one to a point")
    enrol.add_argument("serial", nargs="?", help="the hardware serial the logger sent (CN 1001)")
    enrol.add_argument("point", nargs="?", help="PARK/PLANT/POINT whose MN it gets")
    enrol.set_defaults(func=_cmd_hj212_enrol)


def _robot_test_server_parser(receiver_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ts = receiver_sub.add_parser(
        "test-server",
        help="a local chat robot (WeCom, DingTalk, Feishu) that checks messages as the vendor does",
    )
    ts.add_argument("--kind", required=True, choices=("wecom", "dingtalk", "feishu"))
    ts.add_argument("--token", default="test-token", help="the key / access token in its URL")
    ts.add_argument("--secret", help="its signing secret (DingTalk 加签, Feishu 签名校验); none: unsigned")
    ts.add_argument("--host", default="127.0.0.1")
    ts.add_argument("--port", type=int, default=0, help="0: any free port (the URL is printed)")
    ts.add_argument("--limit", type=int, default=20, help="requests per window before refusing (20)")
    ts.add_argument("--window", type=float, default=60.0, help="rate window in seconds (60)")
    ts.set_defaults(func=_cmd_robot_test_server)


def _cmd_robot_test_server(args: argparse.Namespace) -> int:
    from simulators import robotreceiver

    robot = robotreceiver.Robot(args.kind, args.token, args.secret, args.limit, args.window)
    return robotreceiver.serve(robot, args.host, args.port)


def _decode_options(decode: argparse.ArgumentParser) -> None:
    decode.add_argument(
        "--sm4-key",
        action="append",
        metavar="HEX",
        help="SM4 key (32 hex characters) to open encrypted HJ 212-2025 frames; repeat for several",
    )
    decode.add_argument(
        "--from-store",
        action="store_true",
        help="also use each logger's keys and strict mode from the registry (OUTFALL_DATABASE_URL)",
    )
    decode.add_argument("--strict", action="store_true", help="refuse frames with quirks")


def _sm4_parser(logger_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`outfall logger sm4 set PARK/PLANT/POINT --key HEX | --generate` (HJ 212-2025)."""
    sm4 = logger_sub.add_parser("sm4", help="HJ 212-2025 SM4 keys").add_subparsers(
        dest="sm4_command", required=True
    )
    sm4_set = sm4.add_parser("set", help="issue a logger's SM4 key (the old one stays live for the overlap)")
    sm4_set.add_argument("sm4_logger", metavar="PARK/PLANT/POINT")
    which = sm4_set.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", metavar="HEX", help="the key, 32 hex characters")
    which.add_argument("--generate", action="store_true", help="a new random key, printed once")
    sm4_set.add_argument(
        "--overlap-hours",
        type=float,
        default=24.0,
        help="how long the previous key stays accepted while the logger switches (default 24)",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in ("ingest", "api", "simulate", "hj212"):
        logs.configure("outfall")
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
