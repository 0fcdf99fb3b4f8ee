"""`outfall compliance [jobs | run NAME]` and `outfall limits show`: argument parsing and printing.
Wired into outfall/cli.py; the work is done by jobs.py, scheduler.py and limits.py."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

Handler = Callable[[argparse.Namespace], int]


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], comp: Handler, lim: Handler
) -> None:
    from compliance.jobs import BY_NAME

    c = sub.add_parser("compliance", help="rules, alerts, scheduler and notifications (the service)")
    c_sub = c.add_subparsers(dest="compliance_command")
    c_sub.add_parser("jobs", help="list the scheduled jobs and their last runs")
    r = c_sub.add_parser("run", help="run one job now")
    r.add_argument("name", choices=sorted(BY_NAME))
    r.add_argument("--park", help="only this park (default: all)")
    r.add_argument("--at", type=_when, help="run as of this time (ISO 8601 with offset; default now)")
    c.set_defaults(func=comp)
    lm = sub.add_parser("limits", help="which limit applies where, and why")
    lm_sub = lm.add_subparsers(dest="limits_command", required=True)
    show = lm_sub.add_parser("show", help="resolved limits of a park, with their sources")
    src = show.add_mutually_exclusive_group(required=True)
    src.add_argument("--park", help="a loaded park id (reads the registry)")
    src.add_argument("--file", type=Path, help="a park file (no database needed)")
    show.add_argument("--plant")
    show.add_argument("--point")
    show.add_argument("--parameter")
    show.add_argument("--at", type=_when, help="in force at this time (default now)")
    show.set_defaults(func=lim)


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone offset, e.g. 2026-11-29T08:00:00+08:00")
    return value.astimezone(UTC)


def command(args: argparse.Namespace, database_url: Callable[[], str]) -> int:
    from compliance import jobs, repo
    from compliance.__main__ import context, main

    if args.compliance_command is None:
        return main()
    if args.compliance_command == "jobs":
        runs: dict[str, repo.JobRun] = {}
        try:
            with psycopg.connect(database_url(), connect_timeout=3) as conn:
                runs = repo.job_runs(conn)
        except (psycopg.Error, SystemExit):
            pass  # the table is still useful without the last runs
        print(f"{'job':<16} {'schedule':<28} {'last run':<26} description")
        for job in jobs.JOBS:
            sched = f"{job.trigger} " + ",".join(f"{k}={v}" for k, v in job.schedule.items())
            run = runs.get(job.name)
            last = f"{run.started_at:%Y-%m-%d %H:%M:%S} {'ok' if run.ok else 'FAILED'}" if run else "-"
            print(f"{job.name:<16} {sched:<28} {last:<26} {job.description}")
        return 0
    detail = jobs.run(database_url(), context(), args.name, args.at, args.park)
    print(f"{args.name}: {detail}")
    return 0


def limits_show(args: argparse.Namespace, database_url: Callable[[], str]) -> int:
    from compliance import limits
    from ingest.core import park as park_file

    if args.file:
        spec = park_file.parse(args.file.read_text(encoding="utf-8"), str(args.file))
    else:
        from compliance import repo

        with psycopg.connect(database_url()) as conn:
            found = repo.park_specs(conn, args.park)
        if not found:
            raise SystemExit(f"outfall limits show: no park {args.park!r} loaded")
        spec = found[0][0]
    at = args.at or datetime.now(UTC)
    for plant in spec.plants:
        for point in plant.points:
            for code in point.parameters:
                if (args.plant, args.point, args.parameter) != (
                    args.plant and plant.id,
                    args.point and point.id,
                    args.parameter and code,
                ):
                    continue
                res = limits.resolve(spec, plant, point, code, at)
                for line in limits.describe(plant.id, point, res):
                    print(line)
    return 0


def add_receiver_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], handler: Handler
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """`outfall receiver secret ...`; returns the subcommands, for the root to add its own."""
    from compliance import receivers

    r = sub.add_parser("receiver", help="notification receivers' secrets (in the secret store)")
    r_sub = r.add_subparsers(dest="receiver_command", required=True)
    sec = r_sub.add_parser("secret", help="set, rotate, revoke or list a receiver's secrets")
    s_sub = sec.add_subparsers(dest="action", required=True)
    whats = sorted({*receivers.WEBHOOK_WHATS, *receivers.SMTP_WHATS})
    st = s_sub.add_parser("set", help="set or rotate a secret: the value on stdin, or --generate")
    st.add_argument("receiver", help="PARK/SUBSCRIPTION (a subscription of the park file), or smtp")
    st.add_argument("what", choices=whats)
    st.add_argument("--generate", action="store_true", help="a random secret, printed once")
    rv = s_sub.add_parser("revoke", help="end a secret now")
    rv.add_argument("receiver")
    rv.add_argument("what", choices=whats)
    ls = s_sub.add_parser("list", help="names and generations (never the values)")
    ls.add_argument("receiver", nargs="?")
    r.set_defaults(func=handler)
    return r_sub


def receiver_command(args: argparse.Namespace, database_url: Callable[[], str]) -> int:
    """`outfall receiver secret set|revoke|list`. A value is read from stdin, never from the command
    line (which other users of the machine see in the process list)."""
    import getpass
    import sys

    from compliance import receivers
    from ingest.core.secrets import SecretSettings, SecretStoreError, new_password

    prog = f"outfall receiver secret {args.action}"
    actor = f"cli:{getpass.getuser()}"
    with psycopg.connect(database_url()) as conn:
        try:
            if args.action == "list":
                for s in receivers.listed(conn, args.receiver):
                    until = f" until {s.not_after:%Y-%m-%d %H:%M}" if s.not_after else ""
                    print(f"{s.name}  generation {s.generation}  set {s.created_at:%Y-%m-%d %H:%M}{until}")
            elif args.action == "revoke":
                count = receivers.revoke_secret(conn, args.receiver, args.what)
                print(f"{args.receiver} {args.what}: {count} live generation(s) revoked")
            else:
                value = new_password() if args.generate else sys.stdin.read().strip()
                gen = receivers.set_secret(conn, SecretSettings(), args.receiver, args.what, value, actor)
                print(f"{args.receiver} {args.what}: generation {gen} stored")
                if args.generate:
                    print(value)
        except (ValueError, SecretStoreError) as exc:
            raise SystemExit(f"{prog}: {exc}") from None
    return 0
