"""Sweeps: every run of a grid, in parallel, resumable, into one results directory.

A sweep directory holds ``shards/`` (one file per finished run, see
:mod:`parley.experiments.shards`), the merged tables ``runs``, ``rounds``, ``agents``,
``moves`` and ``calls`` as Parquet, and ``manifest.json`` (grid, package versions, git
revision, backends and models, cache modes, executor, counts). Restarting a sweep on the
same directory skips the runs whose shard ended well, runs the rest (failed runs are tried
again), and merges every shard again, so nothing is lost or duplicated even after a
``kill -9``. Load the result with :func:`parley.load_results`.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from parley.config import RunConfig, model_of, uses_llm
from parley.experiments import halt
from parley.experiments.executors import EXECUTORS, check_scheduler, run_dask, run_local
from parley.experiments.faults import FaultCounts, count_faults
from parley.experiments.grid import Grid, RunSpec
from parley.experiments.inflight import is_io_bound, live_calls, run_inflight_local
from parley.experiments.manifest import build_manifest
from parley.experiments.merging import merge_to_parquet
from parley.experiments.progress import CallTotals, Progress, money
from parley.experiments.runner import failure_shard
from parley.experiments.shards import (
    SHARD_DIR,
    remove_partial,
    scan,
    shard_dir,
    write_shard,
)
from parley.experiments.storage import MANIFEST, ResultsError, check_writable, write_json
from parley.llm.ratelimit import RateCaps
from parley.validity import MAX_INVALID_SHARE, PLAYED

SWEEP_KINDS = ("sweep", "protocol")
# The calls columns the end-of-sweep fault summary reads back (not the whole table).
FAULT_COLUMNS = ("run_id", "retries", "fault", "valid", "purpose")
LOST = "no result: the process running it died (rerun the sweep to retry)"
_LOCK = ".sweep.lock"


@dataclass
class SweepSummary:
    """What a sweep did: how many runs, finished before, run now, failed, and the outcomes."""

    out_dir: Path
    total: int
    skipped: int
    ran: int
    failed: int
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    faults: FaultCounts = field(default_factory=FaultCounts)
    spend: CallTotals = field(default_factory=CallTotals)
    invalid: int = 0
    halted: str | None = None
    not_started: int = 0

    def text(self) -> str:
        """The one-paragraph summary printed at the end of a sweep."""
        mix = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items())) or "no outcomes"
        invalid = (
            f", {self.invalid} invalid (over {MAX_INVALID_SHARE:.0%} invalid turns; "
            "excluded from the report)"
            if self.invalid
            else ""
        )
        lines = [
            f"{self.total} runs ({self.skipped} already done, {self.ran} run now) in "
            f"{self.seconds:.1f} s: {mix}; {self.failed} failed{invalid} -> {self.out_dir}/"
        ]
        if self.halted:
            lines.append(f"Sweep {self.halted}; {self.not_started} runs not started")
        if self.faults.calls:
            lines.append(self.faults.text())
            t = self.spend
            lines.append(
                f"LLM use: {t.tokens} tokens, {t.rate_limited} answers 429 (rate limit), "
                + money(t.cost_usd, t.unpriced_calls, None)
            )
        lines += [f"  failed {rid}: {reason}" for rid, reason in self.failures[:5]]
        if len(self.failures) > 5:
            lines.append(f"  ... and {len(self.failures) - 5} more (see runs.parquet 'error')")
        return "\n".join(lines)


def check_sweep_dir(out_dir: str | Path) -> Path:
    """The sweep directory to (re)use; raise :class:`ResultsError` if it is something else.

    A missing or empty directory is fine, and so is one a sweep wrote before (also when
    its manifest is corrupt but its shards are there: the manifest is rebuilt from the
    grid and the shards); a file, or a directory holding other things (or a single
    ``parley run``), is refused.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ResultsError(f"{out}: exists and is not a directory")
    check_writable(out)  # a path under a file, or unwritable: one line before any run
    if not out.exists() or not any(out.iterdir()):
        return out
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            kind = json.loads(manifest.read_text()).get("kind")
        except (OSError, json.JSONDecodeError, AttributeError):
            if (out / SHARD_DIR).is_dir():
                return out  # the shards hold every finished run; the manifest is rewritten
            raise ResultsError(
                f"{manifest}: corrupt manifest and no shards/; not a sweep directory "
                "(delete the manifest to reuse the directory)"
            ) from None
        if kind in SWEEP_KINDS:
            return out
        raise ResultsError(f"{out}: holds a '{kind}' result, not a sweep; choose another --out")
    if (out / SHARD_DIR).is_dir():
        return out  # killed before its first manifest write: its shards are still good
    raise ResultsError(f"{out}: not empty and not a parley sweep directory; choose another --out")


