"""`xinzheng keys list` and `xinzheng keys rotate --authority CODE [--algorithm EdDSA|ES256]`."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from app.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("keys", help="issuers' certificate signing keys")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every key: issuer, kid, algorithm, made, retired, certificates in force")
    listing.set_defaults(func=run_list)
    rotate = actions.add_parser(
        "rotate",
        help="retire an issuer's current key and make a new one",
        description="The retired key signs nothing more; it stays in /.well-known/jwks.json while a "
        "certificate it signed is in force. In prod the new private key is written to "
        "XINZHENG_SIGNING_KEYS_DIR and only its public half to the database.",
    )
    rotate.add_argument("--authority", required=True, metavar="CODE", help="the issuing authority's credit code")
    rotate.add_argument("--algorithm", default="EdDSA", choices=["EdDSA", "ES256"], help="default: EdDSA (Ed25519)")
    rotate.set_defaults(func=run_rotate)


def run_list(args: argparse.Namespace) -> int:
    rows = asyncio.run(_list(Settings.from_env()))
    print("authority           algorithm  made                 retired              in force  kid")
    for r in rows:
        retired = r["retired_at"].strftime("%Y-%m-%d %H:%M:%S") if r["retired_at"] else "-"
        print(
            f"{r['authority_code']:<19} {r['algorithm']:<10} {r['created_at']:%Y-%m-%d %H:%M:%S}  "
            f"{retired:<20} {r['in_force']:>8}  {r['kid']}"
        )
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    kid = asyncio.run(_rotate(Settings.from_env(), args.authority, args.algorithm))
    print(f"{args.authority} now signs with {kid}")
    return 0


async def _list(settings: Settings) -> list[dict[str, Any]]:
    from app.cli._database import migrated_engine
    from app.certificates.keys import key_list

    async with migrated_engine(settings) as engine, engine.connect() as conn:
        return await key_list(conn)


async def _rotate(settings: Settings, authority: str, algorithm: str) -> str:
    from sqlalchemy import select

    from app.cli import CliError
    from app.cli._database import migrated_engine
    from app.certificates.keys import KeyStore, rotate
    from app.db.models import Authority
    from app.domain.enums import AuthorityType
    from app.identifiers import InvalidIdentifier, parse_credit_code

    try:
        code = parse_credit_code(authority)
    except InvalidIdentifier as e:
        raise CliError(f"--authority: {e}") from None
    store = KeyStore.for_settings(settings)
    if not store.in_database and store.directory is None:
        raise CliError("prod keeps private keys in XINZHENG_SIGNING_KEYS_DIR: set it first")
    authorities = Authority.__table__
    async with migrated_engine(settings) as engine, engine.begin() as conn:
        kind = (await conn.execute(select(authorities.c.authority_type).where(authorities.c.code == code))).scalar()
        if kind is None:
            raise CliError(f"{code} is not an authority on file")
        if kind != AuthorityType.ISSUER:
            raise CliError(f"{code} is not an issuer ({kind}): only issuers sign certificates")
        return await rotate(conn, code, algorithm, store=store)
