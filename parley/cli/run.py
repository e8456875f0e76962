"""``parley run``: one negotiation, printed round by round; ``--out`` saves its tables."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from parley.cli import UserError
from parley.cli.errors import user_errors
from parley.cli.options import add_model_options, run_config, seed_int
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
    from parley.experiments.storage import check_out_dir, write_results
    from parley.model.model import NegotiationModel
    from parley.transcript import header, outcome_text, reasoning_note, round_text

    config = run_config(args)
    check_servers([config.kwargs()])
    with user_errors():
        if args.out:  # checked before the run, not after it: a finished run is never lost
            check_out_dir(args.out, "run")
        model = NegotiationModel(config, rng=args.seed)
        if not args.quiet:
            print(header(model), end="\n\n", flush=True)
        progress = TurnProgress(model) if model.llm is not None else None
        while model.running:
            if progress is not None:
                progress.start_round()
            model.step()
            if not args.quiet:
                print(round_text(model, private=args.private), end="\n\n", flush=True)
        print(outcome_text(model))
        note = reasoning_note(model)
        if note is not None:
            print(note, file=sys.stderr)
        if args.out:
            profile = getattr(model.llm, "profile", None)  # the provider profile used
            manifest = build_manifest(
                "run", {**config.to_manifest(), "rng": args.seed}, profile=profile
            )
            path = write_results(args.out, run_frames(model), manifest)
            print(
                f"Wrote {path}/ (runs, rounds, agents, moves, calls .parquet + manifest.json)",
                file=sys.stderr,
            )
    return 0


class TurnProgress:
    """Per-turn progress on stderr while LLM negotiators decide (a turn can take seconds)."""

    def __init__(self, model: Any) -> None:
        self.n = len(model.negotiators)
        self.done = 0
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        model.on_turn = self.turn

    def start_round(self) -> None:
        self.done, self.started = 0, time.monotonic()

    def turn(self, model: Any, party: str, decision: Any) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        flag = "" if decision.valid else " (invalid → hold)"
        line = (
            f"  round {model.round}: {self.done}/{self.n} decided · {party} "
            f"{decision.action.describe()}{flag} · {elapsed:.1f} s"
        )
        if self.tty:
            end = "\n" if self.done == self.n else ""
            print(f"\r\033[K{line}", end=end, file=sys.stderr, flush=True)
            if self.done == self.n:
                print("\033[1A\r\033[K", end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


__all__ = ["UserError", "register", "run"]
