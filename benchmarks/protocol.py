"""Protocol benchmark: the full protocol (3 scenarios x 6 conditions x 15 seeds = 270 runs)
with the rule-based ``heuristic`` policy, serial versus ``--jobs 2``.

Each configuration runs ``parley protocol --policy heuristic --jobs J`` end to end in a
fresh process (start-up, the batch_run sweep, merging the shards, and the report with its
figures) in a fresh output directory. Reported per configuration: the command's wall time,
the sweep's own time (from its summary line), and peak memory two ways: the largest single
process (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``, measured in a wrapper process
per configuration so it covers that configuration only, workers included) and the largest
sum of resident memory over the command's whole process tree (sampled every 50 ms with
psutil, which dask[distributed] brings). Target: at most 30 s wall with 2 jobs.

Usage::

    .venv/bin/python benchmarks/protocol.py [--jobs 1 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 30.0


def measure(jobs: int) -> dict[str, float]:
    """Run the protocol once with ``jobs`` processes (called inside a wrapper process)."""
    with tempfile.TemporaryDirectory(prefix="parley-protocol-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "parley",
            "protocol",
            "--policy",
            "heuristic",
            "--jobs",
            str(jobs),
            "--quiet",
            "--out",
            str(Path(tmp) / "out"),
        ]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        tree_peak = sample_tree(proc)
        stdout, stderr = proc.communicate()
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"protocol failed ({proc.returncode}): {stderr.strip()}")
    sweep = re.search(r"270 runs \(.*?\) in ([0-9.]+) s", stdout)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return {
        "jobs": jobs,
        "wall_s": wall,
        "sweep_s": float(sweep.group(1)) if sweep else -1.0,
        "peak_mib": peak_kib / 1024,
        "tree_mib": tree_peak / 2**20,
    }


def sample_tree(proc: subprocess.Popen) -> float:
    """The largest total RSS (bytes) of ``proc`` and its descendants until it exits."""
    try:
        import psutil
    except ImportError:
        proc.wait()
        return float("nan")
    root, peak = psutil.Process(proc.pid), 0.0
    while proc.poll() is None:
        total = 0
        try:
            for p in [root, *root.children(recursive=True)]:
                total += p.memory_info().rss
        except psutil.Error:  # a worker exited between listing and reading
            pass
        peak = max(peak, total)
        time.sleep(0.05)
    return peak


def in_wrapper(jobs: int) -> dict[str, float]:
    """:func:`measure` in a fresh wrapper process, so its peak memory is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(jobs)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration (best kept)")
    parser.add_argument("--measure", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return
    print(
        f"parley protocol benchmark · heuristic · 3 scenarios x 6 conditions x 15 seeds = 270 "
        f"runs · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'jobs':>4}  {'wall s':>7}  {'sweep s':>7}  {'largest process MiB':>19}  "
        f"{'process tree MiB':>16}"
    )
    results = {}
    for jobs in args.jobs:
        best = min((in_wrapper(jobs) for _ in range(args.repeat)), key=lambda r: r["wall_s"])
        results[jobs] = best
        print(
            f"{jobs:>4}  {best['wall_s']:>7.1f}  {best['sweep_s']:>7.1f}  "
            f"{best['peak_mib']:>19.0f}  {best['tree_mib']:>16.0f}",
            flush=True,
        )
    if 2 in results:
        verdict = "met" if results[2]["wall_s"] <= TARGET_S else "NOT met"
        print(f"target: <= {TARGET_S:g} s wall with 2 jobs: {verdict}")


if __name__ == "__main__":
    main()
