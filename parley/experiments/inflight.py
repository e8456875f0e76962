"""Many runs in flight in one process, on one event loop: sweeps bound by an API, not a CPU.

A run against an OpenAI-compatible server spends nearly all its time waiting for answers.
:func:`run_inflight` keeps up to ``concurrency`` such runs going at once as tasks of one
event loop (each run steps with :meth:`~parley.experiments.runner.SweepRun.astep`), so
they share the endpoint's client, connection pool and rate limiter
(:mod:`parley.llm.ratelimit`). Each run still applies its moves in ``unique_id`` order,
so its results are the same as when it runs alone. A run writes its shard when it ends,
as under ``batch_run``; only ``concurrency`` runs are held in memory at a time.

:func:`run_inflight_local` spreads the runs over ``jobs`` spawned processes, each with
its own loop of ``concurrency`` runs and its share of the rate caps and cost budget.
Rule-based and embedded runs do not come here (see :func:`is_io_bound`): they are bound by
this machine's CPU (the embedded model also serializes its calls), so they keep
``batch_run``'s processes.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.config import RunConfig, uses_llm
from parley.experiments import halt
from parley.experiments.grid import RunSpec
from parley.experiments.progress import LiveCalls, Progress, ShardWatcher
from parley.experiments.runner import SweepRun, failure_shard
from parley.experiments.shards import read_summary, write_shard
from parley.llm.ratelimit import RateCaps, all_stats, configure
from parley.llm.wrappers import UsageLLM, find_layer


def is_io_bound(cell: str) -> bool:
    """Whether a run waits on a remote LLM server (``backend="openai"`` with an LLM role)."""
    params = json.loads(cell)
    return uses_llm(params) and params.get("backend", RunConfig.backend) == "openai"


@dataclass
class CostBudget:
    """The sweep's money cap: no run starts once ``spent`` (billed, priced calls) reaches it.

    Runs already in flight finish, so the cap can be passed by what they spend after it.
    """

    max_usd: float
    spent_before: float = 0.0

    def reason(self, spent: float) -> str:
        return (
            f"not run: the sweep's cost budget is spent (${spent:.4f} of ${self.max_usd:.4f}); "
            "rerun with a higher --max-cost-usd to continue"
        )


async def run_inflight(
    pending: Sequence[RunSpec],
    shard_dir: Path,
    concurrency: int,
    on_done: Callable[[Mapping[str, Any]], None],
    budget: CostBudget | None = None,
) -> None:
    """Run ``pending`` with up to ``concurrency`` runs in flight on the running loop."""
    queue = list(reversed(pending))
    live: set[SweepRun] = set()
    finished_cost = 0.0

    def spent() -> float:
        running = 0.0
        for run in live:
            usage = find_layer(getattr(run.negotiation, "llm", None), UsageLLM)
            running += usage.totals.cost_usd if usage is not None else 0.0
        return (budget.spent_before if budget else 0.0) + finished_cost + running

    async def worker() -> None:
        nonlocal finished_cost
        while queue:
            spec = queue.pop()
            if halt.stop_reason(shard_dir):  # configuration faults in a row: no new run
                continue  # (no shard: a rerun of the sweep runs it)
            if budget is not None and spent() >= budget.max_usd:
                path = write_shard(
                    shard_dir,
                    spec.run_id,
                    failure_shard(spec.cell, spec.seed, budget.reason(spent())),
                )
                on_done(read_summary(path) or {"status": "failed"})
                continue
            # Pending runs have no good shard; the shard is written off the loop (an fsync
            # would stall every run in flight).
            run = SweepRun(cell=spec.cell, shard_dir="", rng=spec.seed)
            live.add(run)
            try:
                while run.running:
                    await run.astep()
                if run.shard is not None:
                    await asyncio.to_thread(write_shard, shard_dir, run.run_id, run.shard)
            finally:
                live.discard(run)
            summary = shard_summary(run)
            if run.shard is not None:
                halt.noted(shard_dir, summary)
            finished_cost += float(summary.get("cost_usd") or 0.0)
            on_done(summary)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(pending))))))


def shard_summary(run: SweepRun) -> dict[str, Any]:
    """The summary a finished run packed into its shard."""
    if run.shard is not None:
        summary = json.loads(run.shard).get("summary")
        if isinstance(summary, dict):
            return summary
    return {"status": run.status, "outcome": run.outcome}


def live_calls() -> Callable[[], LiveCalls]:
    """A reader of this process's calls through its rate limiters, counted from now."""

    def total() -> LiveCalls:
        stats = all_stats().values()
        return LiveCalls(
            inflight=sum(s.inflight for s in stats),
            done=sum(s.succeeded + s.failed for s in stats),
            tokens=sum(s.tokens for s in stats),
            rate_limited=sum(s.rate_limited for s in stats),
        )

    base = total()

    def read() -> LiveCalls:
        now = total()
        return LiveCalls(
            inflight=now.inflight,
            done=now.done - base.done,
            tokens=now.tokens - base.tokens,
            rate_limited=now.rate_limited - base.rate_limited,
        )

    return read


def run_inflight_local(
    pending: Sequence[RunSpec],
    shard_dir: Path,
    *,
    concurrency: int,
    jobs: int,
    caps: RateCaps,
    progress: Progress,
    max_cost_usd: float | None = None,
    spent_before: float = 0.0,
) -> None:
    """Run ``pending`` in this process (``jobs == 1``) or spread over ``jobs`` processes."""
    if not pending:
        return
    if jobs <= 1 or len(pending) == 1:
        configure(caps)
        budget = None if max_cost_usd is None else CostBudget(max_cost_usd, spent_before)
        asyncio.run(run_inflight(pending, shard_dir, concurrency, progress.add, budget))
        return
    share = caps.split(jobs)
    cost_share = None if max_cost_usd is None else max(0.0, max_cost_usd - spent_before) / jobs
    chunks = [list(pending[i::jobs]) for i in range(jobs) if pending[i::jobs]]
    context = multiprocessing.get_context("spawn")
    with (
        ShardWatcher(shard_dir, [r.run_id for r in pending], progress),
        ProcessPoolExecutor(len(chunks), mp_context=context) as pool,
    ):
        futures = [
            pool.submit(_worker_chunk, chunk, str(shard_dir), concurrency, share, cost_share)
            for chunk in chunks
        ]
        for future in futures:
            future.result()


def _worker_chunk(
    chunk: list[RunSpec],
    shard_dir: str,
    concurrency: int,
    caps: RateCaps,
    max_cost_usd: float | None,
) -> None:
    """A worker process's share of the runs (progress is read from the shards it writes)."""
    configure(caps)
    budget = None if max_cost_usd is None else CostBudget(max_cost_usd)
    asyncio.run(run_inflight(chunk, Path(shard_dir), concurrency, lambda _s: None, budget))


def run_inflight_shards(
    specs: list[tuple[str, int]], concurrency: int, rate_caps: str
) -> list[tuple[str, bytes]]:
    """A Dask worker's batch: run ``specs`` (cell, seed) concurrently, return their shards."""
    configure(RateCaps.from_json(rate_caps))
    runs = [SweepRun(cell=cell, shard_dir="", rng=seed) for cell, seed in specs]

    async def one(run: SweepRun, gate: asyncio.Semaphore) -> None:
        async with gate:
            while run.running:
                await run.astep()

    async def all_runs() -> None:
        gate = asyncio.Semaphore(concurrency)
        await asyncio.gather(*(one(r, gate) for r in runs))

    asyncio.run(all_runs())
    return [(r.run_id, r.shard) for r in runs if r.shard is not None]