@contextmanager
def sweep_lock(out: Path) -> Iterator[None]:
    """One sweep at a time per directory (the OS drops the lock if the process dies)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / _LOCK, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResultsError(f"{out}: another sweep is writing this directory") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_sweep(
    grid: Grid,
    out_dir: str | Path,
    *,
    kind: str = "sweep",
    jobs: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    progress: bool = True,
    concurrency: int = 1,
    rate_caps: RateCaps | None = None,
    max_cost_usd: float | None = None,
) -> SweepSummary:
    """Run every pending run of ``grid`` into ``out_dir`` and merge the results.

    ``concurrency`` runs against OpenAI-compatible servers are kept in flight per process
    on one event loop (see :mod:`parley.experiments.inflight`); ``rate_caps`` are the
    sweep's caps per endpoint, shared out among its processes; ``max_cost_usd`` stops
    starting runs once the billed calls cost that much (local executor).

    Raises :class:`ResultsError` for a directory that is not a sweep's and
    :class:`~parley.experiments.executors.ExecutorError` for an unusable executor; a run
    that fails is recorded, never raised.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor '{executor}' (one of: {', '.join(EXECUTORS)})")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if max_cost_usd is not None and executor == "dask":
        raise ValueError("--max-cost-usd needs the local executor (not --executor dask)")
    caps = rate_caps or RateCaps()
    if executor == "dask":
        if not scheduler:
            raise ValueError("--executor dask needs --scheduler tcp://HOST:PORT")
        check_scheduler(scheduler)
    out = check_sweep_dir(out_dir)
    started = time.perf_counter()
    with sweep_lock(out):
        shards = shard_dir(out)
        shards.mkdir(parents=True, exist_ok=True)
        for stale in out.glob(".*.tmp"):  # a table or manifest a killed merge half-wrote
            stale.unlink(missing_ok=True)
        remove_partial(shards)
        halt.clear(shards)
        runs = grid.runs()
        before = scan(shards)
        done = [r for r in runs if before.get(r.run_id, {}).get("status") in PLAYED]
        pending = [r for r in runs if before.get(r.run_id, {}).get("status") not in PLAYED]
        parameters = dict(
            kind=kind,
            jobs=jobs,
            executor=executor,
            scheduler=scheduler,
            concurrency=concurrency,
            rate_caps=asdict(caps),
            max_cost_usd=max_cost_usd,
        )
        write_manifest(out, grid, runs, status="running", **parameters)
        inflight = executor == "local" and (concurrency > 1 or max_cost_usd is not None)
        io_runs = [r for r in pending if inflight and is_io_bound(r.cell)]
        cpu_runs = [r for r in pending if r not in io_runs]
        live = live_calls() if io_runs and jobs == 1 else None
        bar = Progress(
            len(runs),
            [before[r.run_id] for r in done],
            enabled=progress,
            max_cost_usd=max_cost_usd,
            live=live,
        )
        try:
            if executor == "dask":
                run_dask(pending, shards, scheduler or "", bar, concurrency, caps)
            else:
                run_inflight_local(
                    io_runs,
                    shards,
                    concurrency=concurrency,
                    jobs=jobs,
                    caps=caps,
                    progress=bar,
                    max_cost_usd=max_cost_usd,
                    spent_before=bar.spent_usd,
                )
                run_local(cpu_runs, shards, jobs, bar, caps.split(jobs))
        finally:
            bar.close()
        summary = finish(out, grid, runs, **parameters)
    summary.skipped, summary.ran = len(done), len(pending) - summary.not_started
    summary.seconds = time.perf_counter() - started
    return summary


def finish(out: Path, grid: Grid, runs: list[RunSpec], **parameters: Any) -> SweepSummary:
    """Merge every shard of the directory into the tables and write the final manifest.

    Shards of earlier grids in the same directory are kept (a sweep extended with more
    seeds or conditions); the grid's own runs come first, in grid order.
    """
    shards = shard_dir(out)
    known = scan(shards)
    halted = halt.stop_reason(shards)
    not_started = [r for r in runs if r.run_id not in known] if halted else []
    for r in runs:  # a run with no shard had its worker die under it: record it, never hide it
        if r.run_id not in known and not halted:
            write_shard(shards, r.run_id, failure_shard(r.cell, r.seed, LOST))
            known[r.run_id] = {"status": "failed", "error": LOST}
    order = [r.run_id for r in runs] + sorted(set(known) - {r.run_id for r in runs})
    merge_to_parquet(shards, order, out)  # a batch of runs in memory at a time
    mine = [known[r.run_id] for r in runs if r.run_id in known]
    failed = [
        (r.run_id, known[r.run_id].get("error") or "")
        for r in runs
        if known.get(r.run_id, {}).get("status", "ok") not in PLAYED
    ]
    status = "stopped" if halted else "complete"
    write_manifest(out, grid, runs, status=status, **parameters)
    outcomes = Counter(str(s.get("outcome")) for s in mine if s.get("status") == "ok")
    summary = SweepSummary(out, len(runs), 0, 0, len(failed), outcomes, failed)
    summary.invalid = sum(1 for s in mine if s.get("status") == "invalid")
    summary.halted, summary.not_started = halted, len(not_started)
    for shard_summary in mine:
        summary.spend.add(shard_summary)
    calls = pd.read_parquet(out / "calls.parquet", columns=list(FAULT_COLUMNS))
    if not calls.empty:
        summary.faults = count_faults(calls[calls["run_id"].isin({r.run_id for r in runs})])
    return summary


def write_manifest(out: Path, grid: Grid, runs: list[RunSpec], status: str, **extra: Any) -> None:
    """The sweep's manifest: grid, versions, git revision, LLMs, cache modes, counts."""
    cells = [json.loads(c) for c in grid.cells()]
    with_llm = [c for c in cells if uses_llm(c)]
    llms = sorted({f"{c.get('backend', RunConfig.backend)}/{model_of(c)}" for c in with_llm})
    previous = _read_manifest(out)
    history = previous.get("history", []) if previous else []
    if previous and previous.get("parameters") != grid.to_dict():
        history = [
            *history,
            {"created": previous.get("created"), "grid": previous.get("parameters")},
        ]
    manifest = build_manifest(
        extra.pop("kind", "sweep"),
        grid.to_dict(),
        status=status,
        runs=len(runs),
        cells=len(cells),
        llms=llms,
        cache_modes=sorted({str(c.get("cache", "off")) for c in with_llm}),
        **extra,
        history=history,
    )
    write_json(out / MANIFEST, manifest)


def _read_manifest(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None


__all__ = ["SweepSummary", "check_sweep_dir", "run_sweep"]
