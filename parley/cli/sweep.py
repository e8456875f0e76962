"""``parley sweep``: a grid of runs on Mesa's batch_run (or a Dask cluster), resumable."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from parley.cli import UserError
from parley.cli.check import preflight_probe
from parley.cli.errors import user_errors
from parley.cli.options import (
    add_model_options,
    default_model,
    model_kwargs,
    positive_float,
    positive_int,
    seed_count,
    seed_int,
)
from parley.cli.preflight import check_caches, check_conditions, check_servers
from parley.experiments.grid import MAX_SEEDS

if TYPE_CHECKING:
    from parley.experiments.grid import Grid
    from parley.experiments.sweep import SweepSummary

AXES = ("scenario", "condition", "policy", "model")
EXECUTOR_HELP = """\
executors:
  local   Mesa's batch_run on --jobs spawned processes of this machine (default).
  dask    an existing Dask distributed cluster. Start one with
            dask scheduler --host 127.0.0.1 --port 8786
            dask worker tcp://127.0.0.1:8786 --nworkers 2 --nthreads 1
          (workers need parley installed; they send each run back to this process,
          so they need not share its disk) and pass --scheduler tcp://127.0.0.1:8786.

throughput: a sweep against a hosted API is bound by the provider's rate limits, not this
machine's cores. --concurrency 64 keeps 64 runs in flight in one process; --rpm/--tpm/
--max-inflight keep under the account's limits (shared out among --jobs processes; with
--executor dask, among the cluster's workers), and the limiter also slows down when the
server answers 429 (Retry-After) or reports a budget the calls in flight will spend
(x-ratelimit-* headers). The progress bar shows calls in flight, calls/s, tokens/s,
retries, 429s, ETA and cost.

