"""`outfall token create|list|revoke`: bearer tokens for the API, administered on the command line by
whoever can reach the database. Each change is in the audit log with the operating-system user."""

from __future__ import annotations

import argparse
import getpass
from datetime import timedelta

import psycopg

from api import auth, repo
from ingest.core import reads as ingest_reads


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def create(
    database_url: str,
    role: str,
    park: str | None,
    plant: str | None,
    name: str | None,
    expires_in: timedelta | None = None,
) -> tuple[int, str]:
    """Store a new token's hash; return (id, token). The token itself is never stored. With
    ``expires_in`` the token stops working that long from now."""
    auth.check_scope(role, park, plant)
    token = auth.new_token()
    label = name or "-".join(x for x in (role, park, plant) if x)
    with psycopg.connect(database_url) as conn, conn.transaction():
        if park is not None and not _registered(conn, park, plant):
            where = f"plant {park}/{plant}" if plant else f"park {park}"
            raise auth.ScopeError(f"{where} is not in the registry (load the park file first)")
        prefix = token[: len(auth.PREFIX) + 6]
        digest = auth.token_hash(token)
        token_id = repo.insert_token(conn, label, role, park, plant, digest, prefix, _actor(), expires_in)
        scope = {"role": role, "park": park, "plant": plant, "name": label, "expires_in": expires_in}
        repo.audit(conn, _actor(), "token.create", f"token {token_id}", park, plant, scope)
    return token_id, token


def _registered(conn: psycopg.Connection, park: str, plant: str | None) -> bool:
    if plant is None:
        return ingest_reads.parks(park, None).first(conn) is not None
    return ingest_reads.plants(park, plant).first(conn) is not None


def revoke(database_url: str, token_id: int) -> None:
    with psycopg.connect(database_url) as conn, conn.transaction():
        row = repo.revoke_token(conn, token_id)
        if row is not None:
            repo.audit(
                conn, _actor(), "token.revoke", f"token {row.id}", row.park, row.plant, {"name": row.name}
            )


def renew(database_url: str, token_id: int, expires_in: timedelta) -> bool:
    """Push a live token's expiry to now + ``expires_in`` (the `outfall run` session token, while it
    runs); False when the token is revoked or expired already."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        return repo.renew_token(conn, token_id, expires_in)


def command(args: argparse.Namespace, database_url: str) -> int:
    if args.what == "create":
        try:
            expires_in = auth.parse_duration(args.expires_in) if args.expires_in is not None else None
            token_id, token = create(database_url, args.role, args.park, args.plant, args.name, expires_in)
        except auth.ScopeError as exc:
            raise SystemExit(f"outfall token create: {exc}") from None
        until = f", expires in {args.expires_in}" if expires_in else ""
        print(f"token {token_id} ({args.role}{until}): {token}")
        print("Store it now: only its hash is kept, it cannot be shown again.")
        return 0
    with psycopg.connect(database_url) as conn, conn.transaction():
        if args.what == "list":
            for t in repo.list_tokens(conn, args.all):
                scope = "/".join(x for x in (t.park, t.plant) if x) or "*"
                revoked = f" revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else ""
                expires = f" expires {t.expires_at:%Y-%m-%d %H:%M:%S}" if t.expires_at else ""
                print(
                    f"{t.id:>5}  {t.role:<8} {scope:<30} {t.prefix}…  {t.name}  "
                    f"created {t.created_at:%Y-%m-%d %H:%M} by {t.created_by}{revoked}{expires}"
                )
            return 0
        if repo.revoke_token(conn, args.id) is None:
            raise SystemExit(f"outfall token revoke: no token {args.id}")
    revoke(database_url, args.id)  # idempotent; writes the audit row
    print(f"token {args.id} revoked")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    token = sub.add_parser("token", help="API bearer tokens: create (printed once), list, revoke")
    token_sub = token.add_subparsers(dest="what", required=True)
    create_p = token_sub.add_parser("create", help="create a token and print it once")
    create_p.add_argument("--role", required=True, choices=auth.ROLES)
    create_p.add_argument("--park", help="limit to one park (required for operators)")
    create_p.add_argument("--plant", help="limit an operator to one plant of --park")
    create_p.add_argument("--name", help="a label, e.g. the person or system using it")
    create_p.add_argument(
        "--expires-in", metavar="DURATION", help="the token stops working after e.g. 90s, 30m, 12h or 7d"
    )
    list_p = token_sub.add_parser("list", help="list tokens (hashes are never shown)")
    list_p.add_argument("--all", action="store_true", help="include revoked tokens")
    revoke = token_sub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    return token  # type: ignore[no-any-return]
