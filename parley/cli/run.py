"""``parley run``: one negotiation, printed round by round; ``--out`` saves its tables."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from parley.cli import UserError
from parley.cli.errors import user_errors
from parley.cli.options import add_model_options, positive_float, run_config, seed_int
from parley.cli.preflight import check_servers
from parley.validity import MAX_INVALID_SHARE

#: Exit code of a run that finished but failed the validity screen (see parley.validity).
EXIT_INVALID = 3
EXIT_HELP = f"""\
exit codes:
  0  the run ended in an outcome (a compromise or an authority decision)
  2  bad input, or a configuration fault of the LLM server (a refused request, a rejected
     key, no quota, an unknown model, a reply cut off by the token limit): one line with the
     server's own message; with --out, the rounds played so far are written (status=failed)
  {EXIT_INVALID}  the run finished but is invalid: more than {MAX_INVALID_SHARE:.0%} of its turns
     were invalid (after their repair), or reasoned under a condition without reasoning,
     so its ending is an artifact, not an outcome
     ("Invalid run: ..." instead of "Outcome: ..."; with --out, runs.parquet has
     status=invalid and the reason)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run one negotiation and print its transcript",
        description="Run one negotiation and print a round-by-round transcript: who did what, "
        "positions, coalitions, the authority's intervention and the outcome. With no flags "
        "it runs the embedded offline LLM on grid_curtailment. --seat PARTY=human lets you "
        "play a party yourself: you see its private brief, then at each turn the table and "
        "the last rounds, and type a move (e.g. 'propose 55 We can meet here'); moves can be "
        "piped on stdin, and the end of input stops the run (exit 2; --out keeps what was "
        "played).",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    p.add_argument(
        "--human-time-limit",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="seconds a human seat has for each move; when they run out the move is a "
        "recorded hold (default: no limit)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from parley.agents.seating import humans
    from parley.cli.seat import TerminalSeats
    from parley.experiments.halt import failure_reason
    from parley.experiments.storage import check_out_dir
    from parley.llm.interface import CONFIG_FAULTS, LLMError
    from parley.model.model import NegotiationModel
    from parley.transcript import header, outcome_text, reasoning_note, round_text
    from parley.validity import screen_run

    config = run_config(args)
    check_servers([config.kwargs()])
    with user_errors():
        if args.out:  # checked before the run, not after it: a finished run is never lost
            check_out_dir(args.out, "run")
        seats = TerminalSeats() if humans(config.seats) else None
        model = NegotiationModel(config, rng=args.seed, human=seats)
        if not args.quiet:
            print(header(model), end="\n\n", flush=True)
        progress = TurnProgress(model) if model.llm is not None else None
        try:
            while model.running:
                if progress is not None:
                    progress.start_round()
                model.step()
                if not args.quiet:
                    print(round_text(model, private=args.private), end="\n\n", flush=True)
        except LLMError as err:
            if err.fault not in CONFIG_FAULTS:
                raise
            reason = failure_reason(err)  # "configuration fault (kind): the server's message"
            if args.out:  # what was played (and paid for) stays on disk
                save(args.out, model, failure=reason, fault=err.fault)
            raise UserError(reason) from None
        tables = model.datacollector.tables
        screen = screen_run(tables["moves"], tables["calls"])
        print(outcome_text(model) if screen.valid else invalid_text(model, screen.reason))
        note = reasoning_note(model)
        if note is not None:
            print(note, file=sys.stderr)
        if args.out:
            save(args.out, model)
        if seats is not None and seats.queue.closed and _stopped(model):
            kept = f"; what was played is in {args.out}" if args.out else ""
            raise UserError(
                f"end of input: the human seat left after {model.round} rounds, the run is "
                f"stopped{kept}"
            )
    return 0 if screen.valid else EXIT_INVALID


def invalid_text(model: Any, reason: str | None) -> str:
    """The line printed instead of ``Outcome: ...`` for a run the validity screen rejects."""
    out = model.outcome
    ended = (
        f"; it ended in {out.kind.replace('_', ' ')} after {out.round} round(s), which is an "
        "artifact of those turns, not an outcome"
        if out is not None
        else ""
    )
    return f"Invalid run: {reason}{ended}."


def save(out_dir: str, model: Any, failure: str | None = None, fault: str | None = None) -> None:
    """Write the run's tables (status and reason in ``runs``) and its manifest."""
    from parley.experiments.saving import save_run

    path = save_run(out_dir, model, failure=failure, fault=fault)
    print(
        f"Wrote {path}/ (runs, rounds, agents, moves, calls .parquet + manifest.json)",
        file=sys.stderr,
    )


def _stopped(model: Any) -> bool:
    return model.outcome is not None and model.outcome.kind == "stopped"


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
