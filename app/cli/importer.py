"""`xinzheng import FILE...`: import JSONL files all together, or nothing if any line is bad."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import Settings

if TYPE_CHECKING:  # the importer's modules load only when the command runs: `xinzheng token` stays quick
    from app.imports import ImportReport


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import",
        help="import JSONL files (all or nothing)",
        description="Import JSONL files (SPEC section 8). Every line of every file is checked first: "
        "one bad line and nothing is written, and each bad line is reported as FILE:LINE: reason.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="a JSONL file, one record per line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.cli import CliError

    paths = [Path(f) for f in args.files]
    for path in paths:
        if path.is_dir():
            raise CliError(f"{path}: a directory, not a file of lines")
        if not path.is_file():
            raise CliError(f"{path}: no such file")
        if not os.access(path, os.R_OK):
            raise CliError(f"{path}: not readable")
    report = asyncio.run(_import(Settings.from_env(), paths))
    if not report.ok:
        for bad in report.bad_lines:
            print(bad, file=sys.stderr)
        print(f"xinzheng import: {report.summary()}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


async def _import(settings: Settings, paths: list[Path]) -> ImportReport:
    from sqlalchemy.exc import DBAPIError

    from app.cli import CliError
    from app.cli._database import migrated_engine, reason
    from app.certificates.keys import KeyStore
    from app.imports import import_files

    async with migrated_engine(settings) as engine:
        try:
            return await import_files(engine, paths, progress=_progress, keys=KeyStore.for_settings(settings))
        except DBAPIError as e:
            raise CliError(f"the database refused the import, nothing was written: {reason(e)}") from None


def _progress(message: str) -> None:
    print(f"xinzheng import: {message}", file=sys.stderr, flush=True)
