"""``parley check``: probe an LLM endpoint with one real turn per condition before a sweep."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from parley.cli import UserError
from parley.cli.errors import user_errors
from parley.cli.options import add_model_options, model_kwargs

EPILOG = """\
Each probe builds the run exactly as `parley run` would (same request parameters,
condition framing, schema and token budget; the cache off) and asks the first negotiator of
the scenario for its opening turn. A problem is: a refused request (the server's message is
shown), no valid action after the repair, an answer cut off by the token limit, reasoning
under a condition without it, or 'native' with no reasoning. `parley sweep` and `parley
protocol` run the same probe before their first run (skip it with --no-check).

exit codes: 0 every probe fine; 2 a problem (or bad input).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="probe an LLM endpoint: one real turn per condition, a table, exit 2 on a problem",
        description="Send one short real request per condition to the configured LLM "
        "endpoint, through the same decision path a run uses, and print a table: accepted?, "
        "valid action?, reasoning tokens, finish reason, latency, tokens, estimated cost. "
        "Takes the flags of `parley sweep` (lists allowed for --condition and --model).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_options(p, sweep=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cells = check_cells(args)
    with user_errors():
        ok = check_endpoint(cells, quiet=False)
    return 0 if ok else 2


def check_cells(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The parameter sets ``parley check`` probes: every model × condition of the flags."""
    base = model_kwargs(_single(args))
    scenario = (args.scenario or ["grid_curtailment"])[0]
    policies = args.policy or ["llm"]
    if policies != ["llm"]:
        raise UserError("parley check probes LLM negotiators: --policy llm (the default)")
    if base["backend"] == "embedded":
        raise UserError("parley check probes a server: use --backend openai (and --base-url)")
    models = args.model or [base["model"]]
    conditions = args.condition or ["none"]
    return [
        {**base, "scenario": scenario, "policy": "llm", "model": m, "condition": c}
        for m in models
        for c in conditions
    ]


def _single(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with list-valued axes reduced to one value (model_kwargs wants scalars)."""
    single = argparse.Namespace(**vars(args))
    for name in ("scenario", "policy", "condition", "model"):
        value = getattr(args, name)
        setattr(single, name, value[0] if value else None)
    single.policy, single.condition = "llm", single.condition or "none"
    return single


def check_endpoint(cells: Iterable[Mapping[str, Any]], *, quiet: bool = False) -> bool:
    """Probe every distinct configuration of ``cells``; print the table; True if all fine.

    Nothing to probe (rule-based policies, the embedded model, a cache replay) is fine.
    The table goes to stderr, so a sweep's stdout stays its summary.
    """
    from parley.cli.preflight import check_servers
    from parley.experiments.probe import probe, probe_configs, table_text

    configs = probe_configs(cells)
    if not configs:
        return True
    check_servers(configs)  # an unreachable server: one line, before any request
    results = [probe(params) for params in configs]
    ok = all(r.ok for r in results)
    if not ok or not quiet:
        print(table_text(results), file=sys.stderr, flush=True)
    return ok


def preflight_probe(cells: list[Mapping[str, Any]], skip: bool, quiet: bool) -> None:
    """The probe a sweep runs before its first run; raise :class:`UserError` on a problem."""
    if skip:
        return
    if not check_endpoint(cells, quiet=quiet):
        raise UserError(
            "the endpoint check failed (see the table above); fix the configuration, or "
            "skip the check with --no-check"
        )
