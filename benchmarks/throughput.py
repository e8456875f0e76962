"""Issue 12 benchmark: a sweep at the provider's limit, not at this machine's cores.

Against the fake OpenAI-compatible server in its own process (``python -m
parley.llm.fake_server``) with latency L (default 1 s), each case the protocol's sweep
(3 scenarios x 6 conditions x 15 seeds = 270 runs, ``--policy llm --backend openai``)
as ``parley sweep`` in a child process, side by side:

(a) server capped at 64 concurrent requests, ``--concurrency 64 --max-inflight 64`` (the
    client told the server's cap, as one sets it from a provider's documented limit):
    target wall <= 1.25 x (calls x L / 64); the speed-up over ``--jobs 2`` (today's way,
    one run per process at a time) is printed — measured on the first ``--baseline-runs``
    runs of the same grid and extrapolated linearly (``--jobs 2`` is linear in runs);
(b) the same server limited to 600 requests per minute, the sweep with ``--rpm 600``:
    target wall <= 1.15 x (calls / 600 per minute), under 1% of calls answered 429;
(c) peak RSS of the sweep process for 270 and 1,080 runs (15 and 60 seeds), which must
    not grow with the number of runs (measured at latency ``--rss-latency``: memory does
    not depend on it, wall time does).

``--scale S`` runs S x the seeds in (a) and (b) (e.g. 0.2: 3 seeds, 54 runs) and says so.
Run it niced on a shared machine:

    nice -n 10 .venv/bin/python benchmarks/throughput.py [--latency 1] [--scale 1]
        [--skip-rpm] [--baseline-runs 36]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from parley.agents.factory import CONDITIONS
from parley.scenarios import builtin_names

PARLEY = [str(Path(sys.executable).with_name("parley"))]  # the installed entry point


@contextlib.contextmanager
def serve(*flags: str) -> Iterator[str]:
    """The fake server in its own process with ``flags``; yields its base URL."""
    # a Qwen3 served by vLLM: it thinks unless `enable_thinking` is off, as the conditions ask
    command = [sys.executable, "-m", "parley.llm.fake_server", "--emulate", "vllm", *flags]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().strip()  # type: ignore[union-attr]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Sweep:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    runs: int
    failed: int
    calls: int
    rate_limited: int

    @property
    def limited_share(self) -> float:
        return self.rate_limited / max(1, self.calls + self.rate_limited)


def protocol(url: str, out: Path, seeds: int | list[int], *flags: str) -> Sweep:
    """The protocol's grid as ``parley sweep`` in a child process: wall, peak RSS, calls.

    (``parley protocol`` is the same sweep followed by its report, which is not measured.)
    """
    seed_flags = (
        ["--seeds", str(seeds)]
        if isinstance(seeds, int)
        else ["--seed-list", *(str(s) for s in seeds)]
    )
    argv = [
        *PARLEY, "sweep", "--scenario", *builtin_names(), "--condition", *CONDITIONS,
        "--policy", "llm", "--backend", "openai", "--model", "qwen3-8b", "--server", "vllm",
        "--base-url", url, "--api-key-env", "PARLEY_BENCH_UNSET_KEY", "--timeout", "120",
        "--max-retries", "5", "--no-check", *seed_flags, "--out", str(out), "--quiet", *flags,
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed ({proc.returncode}): {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
    runs = pd.read_parquet(out / "runs.parquet")
    calls = pd.read_parquet(out / "calls.parquet")
    limited = int(calls["rate_limited"].fillna(0).sum()) if "rate_limited" in calls else 0
    return Sweep(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # kB on Linux
        runs=len(runs),
        failed=int((runs["status"] != "ok").sum()),
        calls=len(calls),
        rate_limited=limited,
    )


def line(label: str, s: Sweep) -> str:
    return (
        f"  {label:<34} {s.wall_s:8.1f} s  {s.runs:5d} runs ({s.failed} failed)  "
        f"{s.calls:6d} calls  {s.calls / s.wall_s:6.1f} calls/s  CPU {s.cpu_s:6.1f} s  "
        f"RSS {s.peak_rss_mb:4.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="L in seconds (default 1)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 15 seeds")
    parser.add_argument("--baseline-runs", type=int, default=36, help="runs timed at --jobs 2")
    parser.add_argument("--rss-latency", type=float, default=0.05, help="L of the RSS case")
    parser.add_argument("--cases", default="abc", help="which cases to run (default: abc)")
    args = parser.parse_args()
    seeds = max(1, round(15 * args.scale))
    runs = 3 * 6 * seeds
    scaled = "" if seeds == 15 else f" (SCALED: {seeds} of 15 seeds)"
    L = args.latency
    print(f"parley throughput benchmark · fake server latency L = {L:g} s{scaled}")
    with tempfile.TemporaryDirectory(prefix="parley-throughput-") as tmp:
        root = Path(tmp)
        if "a" in args.cases:
            case_a(args, seeds, runs, root)
        if "b" in args.cases:
            case_b(seeds, runs, L, root)
        if "c" in args.cases:
            case_c(args.rss_latency, root)


def case_a(args: argparse.Namespace, seeds: int, runs: int, root: Path) -> None:
    L = args.latency
    with serve("--latency", str(L), "--max-concurrent", "64") as url:
        print(f"(a) {runs} runs, server capped at 64 concurrent requests")
        a = protocol(url, root / "a", seeds, "--concurrency", "64", "--max-inflight", "64")
        print(line("--concurrency 64 --max-inflight 64", a))
        bound = 1.25 * a.calls * L / 64
        verdict = "met" if a.wall_s <= bound else "NOT met"
        print(f"  target wall <= 1.25 x calls x L / 64 = {bound:.1f} s: {verdict}")
        # today's way: one run per process at a time, on 2 processes
        base_seeds = max(1, args.baseline_runs // 18)
        b = protocol(url, root / "b", base_seeds, "--jobs", "2")
        per_run = b.wall_s / b.runs
        print(line("--jobs 2 (baseline sample)", b))
        print(
            f"  --jobs 2 extrapolated to {runs} runs: {per_run * runs:.1f} s; "
            f"speed-up of --concurrency 64: {per_run * runs / a.wall_s:.1f}x"
        )


def case_b(seeds: int, runs: int, L: float, root: Path) -> None:
    with serve("--latency", str(L), "--max-concurrent", "64", "--rpm", "600") as url:
        print(f"(b) {runs} runs, server limited to 600 requests per minute")
        r = protocol(
            url, root / "r", seeds, "--concurrency", "64", "--max-inflight", "64",
            "--rpm", "600",
        )  # fmt: skip
        print(line("... --rpm 600", r))
        bound = 1.15 * r.calls / 600 * 60
        verdict = "met" if r.wall_s <= bound else "NOT met"
        share = r.limited_share
        print(
            f"  target wall <= 1.15 x calls / (600/min) = {bound:.1f} s: {verdict}; "
            f"429s: {r.rate_limited} = {share:.2%} of attempts "
            f"({'met' if share < 0.01 else 'NOT met'}: < 1%)"
        )


def case_c(R: float, root: Path) -> None:
    with serve("--latency", str(R), "--max-concurrent", "64") as url:
        print(f"(c) peak RSS of the sweep process, L = {R:g} s, --concurrency 64")
        flags = ("--concurrency", "64", "--max-inflight", "64")
        small = protocol(url, root / "s", 15, *flags)
        print(line("270 runs", small))
        big = protocol(url, root / "l", 60, *flags)
        print(line("1,080 runs", big))
        growth = big.peak_rss_mb / small.peak_rss_mb
        print(f"  RSS 1,080 / 270 runs: {growth:.2f}x (flat means memory is bounded)")


if __name__ == "__main__":
    main()
