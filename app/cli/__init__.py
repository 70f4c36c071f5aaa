"""The `xinzheng` console script: it parses arguments and calls functions, nothing more.

One module per command; each has `register(subparsers)` and sets `func` to a function that
takes the parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.cli import audit, importer, keys, migrate, score, seed, serve, token
from app.config import ConfigError

COMMANDS = [serve, migrate, seed, importer, token, audit, score, keys]


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xinzheng", description="Xinzheng (信证) credit and certificate service")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except (CliError, ConfigError) as e:
        print(f"xinzheng {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # one line, never a traceback, for an operator at a terminal
        print(f"xinzheng {args.command}: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
