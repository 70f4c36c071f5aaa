"""`xinzheng token`: print a dev token the running service accepts, signed with the secret it
verifies with (XINZHENG_JWT_SECRET when set, else the generated dev secret). Prod refuses."""

from __future__ import annotations

import argparse
import datetime as dt

from app.auth.roles import Role
from app.auth.tokens import InvalidToken, mint
from app.config import Settings

MAX_TTL = 365 * 24 * 3600  # a dev token for a year at most (and never a lifetime past the datetime range)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="print a dev token (dev only)")
    p.add_argument("--role", required=True, choices=[r.value for r in Role if r is not Role.PUBLIC])
    p.add_argument("--org", help="the organisation's credit code (bank, counter, issuer)")
    p.add_argument("--sub", help="the operator's own identifier")
    p.add_argument("--id-number", help="the citizen's ID number (citizen)")
    p.add_argument("--ttl", type=int, default=3600, help="seconds the token lives (default 3600)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.cli import CliError

    settings = Settings.from_env()
    if not settings.is_dev:
        raise CliError("tokens are minted only in dev (XINZHENG_ENV=dev)")
    if not 0 < args.ttl <= MAX_TTL:
        raise CliError(f"--ttl must be 1 to {MAX_TTL} seconds (a year)")
    try:
        print(
            mint(
                settings,
                role=Role(args.role),
                org=args.org,
                sub=args.sub,
                id_number=args.id_number,
                ttl=dt.timedelta(seconds=args.ttl),
            )
        )
    except InvalidToken as e:
        raise CliError(str(e)) from None
    return 0
