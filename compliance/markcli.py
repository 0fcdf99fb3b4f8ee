"""`outfall mark codes | list | show`: the data marks from the command line (read-only: marks are made
and reviewed through the API, with the caller's token as the actor). Wired into outfall/cli.py."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import psycopg

from compliance.repo import marks as mrepo

Handler = Callable[[argparse.Namespace], int]
STATUSES = ("pending", "approved", "rejected", "withdrawn")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], handler: Handler) -> None:
    m = sub.add_parser("mark", help="data marks (MEE Announcement 2022 No. 21): codes, marks, their trail")
    m_sub = m.add_subparsers(dest="mark_command", required=True)
    m_sub.add_parser("codes", help="the mark codes, with the HJ 212 flag of each state")
    ls = m_sub.add_parser("list", help="marks, newest first")
    ls.add_argument("--park")
    ls.add_argument("--plant")
    ls.add_argument("--status", choices=STATUSES, action="append")
    ls.add_argument("--limit", type=int, default=50)
    show = m_sub.add_parser("show", help="one mark with its audit trail, evidence and withdrawn alerts")
    show.add_argument("id", type=int)
    m.set_defaults(func=handler)


def command(args: argparse.Namespace, database_url: Callable[[], str]) -> int:
    with psycopg.connect(database_url()) as conn:
        if args.mark_command == "codes":
            for c in mrepo.mark_codes().fetch(conn):
                flag = c.hj212_flag or "-"
                effect = "invalid" if c.invalidates else "recorded"
                stop = " claims stopped" if c.claims_stopped else ""
                print(f"{c.code:<20} {c.group:<10} {flag:<2} {effect:<8} {c.name_zh} / {c.name_en}{stop}")
            return 0
        if args.mark_command == "list":
            f = mrepo.MarkFilter(args.park, args.plant, args.status)
            for m in mrepo.marks_in_scope(f, args.limit).fetch(conn):
                print(_line(m))
            return 0
        found = mrepo.mark_by_id(args.id).first(conn)
        if found is None:
            raise SystemExit(f"outfall mark show: no mark {args.id}")
        print(_line(found))
        print(f"  note: {found.reason}")
        for a in mrepo.mark_audit(args.id).fetch(conn):
            change = f"{a.from_status} -> {a.to_status}"
            print(f"  {a.at:%Y-%m-%d %H:%M:%S} {a.actor} {a.action} {change} {a.note or ''}")
        for e in mrepo.mark_evidence(args.id).fetch(conn):
            print(f"  evidence {e.id}: {e.name} {e.content_type} {e.size} bytes sha256 {e.sha256}")
        for w in mrepo.mark_alerts(args.id).fetch(conn):
            back = f", reinstated {w.reinstated_at:%Y-%m-%d %H:%M}" if w.reinstated_at else ""
            print(
                f"  alert {w.alert_id} withdrawn {w.withdrawn_at:%Y-%m-%d %H:%M} (was {w.from_state}){back}"
            )
    return 0


def _line(m: mrepo.Mark) -> str:
    where = f"{m.park}/{m.plant}/{m.point or '*'}"
    end = f"{m.end:%Y-%m-%d %H:%M}" if m.end else "-"
    review = f" by {m.decided_by}" if m.decided_by else ""
    return f"{m.id:>6} {m.code:<18} {where:<40} {m.start:%Y-%m-%d %H:%M} .. {end}  {m.status}{review}"
