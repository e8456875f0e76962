"""Issue 7 benchmark: what a faulty LLM server costs a sweep, side by side with a clean one.

The same sweep — ``--runs`` seeds of one scenario, ``policy="llm"`` and the LLM authority
on the ``openai`` backend — runs twice through the loopback fake server: once clean, once
with :class:`parley.llm.fake_replies.FaultPlan` failing about ``--rate`` of all attempts
in every way the server knows (429 with and without Retry-After, 500, 503, reset, a hang
past the timeout, an empty body, truncated JSON, wrong shape, an action outside the
grammar, a value out of range, reasoning without content). It prints runs completed,
faults injected, faults recorded and recovered, retries, and the extra wall time.

    .venv/bin/python benchmarks/faults.py [--runs 15] [--rate 0.3] [--timeout 0.5]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from parley.experiments.faults import FaultCounts, count_faults
from parley.experiments.grid import build_grid
from parley.experiments.sweep import run_sweep
from parley.llm.fake_replies import FaultPlan
from parley.llm.fake_server import FakeOpenAIServer


@dataclass
class Result:
    """One sweep's figures."""

    seconds: float
    runs_ok: int
    runs: pd.DataFrame
    requests: int
    counts: FaultCounts
    injected: Counter[str]


def sweep(args: argparse.Namespace, plan: FaultPlan | None, out: Path) -> Result:
    """Run the benchmark's sweep against a fresh fake server (faulty if ``plan``)."""
    with FakeOpenAIServer(latency_s=args.latency, hang_s=60.0, plan=plan) as server:
        fixed = {
            "policy": "llm",
            "authority": "llm",
            "backend": "openai",
            "model": "fake-model",
            "base_url": server.base_url,
            "api_key_env": "PARLEY_BENCH_NO_KEY",
            "timeout": args.timeout,
            "max_rounds": args.rounds,
        }
        grid = build_grid({"scenario": [args.scenario]}, fixed, list(range(args.runs)))
        start = time.perf_counter()
        run_sweep(grid, out, progress=False)
        seconds = time.perf_counter() - start
        requests = len(server.requests)
    runs = pd.read_parquet(out / "runs.parquet")
    calls = pd.read_parquet(out / "calls.parquet")
    injected = plan.injected if plan is not None else Counter()
    ok = int((runs["status"] == "ok").sum())
    return Result(seconds, ok, runs, requests, count_faults(calls), injected)


def table(clean: Result, faulty: Result, runs: int) -> list[str]:
    """The side-by-side table."""
    rows = [
        ("runs completed", f"{clean.runs_ok}/{runs}", f"{faulty.runs_ok}/{runs}"),
        ("LLM calls (recorded)", clean.counts.calls, faulty.counts.calls),
        ("HTTP requests", clean.requests, faulty.requests),
        ("faults injected", sum(clean.injected.values()), sum(faulty.injected.values())),
        ("faults recorded (calls table)", clean.counts.faults, faulty.counts.faults),
        ("  retried (429/5xx/reset/hang/empty)", clean.counts.retries, faulty.counts.retries),
        ("  invalid answers", clean.counts.invalid, faulty.counts.invalid),
        (
            "  failed for good",
            sum(clean.counts.failed.values()),
            sum(faulty.counts.failed.values()),
        ),
        ("recovered by a retry", clean.counts.retries_recovered, faulty.counts.retries_recovered),
        ("recovered by the repair", clean.counts.repaired, faulty.counts.repaired),
        ("turns lost (invalid -> hold)", invalid_turns(clean), invalid_turns(faulty)),
        ("wall time, s", f"{clean.seconds:.1f}", f"{faulty.seconds:.1f}"),
    ]
    lines = [f"{'':38} {'clean':>8} {'faulty':>8}"]
    lines += [f"{name:38} {a!s:>8} {b!s:>8}" for name, a, b in rows]
    return lines


def invalid_turns(result: Result) -> int:
    """Negotiator turns that ended as an invalid ``hold`` (no valid answer after the repair)."""
    return int(result.runs["invalid_turns"].sum())


def same_outcomes(clean: pd.DataFrame, faulty: pd.DataFrame) -> int:
    """Runs (by seed) with the same outcome, trigger and value in both sweeps."""
    cols = ["seed", "outcome", "trigger", "final_value"]
    merged = clean[cols].merge(faulty[cols], on="seed", suffixes=("", "_f"))
    same = [
        (r.outcome, r.trigger, r.final_value) == (r.outcome_f, r.trigger_f, r.final_value_f)
        for r in merged.itertuples()
    ]
    return sum(same)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--rate", type=float, default=0.3, help="share of attempts that fail")
    p.add_argument("--timeout", type=float, default=0.5, help="seconds per request")
    p.add_argument("--latency", type=float, default=0.02, help="the server's answer time")
    p.add_argument("--rounds", type=int, default=4, help="max rounds of a run")
    p.add_argument("--scenario", default="grid_curtailment")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault plan")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clean = sweep(args, None, Path(tmp) / "clean")
        plan = FaultPlan(rate=args.rate, seed=args.seed)
        faulty = sweep(args, plan, Path(tmp) / "faulty")
    load = os.getloadavg()[0]
    print(
        f"parley faults benchmark · {args.runs} runs of {args.scenario}, max {args.rounds} "
        f"rounds, LLM policy + LLM authority · fault rate {args.rate:.0%}, timeout "
        f"{args.timeout:g} s, latency {args.latency * 1000:g} ms · Python "
        f"{platform.python_version()} · load {load:.1f}"
    )
    print("\n".join(table(clean, faulty, args.runs)))
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(faulty.injected.items()))
    print(f"faults injected by kind: {kinds}")
    share = sum(faulty.injected.values()) / max(1, faulty.requests)
    extra = faulty.seconds - clean.seconds
    per = extra / max(1, sum(faulty.injected.values()))
    print(
        f"share of attempts that failed: {share:.0%}; extra wall time: {extra:+.1f} s "
        f"({faulty.seconds / clean.seconds:.1f}x, {per * 1000:.0f} ms per fault); "
        f"same outcome as the clean run: {same_outcomes(clean.runs, faulty.runs)}/{args.runs}"
    )


if __name__ == "__main__":
    main()
