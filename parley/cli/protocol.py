"""``parley protocol``: the paper's protocol in one command, then its report.

3 built-in scenarios x the 6 reflection conditions x 15 seeds for one policy (and, for
``--policy llm``, one backend and model), run as a resumable sweep into ``--out``, then
``parley report`` on it. The rule-based baselines (``--policy heuristic`` / ``solver``)
need no LLM and finish in seconds.
"""

from __future__ import annotations

import argparse
from typing import Any

from parley.cli import UserError
from parley.cli.errors import user_errors
from parley.cli.options import add_model_options
from parley.cli.report import add_report_options, report
from parley.cli.sweep import EXECUTOR_HELP, add_sweep_options, build_grid_from_args, execute


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "protocol",
        help="run the paper's protocol (3 scenarios x 6 conditions x 15 seeds) and report",
        description="Run the solver-sampler protocol for one policy/model: every built-in "
        "scenario under every reflection condition with 15 seeds, then write the "
        "sampler-qualification report into the same directory. --scenario, --condition and "
        "--seeds narrow it. Example: parley protocol --policy heuristic --out results/heuristic",
        epilog=EXECUTOR_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_options(p, sweep=True)
    add_sweep_options(p)
    add_report_options(p)
    p.set_defaults(func=run, default_of=p.get_default)


def run(args: argparse.Namespace) -> int:
    from parley.agents.factory import CONDITIONS
    from parley.scenarios import builtin_names

    if args.policy is not None and len(args.policy) > 1:
        raise UserError("the protocol runs one policy; use `parley sweep` to compare several")
    if args.model is not None and len(args.model) > 1:
        raise UserError("the protocol runs one model; use `parley sweep` to compare several")
    args.grid = None
    with user_errors():
        defaults = {
            "scenario": builtin_names(),
            "condition": list(CONDITIONS),
            "policy": ["llm"],
        }
        grid = build_grid_from_args(args, defaults)
        check_only_this_grid(args.out, grid)
        summary = execute(args, grid, kind="protocol")
        if summary.halted:  # stopped by configuration faults: no report of a partial grid
            return 2
        report(args.out, args.format, args.reference)
    return 0


def check_only_this_grid(out_dir: str, grid: Any) -> None:
    """Refuse an ``--out`` holding runs outside ``grid`` (an earlier, different sweep).

    A sweep directory keeps every shard it ever got, and the report reads them all: the
    protocol's report would mix the old grid's runs in. Resuming the same grid is fine.
    """
    from parley.experiments.shards import scan, shard_dir

    ours = {r.run_id for r in grid.runs()}
    other = [rid for rid in scan(shard_dir(out_dir)) if rid not in ours]
    if other:
        raise UserError(
            f"{out_dir}: holds {len(other)} runs of another grid, which the protocol's report "
            "would mix in; choose another --out (or rerun that grid there)"
        )
