"""``parley scenarios``: list the built-in scenarios, or check scenario files."""

from __future__ import annotations

import argparse

from parley.cli import UserError
from parley.scenarios import ScenarioError, builtin_names, load_scenario


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scenarios",
        help="list built-in scenarios or validate scenario files",
        description="List the built-in scenarios with a one-line description, or validate "
        "scenario YAML files with --check (one clear line per error, exit code 2).",
    )
    p.add_argument("--check", nargs="+", metavar="FILE", help="validate these scenario files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.check:
        for path in args.check:
            try:
                s = load_scenario(path)
            except ScenarioError as err:
                raise UserError(str(err)) from None
            rule = s.authority.rule
            print(f"ok  {path}: {s.name} ({len(s.parties)} parties, authority rule {rule})")
        return 0
    names = builtin_names()
    width = max(map(len, names))
    for name in names:
        s = load_scenario(name)
        print(f"{name:<{width}}  {s.description}")
    return 0
