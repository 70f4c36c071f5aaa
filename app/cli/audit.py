"""`xinzheng audit verify` and `xinzheng audit export`: check the audit log, or take it away to check.

`verify` walks the chain and its signed checkpoints in the database (or in an export, with
`--file`) and names the first bad entry; `export` writes the log as JSONL that verifies on its
own (app/audit/export.py), streamed, so that a log of any size goes through a small process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from app.config import Settings

if TYPE_CHECKING:  # loaded when the command runs: `xinzheng token` stays quick
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from app.audit.verify import Integrity


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("audit", help="verify or export the audit log")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="walk the audit chain and its signed checkpoints; exit 1 naming the first bad entry",
        description="Walk the audit log's hash chain and check its signed checkpoints, in the database "
        "(XINZHENG_DATABASE_URL) or, with --file, in an export. Exits 0 when intact, 1 naming the first bad entry.",
    )
    verify.add_argument("--file", type=Path, metavar="FILE", help="verify this export instead of the database")
    verify.add_argument(
        "--public-key",
        type=Path,
        metavar="PEM_FILE",
        help="the audit public key to check the checkpoints against (PEM; `openssl pkey -pubout` makes it from "
        "the private key). Default: the service's key (XINZHENG_AUDIT_KEY), or for --file the key in its header",
    )
    verify.set_defaults(func=run_verify)
    export = actions.add_parser(
        "export",
        help="write the audit log as JSONL that verifies on its own",
        description="Write a header, every entry in seq order and every signed checkpoint, one JSON object a line.",
    )
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="write here (default: standard output)")
    export.set_defaults(func=run_export)


# verify


def run_verify(args: argparse.Namespace) -> int:
    given = _load_public_key(args.public_key) if args.public_key is not None else None
    if args.file is not None:
        return _verify_file(args.file, given)
    return _verify_database(Settings.from_env(), given)


def _verify_database(settings: Settings, given: Ed25519PublicKey | None) -> int:
    from app.audit import keys

    key = given if given is not None else keys.audit_key(settings).public_key()
    result, last_checkpoint = asyncio.run(_walk_database(settings, key))
    if result.first_bad is not None:
        return _broken("the audit log", result, line=None)
    print(f"audit log intact: {_summary(result, keys.key_id(key), last_checkpoint)}")
    return 0


async def _walk_database(settings: Settings, key: Ed25519PublicKey) -> tuple[Integrity, int | None]:
    from sqlalchemy import func, select
    from sqlalchemy.exc import DBAPIError

    from app.audit.store import checkpoints
    from app.audit.verify import verify_database
    from app.cli import CliError
    from app.cli._database import migrated_engine, reason

    async with migrated_engine(settings) as engine:
        try:
            async with engine.connect() as conn:
                result = await verify_database(conn, key)
                last = (await conn.execute(select(func.max(checkpoints.c.seq)))).scalar()
        except DBAPIError as e:
            raise CliError(f"cannot read the audit log: {reason(e)}") from None
    return result, last


def _verify_file(path: Path, given: Ed25519PublicKey | None) -> int:
    from app.audit import keys
    from app.audit.export import ExportError, read_entries, read_header_and_checkpoints
    from app.audit.verify import verify_entries
    from app.cli import CliError

    if not path.is_file():
        raise CliError(f"{path}: no such file")
    try:
        header, signed = read_header_and_checkpoints(path)
    except ExportError as e:
        return _fail(f"{path}: {e}")
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"{path}: cannot be read: {e}") from None
    if given is not None and keys.public_raw(given) != keys.public_raw(header.public_key):
        return _fail(
            f"{path}: the export's checkpoints are under key {header.key_id}, not the given key {keys.key_id(given)}"
        )
    trust = (
        f"checked against the given key {header.key_id}"
        if given is not None
        else f"trusting the key in the file's header ({header.key_id}); pass --public-key to check it is the service's"
    )
    walk = _EntryLines(read_entries(path))
    try:
        result = asyncio.run(verify_entries(walk, signed, header.public_key))
    except ExportError as e:
        return _fail(f"{path}: {e} (the line after entry {walk.last_seq})" if walk.last_seq else f"{path}: {e}")
    if result.first_bad is not None:
        # The walk stops at the first bad entry; entries 1..n-1 were lines 2..n, so entry n is line n+1.
        line = result.first_bad.seq + 1 if not walk.finished else None
        return _broken(f"{path}: the export", result, line=line)
    if (header.entries, header.checkpoints, header.head_hash) != (result.entries, len(signed), result.head_hash):
        return _fail(
            f"{path}: the header promises {header.entries} entries (head {header.head_hash}) and "
            f"{header.checkpoints} checkpoints; the file holds {result.entries} (head {result.head_hash}) "
            f"and {len(signed)}: it was cut short or added to"
        )
    last = max((c["seq"] for c in signed), default=None)
    print(f"{path}: audit export intact: {_summary(result, header.key_id, last)}; {trust}")
    return 0


class _EntryLines:
    """The entries of an export for the verifier, remembering how far the walk read."""

    def __init__(self, lines: Iterator[tuple[int, dict[str, Any]]]) -> None:
        self.lines = lines
        self.last_seq: int | None = None
        self.finished = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for _, entry in self.lines:
            yield entry
            self.last_seq = entry["seq"]
        self.finished = True


def _summary(result: Integrity, key_id: str, last_checkpoint: int | None) -> str:
    text = f"{result.entries} entries, head {result.head_hash or '-'}, {result.checkpoints} signed checkpoint(s) by key {key_id}"
    covered = last_checkpoint or 0
    if result.entries > covered:
        # Entries after the last checkpoint are held by the chain alone: cutting them off leaves
        # a valid shorter chain. Say so rather than let "intact" promise more than it checked.
        text += f"; entries {covered + 1}-{result.entries} are not yet under a signed checkpoint"
    return text


def _broken(what: str, result: Integrity, *, line: int | None) -> int:
    assert result.first_bad is not None
    where = f"entry {result.first_bad.seq}" + (f" (line {line})" if line is not None else "")
    return _fail(f"{what} is broken at {where}: {result.first_bad.reason}")


def _fail(message: str) -> int:
    print(f"xinzheng audit verify: {message}", file=sys.stderr)
    return 1


def _load_public_key(path: Path) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from app.cli import CliError

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as e:
        raise CliError(f"{path}: cannot be read: {e.strerror or e}") from None
    except ValueError:
        raise CliError(f"{path}: not a PEM public key (give the public key, never the private one)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CliError(f"{path}: not an Ed25519 public key")
    return key


# export


def run_export(args: argparse.Namespace) -> int:
    from app.audit import keys

    settings = Settings.from_env()
    key = keys.audit_key(settings).public_key()
    if args.output is None:
        entries, signed = asyncio.run(_export(settings, key, sys.stdout))
        sys.stdout.flush()
        print(f"xinzheng audit export: {entries} entries and {signed} checkpoint(s)", file=sys.stderr)
        return 0
    # Written beside the target and moved into place when complete: a failed export never
    # leaves a file that looks whole (it would verify as a shorter chain).
    partial = args.output.with_name(f".{args.output.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            entries, signed = asyncio.run(_export(settings, key, out))
        os.replace(partial, args.output)
    except OSError as e:
        from app.cli import CliError

        raise CliError(f"{args.output}: cannot be written: {e.strerror or e}") from None
    finally:
        partial.unlink(missing_ok=True)
    print(f"wrote {entries} entries and {signed} checkpoint(s) to {args.output}")
    return 0


async def _export(settings: Settings, key: Ed25519PublicKey, out: IO[str]) -> tuple[int, int]:
    from sqlalchemy import func, select
    from sqlalchemy.exc import DBAPIError

    from app.audit.export import checkpoint_line, entry_line, header_line
    from app.audit.store import HEAD, audit_log, checkpoints, entries
    from app.audit.verify import checkpoint_row
    from app.cli import CliError
    from app.cli._database import migrated_engine, reason

    async with migrated_engine(settings) as engine:
        try:
            async with engine.connect() as conn:
                # The log as it stands now: entries appended while this runs wait for the next export.
                head = (await conn.execute(HEAD)).first()
                head_seq = head.seq if head else 0
                count = (await conn.execute(select(func.count()).where(audit_log.c.seq <= head_seq))).scalar_one()
                signed = (await conn.execute(select(func.count()).where(checkpoints.c.seq <= head_seq))).scalar_one()
                out.write(
                    header_line(
                        key,
                        entries=count,
                        checkpoints=signed,
                        head_seq=head.seq if head else None,
                        head_hash=head.hash if head else None,
                    )
                )
                async for entry in entries(conn):
                    if entry["seq"] > head_seq:
                        break
                    out.write(entry_line(entry))
                rows = await conn.stream(
                    select(checkpoints).where(checkpoints.c.seq <= head_seq).order_by(checkpoints.c.seq)
                )
                async for r in rows:
                    out.write(checkpoint_line(checkpoint_row(r)))
        except DBAPIError as e:
            raise CliError(f"cannot read the audit log: {reason(e)}") from None
    return count, signed
