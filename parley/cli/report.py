"""``parley report``: the sampler-qualification report of a results directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from parley.cli import UserError
from parley.cli.errors import user_errors


def add_report_options(p: argparse.ArgumentParser) -> None:
    """Format and reference condition (shared by report and protocol)."""
    from parley.agents.factory import CONDITIONS

    g = p.add_argument_group("report")
    g.add_argument(
        "--format",
        choices=("md", "html"),
        default="md",
        help="report.md (with PNG figures beside it) or one self-contained report.html "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--reference",
        default="bounded",
        metavar="CONDITION|DIR",
        help=f"a condition ({', '.join(CONDITIONS)}) every other condition is compared with "
        "(default: %(default)s); or a results directory, or a folder of them, such as runs "
        "with human seats: adds a fidelity section per model against those reference runs "
        "(outcome mix, action distributions, concession arcs, rounds, final values)",
    )


def split_reference(reference: str) -> tuple[str, str | None]:
    """(reference condition, reference runs directory or None) of a ``--reference`` value.

    Raises :class:`UserError` for a value that is neither a condition nor a directory.
    """
    from parley.agents.factory import CONDITIONS

    if reference in CONDITIONS:
        return reference, None
    if Path(reference).is_dir():
        return "bounded", reference
    raise UserError(
        f"--reference '{reference}' is neither a condition ({', '.join(CONDITIONS)}) nor a "
        "directory of reference runs"
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write the sampler-qualification report of a sweep or protocol",
        description="Write the sampler-qualification report of RESULTS_DIR: per model, the "
        "cells (scenario x condition) with compromise and authority rates (Wilson intervals), "
        "trigger mix, action entropy, concession arcs, diversity, invalid turns, tokens and "
        "cost; the flags raised; Fisher exact comparisons against a reference condition; and "
        "figures (PNG). With --reference DIR (e.g. runs played with human seats) it adds a "
        "fidelity section: how far each cell is from those reference runs. Prints the "
        "headline table.",
    )
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="a parley sweep/protocol directory")
    p.add_argument(
        "--out", metavar="DIR", default=None, help="write the report here (default: RESULTS_DIR)"
    )
    add_report_options(p)
    p.set_defaults(func=run)


def report(results_dir: str, fmt: str, reference: str, out: str | None = None) -> None:
    """Write the report and print its headline table (stdout) and path (stderr)."""
    from parley.experiments.report import write_report

    condition, runs_dir = split_reference(reference)
    written = write_report(
        results_dir, fmt=fmt, reference=condition, out_dir=out, reference_runs=runs_dir
    )
    print(written.headline, flush=True)
    print(f"Wrote {written.path} ({len(written.figures)} figures)", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    with user_errors():
        report(args.results_dir, args.format, args.reference, args.out)
    return 0
