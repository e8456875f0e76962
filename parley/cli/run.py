"""``parley run``: one negotiation, printed round by round; ``--out`` saves its tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from parley.cli import UserError
from parley.cli.errors import user_errors
from parley.cli.options import add_model_options, model_kwargs, seed_int
from parley.cli.preflight import check_servers


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run one negotiation and print its transcript",
        description="Run one negotiation and print a round-by-round transcript: who did what, "
        "positions, coalitions, the authority's intervention and the outcome. With no flags "
        "it runs the embedded offline LLM on grid_curtailment.",
    )
    add_model_options(p)
    p.add_argument(
        "--seed", type=seed_int, default=0, help="seed of the run (default: %(default)s)"
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="write the DataCollector frames, moves and calls as Parquet plus a "
        "manifest.json into DIR",
    )
    p.add_argument(
        "--private",
        action="store_true",
        help="also print each negotiator's private ledger/memo/reasoning",
    )
    p.add_argument("--quiet", action="store_true", help="print only the outcome")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from parley.experiments.manifest import build_manifest
    from parley.experiments.records import run_frames
    from parley.experiments.storage import write_results
    from parley.model.model import NegotiationModel
    from parley.transcript import header, outcome_text, round_text

    kwargs = model_kwargs(args)
    check_servers([kwargs])
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        # Checked before the run, not after it: a finished (maybe costly) run is never lost.
        raise UserError(f"{args.out}: exists and is not a directory")
    with user_errors():
        model = NegotiationModel(**kwargs, rng=args.seed)
        if not args.quiet:
            print(header(model), end="\n\n", flush=True)
        while model.running:
            model.step()
            if not args.quiet:
                print(round_text(model, private=args.private), end="\n\n", flush=True)
        print(outcome_text(model))
        if args.out:
            manifest = build_manifest("run", {**kwargs, "rng": args.seed})
            path = write_results(args.out, run_frames(model), manifest)
            print(
                f"Wrote {path}/ (runs, rounds, agents, moves, calls .parquet + manifest.json)",
                file=sys.stderr,
            )
    return 0


__all__ = ["UserError", "register", "run"]
