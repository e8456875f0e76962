"""Executors: where a sweep's pending runs run.

``local`` (default): Mesa's ``batch_run`` on ``jobs`` spawned processes of this machine.
Each process builds :class:`~parley.experiments.runner.SweepRun` models from the plain,
picklable parameters (a cell's JSON and a seed) and writes one shard per finished run.

``dask``: the same runs on an existing Dask distributed cluster. Start one with::

    dask scheduler --host 127.0.0.1 --port 8786          # on the scheduler machine
    dask worker tcp://127.0.0.1:8786 --nworkers 2 --nthreads 1   # on each worker machine

then ``parley sweep ... --executor dask --scheduler tcp://127.0.0.1:8786``. Workers need
the same parley installed (and any custom scenario file at the same absolute path, and
the LLM endpoint reachable from them); they return each run's shard to this process, which
writes it, so workers need not share a filesystem with it. Resume works the same way.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from parley.experiments import halt
from parley.experiments.grid import RunSpec
from parley.experiments.inflight import is_io_bound, run_inflight_shards
from parley.experiments.progress import Progress, ShardWatcher
from parley.experiments.runner import SweepRun, failure_shard, run_shard
from parley.experiments.shards import read_summary, write_shard
from parley.llm.ratelimit import RateCaps

EXECUTORS = ("local", "dask")
# batch_run stops a model after max_steps steps; a negotiation ends long before.
_MAX_STEPS = 100_000


class ExecutorError(ValueError):
    """The executor cannot start (e.g. an unreachable Dask scheduler)."""


def run_local(
    pending: Sequence[RunSpec],
    shard_dir: Path,
    jobs: int,
    progress: Progress,
    rate_caps: RateCaps | None = None,
) -> list[dict[str, Any]]:
    """Run ``pending`` with Mesa's ``batch_run`` on ``jobs`` processes; one row per run.

    ``batch_run`` runs a Cartesian product of parameters and seeds (``rng=[...]``); the
    product of the pending cells and pending seeds may include runs already finished, which
    :class:`SweepRun` skips at once from their shards.
    """
    from mesa.batchrunner import batch_run

    if not pending:
        return []
    cells = list(dict.fromkeys(r.cell for r in pending))
    seeds = list(dict.fromkeys(r.seed for r in pending))
    parameters: dict[str, Any] = {"cell": cells, "shard_dir": str(shard_dir)}
    if rate_caps is not None and rate_caps != RateCaps():
        parameters["rate_caps"] = rate_caps.to_json()  # each process's share
    with ShardWatcher(shard_dir, [r.run_id for r in pending], progress):
        rows = batch_run(
            SweepRun,
            parameters=parameters,
            number_processes=jobs,
            rng=seeds,
            max_steps=_MAX_STEPS,
            data_collection_period=-1,
            display_progress=False,
        )
    # Rows would repeat per agent if SweepRun had agent reporters: one per run, to be sure.
    return list({row["RunId"]: row for row in rows}.values())


def check_scheduler(address: str, timeout: float = 5.0) -> None:
    """Fail fast, in one line, if nothing listens at a ``tcp://HOST:PORT`` scheduler address."""
    if not address.startswith("tcp://"):
        raise ExecutorError(f"scheduler address must look like tcp://HOST:PORT, got '{address}'")
    host, _, port = address.removeprefix("tcp://").rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"scheduler address must look like tcp://HOST:PORT, got '{address}'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ExecutorError(f"cannot reach the Dask scheduler at {address} ({reason})") from None


def run_dask(
    pending: Sequence[RunSpec],
    shard_dir: Path,
    scheduler: str,
    progress: Progress,
    concurrency: int = 1,
    rate_caps: RateCaps | None = None,
) -> None:
    """Run ``pending`` on the Dask cluster at ``scheduler``; write shards as they arrive.

    With ``concurrency > 1`` runs against OpenAI-compatible servers go in batches of
    ``concurrency``, each batch in flight at once on one worker; ``rate_caps`` are shared
    out among the cluster's worker processes.
    """
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ExecutorError(
            "--executor dask needs dask[distributed]: pip install 'parley[dask]'"
        ) from None
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise ExecutorError(f"cannot reach the Dask scheduler at {scheduler} ({err})") from None
    with client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        caps = (rate_caps or RateCaps()).split(workers).to_json()
        batched = [r for r in pending if concurrency > 1 and is_io_bound(r.cell)]
        single = [r for r in pending if r not in batched]
        futures: dict[Any, list[RunSpec]] = {
            client.submit(
                run_shard, r.cell, r.seed, caps, pure=False, key=f"parley-run-{r.run_id}"
            ): [r]
            for r in single
        }
        for start in range(0, len(batched), concurrency):
            batch = batched[start : start + concurrency]
            specs = [(r.cell, r.seed) for r in batch]
            key = f"parley-batch-{batch[0].run_id}-{len(batch)}"
            future = client.submit(
                run_inflight_shards, specs, concurrency, caps, pure=False, key=key
            )
            futures[future] = batch
        for future in as_completed(futures):
            specs_of = futures[future]
            try:
                result = future.result()
                answers = [result] if isinstance(result, tuple) else result
            except Exception as err:  # a worker died under the run (e.g. KilledWorker)
                reason = f"{type(err).__name__}: {err}".splitlines()[0]
                answers = [(s.run_id, failure_shard(s.cell, s.seed, reason)) for s in specs_of]
            stop = False
            for rid, data in answers:
                path = write_shard(shard_dir, rid, data)
                summary = read_summary(path) or {"status": "failed"}
                progress.add(summary)
                stop = stop or halt.noted(shard_dir, summary) is not None
            if stop:  # configuration faults in a row: the sweep stops
                client.cancel(list(futures))
                break
