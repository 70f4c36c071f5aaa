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
    from app.audit.witness import Witnessed


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
    verify.add_argument(
        "--witness",
        type=Path,
        metavar="DIR",
        help="also check the log against the checkpoint the witness with this state directory last cosigned",
    )
    verify.set_defaults(func=run_verify)
    witness = actions.add_parser(
        "witness",
        help="cosign the log's checkpoints, each only if it extends the last one cosigned (a separate process)",
        description="Fetch the newest signed checkpoint from the service over HTTP (GET /audit/checkpoint), check "
        "that it extends the last one this witness cosigned (GET /audit/consistency), and cosign it "
        "(C2SP tlog-cosignature). Runs until stopped, or once with --once. Stops with exit 1 when the log shrank, "
        "forked or cannot prove consistency.",
    )
    witness.add_argument("--url", required=True, help="the service's base URL, e.g. http://127.0.0.1:8000")
    witness.add_argument("--state", type=Path, required=True, metavar="DIR", help="the witness's own state directory")
    witness.add_argument(
        "--log-public-key", type=Path, metavar="PEM_FILE", help="the log's audit public key (needed at the first run)"
    )
    witness.add_argument("--name", help="the witness's key name in its cosignatures (first run; default xinzheng/witness)")
    witness.add_argument("--interval", type=float, default=10.0, help="seconds between rounds (default 10)")
    witness.add_argument("--once", action="store_true", help="one round, then exit")
    witness.set_defaults(func=run_witness)
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
        return _verify_file(args.file, given, args.witness)
    return _verify_database(Settings.from_env(), given, args.witness)


def _witnessed(directory: Path | None, key: Ed25519PublicKey) -> Witnessed | None:
    """The witness's cosigned checkpoint, checked; None without --witness."""
    if directory is None:
        return None
    from app.audit.witness import WitnessError, witnessed
    from app.cli import CliError

    try:
        seen = witnessed(directory, key)
    except WitnessError as e:
        raise CliError(str(e)) from None
    if seen is None:
        raise CliError(f"{directory}: the witness has cosigned no checkpoint yet")
    return seen


def _against_witness(result: Integrity, seen: Witnessed | None) -> tuple[Integrity, str]:
    """The walk's result with the witness's verdict folded in, and what to add to the summary."""
    if seen is None or result.first_bad is not None:
        return result, ""
    from dataclasses import replace

    from app.audit.witness import compare

    bad = compare(seen, result.entries, result.roots)
    if bad is not None:
        return replace(result, ok=False, first_bad=bad), ""
    return result, f"; the witness {seen.name} cosigned its first {seen.checkpoint.size} entries"


def _verify_database(settings: Settings, given: Ed25519PublicKey | None, witness_dir: Path | None) -> int:
    from app.audit import keys

    key = given if given is not None else keys.audit_key(settings).public_key()
    seen = _witnessed(witness_dir, key)
    sizes = [seen.checkpoint.size] if seen is not None else []
    result, last_checkpoint = asyncio.run(_walk_database(settings, key, sizes))
    result, witnessed_text = _against_witness(result, seen)
    if result.first_bad is not None:
        return _broken("the audit log", result, line=None)
    print(f"audit log intact: {_summary(result, keys.key_id(key), last_checkpoint)}{witnessed_text}")
    return 0


async def _walk_database(settings: Settings, key: Ed25519PublicKey, sizes: list[int]) -> tuple[Integrity, int | None]:
    from sqlalchemy import func, select
    from sqlalchemy.exc import DBAPIError

    from app.audit.rows import checkpoints
    from app.audit.verify import verify_database
    from app.cli import CliError
    from app.cli._database import migrated_engine, reason

    async with migrated_engine(settings) as engine:
        try:
            async with engine.connect() as conn:
                result = await verify_database(conn, key, roots_at=sizes)
                last = (await conn.execute(select(func.max(checkpoints.c.seq)))).scalar()
        except DBAPIError as e:
            raise CliError(f"cannot read the audit log: {reason(e)}") from None
    return result, last


def _verify_file(path: Path, given: Ed25519PublicKey | None, witness_dir: Path | None) -> int:
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
    seen = _witnessed(witness_dir, header.public_key)
    walk = _EntryLines(read_entries(path))
    try:
        sizes = [seen.checkpoint.size] if seen is not None else []
        result = asyncio.run(verify_entries(walk, signed, header.public_key, roots_at=sizes))
    except ExportError as e:
        return _fail(f"{path}: {e} (the line after entry {walk.last_seq})" if walk.last_seq else f"{path}: {e}")
    result, witnessed_text = _against_witness(result, seen)
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
    print(f"{path}: audit export intact: {_summary(result, header.key_id, last)}{witnessed_text}; {trust}")
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


# witness


def run_witness(args: argparse.Namespace) -> int:
    import time

    from app.audit.witness import Inconsistent, WitnessError, load, witness_once
    from app.cli import CliError

    log_key = _load_public_key(args.log_public_key) if args.log_public_key is not None else None
    if args.interval <= 0:
        raise CliError("--interval must be more than 0 seconds")
    try:
        state = load(args.state, log_key=log_key, name=args.name)
    except (WitnessError, ValueError) as e:
        raise CliError(str(e)) from None
    while True:
        try:
            print(witness_once(state, args.url), flush=True)
        except Inconsistent as e:
            print(f"xinzheng audit witness: refused: {e}", file=sys.stderr)
            return 1
        except WitnessError as e:
            if args.once:
                raise CliError(str(e)) from None
            print(f"xinzheng audit witness: {e}; trying again in {args.interval:g}s", file=sys.stderr, flush=True)
        if args.once:
            return 0
        time.sleep(args.interval)
        state = load(args.state)


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
    from app.audit.rows import HEAD, audit_log, checkpoints
    from app.audit.verify import checkpoint_row, entries
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
