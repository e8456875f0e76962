"""The ``parley`` command line: one subcommand per module in this package.

User errors (a bad flag value, a malformed scenario, an unreachable server) print one
line naming the problem and exit with code 2; nothing finished is lost.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Subcommand modules, each with `register(subparsers)`; their parsers set `func`.
COMMANDS = ("run", "scenarios", "check", "sweep", "protocol", "report", "app", "model")


class UserError(Exception):
    """A problem with what the user asked for; reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (and exit code 2)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from parley import __version__

    parser = Parser(
        prog="parley",
        description="A Mesa laboratory where LLM negotiators bargain under reflection "
        "conditions: sampler or solver?",
    )
    parser.add_argument("--version", action="version", version=f"parley {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"parley.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"parley.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"parley {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `parley run | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"parley {args.command}: interrupted; finished work is on disk", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