resuming: run the same command again on the same --out to finish an interrupted sweep;
finished runs are skipped, failed ones are tried again. Load results in Python with
parley.load_results(DIR).
"""


def add_sweep_options(p: argparse.ArgumentParser) -> None:
    """Seeds, parallelism, executor and output flags (shared by sweep and protocol)."""
    g = p.add_argument_group("sweep")
    seeds = g.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds",
        type=seed_count,
        default=None,
        metavar="N",
        help=f"run seeds 0..N-1 in every cell, N at most {MAX_SEEDS} (default: 15, as in the "
        "paper)",
    )
    seeds.add_argument(
        "--seed-list",
        type=seed_int,
        nargs="+",
        default=None,
        metavar="SEED",
        help="run exactly these seeds in every cell",
    )
    g.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="parallel processes of the local executor (default: %(default)s)",
    )
    g.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="where runs run (default: %(default)s; see below)",
    )
    g.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="the Dask scheduler's address (with --executor dask)",
    )
    g.add_argument(
        "--concurrency",
        type=positive_int,
        default=1,
        metavar="N",
        help="runs in flight at once per process against an OpenAI-compatible server, on "
        "one event loop sharing one client and rate limiter (default: %(default)s; "
        "rule-based and embedded runs are not affected)",
    )
    g.add_argument("--out", required=True, metavar="DIR", help="results directory (resumable)")
    g = p.add_argument_group("rate limits and cost (per endpoint, for the whole sweep)")
    g.add_argument(
        "--max-inflight",
        type=positive_int,
        default=None,
        metavar="N",
        help="LLM requests in flight at once (default: no cap)",
    )
    g.add_argument(
        "--rpm",
        type=positive_float,
        default=None,
        metavar="N",
        help="requests per minute (default: no cap); requests are spaced evenly",
    )
    g.add_argument(
        "--tpm",
        type=positive_float,
        default=None,
        metavar="N",
        help="tokens per minute, counted as providers do: prompt + max output (default: no cap)",
    )
    g.add_argument(
        "--max-cost-usd",
        type=positive_float,
        default=None,
        metavar="USD",
        help="start no more runs once the billed calls cost this much (the model needs a "
        "price in the price table)",
    )
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument(
        "--no-check",
        action="store_true",
        help="skip the endpoint probe (`parley check`) run before the first run when "
        "LLM negotiators call a server",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a grid of negotiations (scenarios x conditions x models x seeds)",
        description="Run every combination of the given scenarios, conditions, policies and "
        "models over seeds, in parallel, into a resumable results directory (Parquet tables "
        "runs, rounds, agents, moves, calls + manifest.json). Lists come from the flags or from "
        "a YAML grid file (--grid).",
        epilog=EXECUTOR_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_options(p, sweep=True)
    p.add_argument(
        "--grid",
        metavar="FILE",
        default=None,
        help="YAML grid: NegotiationModel parameters (a list is an axis) plus 'seeds'",
    )
    add_sweep_options(p)
    p.set_defaults(func=run, default_of=p.get_default)


def build_grid_from_args(args: argparse.Namespace, defaults: dict[str, list[Any]]) -> Grid:
    """The grid of ``args`` (flags and/or ``--grid`` file); ``defaults`` fills missing axes.

    A single-valued flag left at its default yields to the grid file; set in both, it is
    an error (so is a list flag also given in the file).
    """
    from parley.experiments.grid import build_grid, load_grid_file, seed_list

    axes: dict[str, list[Any]] = {}
    fixed: dict[str, Any] = {}
    seeds: Any = None
    if getattr(args, "grid", None):
        axes, fixed, seeds = load_grid_file(args.grid)
    for name in AXES:
        values = getattr(args, name)
        if values is None:
            continue
        if name in axes or name in fixed:
            raise UserError(f"--{name} is also set in {args.grid}; set it in one place")
        axes[name] = list(dict.fromkeys(values))
    # Every single-valued model flag (keys are the flags' dest names).
    flags = {k: v for k, v in model_kwargs(args).items() if k not in AXES}
    for key, value in flags.items():
        if key in axes or key in fixed:
            if value != args.default_of(key):
                raise UserError(f"--{key.replace('_', '-')} is also set in {args.grid}")
            continue
        fixed[key] = value
    for name, values in defaults.items():
        if name not in axes and name not in fixed:
            axes[name] = values
    if "model" not in axes and "model" not in fixed:
        if "backend" in axes:
            raise UserError(f"{args.grid}: a grid over backends needs its 'model' list too")
        fixed["model"] = default_model(fixed["backend"])
    if args.seed_list is not None or args.seeds is not None:
        if seeds is not None:
            raise UserError(f"seeds are set both in {args.grid} and by a flag")
        seeds = args.seed_list if args.seed_list is not None else args.seeds
    return build_grid(axes, fixed, seed_list(seeds))


def execute(args: argparse.Namespace, grid: Grid, kind: str) -> SweepSummary:
    """Run ``grid`` as the flags say; print the summary; return it."""
    from parley.experiments.sweep import run_sweep
    from parley.llm.ratelimit import RateCaps

    if args.executor == "dask" and not args.scheduler:
        raise UserError("--executor dask needs --scheduler tcp://HOST:PORT")
    if args.scheduler and args.executor != "dask":
        raise UserError("--scheduler is only used with --executor dask")
    if args.max_cost_usd is not None and args.executor == "dask":
        raise UserError("--max-cost-usd needs the local executor (not --executor dask)")
    cells = [json.loads(cell) for cell in grid.cells()]
    if args.max_cost_usd is not None:
        check_priced(cells)
    check_conditions(cells)  # before any run starts
    check_servers(cells)
    check_caches(cells)
    preflight_probe(cells, skip=args.no_check, quiet=args.quiet)
    summary = run_sweep(
        grid,
        args.out,
        kind=kind,
        jobs=args.jobs,
        executor=args.executor,
        scheduler=args.scheduler,
        progress=not args.quiet,
        concurrency=args.concurrency,
        rate_caps=RateCaps(args.max_inflight, args.rpm, args.tpm),
        max_cost_usd=args.max_cost_usd,
    )
    print(summary.text(), flush=True)
    return summary


def check_priced(cells: list[dict[str, Any]]) -> None:
    """A cost cap needs a price for every billed model: an unpriced one is not free."""
    from parley.experiments.inflight import is_io_bound
    from parley.llm.pricing import load_prices

    prices = load_prices()
    for cell in cells:
        model = str(cell.get("model"))
        if is_io_bound(json.dumps(cell)) and prices.price(model) is None:
            raise UserError(
                f"--max-cost-usd: model '{model}' has no price in parley/llm/pricing.toml, so "
                "its cost is unknown; add its price there or drop the cap"
            )


def run(args: argparse.Namespace) -> int:
    from parley.scenarios import builtin_names

    with user_errors():
        defaults = {"scenario": builtin_names(), "condition": ["none"], "policy": ["llm"]}
        grid = build_grid_from_args(args, defaults)
        summary = execute(args, grid, kind="sweep")
    return 2 if summary.halted else 0
