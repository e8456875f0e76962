"""One run of a sweep, as Mesa's ``batch_run`` (or a Dask worker) drives it.

:class:`SweepRun` is a small Mesa model around a :class:`NegotiationModel`: ``batch_run``
calls ``SweepRun(cell=..., shard_dir=..., rng=seed)`` in a spawned process and steps it
until it stops; each step is one negotiation round. When the negotiation ends, or fails, it
packs the run's tables into a shard (see :mod:`parley.experiments.shards`) and, given a
``shard_dir``, writes it there. It never raises: a failure (a server down for good, a run
``stopped`` by a budget cap) is recorded as a failed run with its reason, so one bad run
cannot abort a sweep. Its own DataCollector has model reporters only (``run_id``,
``status``, ``outcome``, ...), so ``batch_run`` returns one row per run.
"""

from __future__ import annotations

import json
import time
from typing import Any

import mesa
import pandas as pd

from parley.config import NO_LLM, RunConfig, model_of, uses_llm
from parley.experiments.grid import run_id as make_run_id
from parley.experiments.halt import config_fault, failure_reason, noted, stop_reason
from parley.experiments.records import Columns, run_columns
from parley.experiments.shards import is_finished, pack, write_shard
from parley.llm.ratelimit import RateCaps, configure
from parley.model.model import NegotiationModel

REPORTERS = {
    "run_id": "run_id",
    "status": "status",
    "outcome": "outcome",
    "trigger": "trigger",
    "rounds": "rounds",
    "error": "error",
}


class SweepRun(mesa.Model):
    """A sweep's run: builds its negotiation from plain parameters, records it as a shard.

    Args:
        cell: the run's NegotiationModel parameters as a JSON object string.
        shard_dir: directory to write the shard into ('' keeps it in ``self.shard`` only).
            A run whose shard there already ended well is skipped (a resumed sweep).
        rng: the run's seed, passed on to the NegotiationModel unchanged.
        rate_caps: this process's :class:`~parley.llm.ratelimit.RateCaps` as JSON ('' keeps
            the process's); they shape the timing of LLM calls, never the results.
    """

    def __init__(
        self, cell: str = "{}", shard_dir: str = "", rng: int | None = None, rate_caps: str = ""
    ) -> None:
        super().__init__(rng=rng)
        if rate_caps:  # this process's share of the sweep's rate caps (timing only)
            configure(RateCaps.from_json(rate_caps))
        self.cell, self.seed, self.shard_dir = cell, rng, shard_dir
        self.run_id = make_run_id(cell, 0 if rng is None else int(rng))
        self.status: str = "pending"
        self.error: str | None = None
        self.outcome: str | None = None
        self.trigger: str | None = None
        self.rounds: int | None = None
        self.shard: bytes | None = None
        self.negotiation: NegotiationModel | None = None
        self._started = time.perf_counter()
        self.datacollector = mesa.DataCollector(model_reporters=REPORTERS)
        if shard_dir and is_finished(shard_dir, self.run_id):
            self.status, self.running = "skipped", False
        elif stop_reason(shard_dir):  # the sweep stopped (configuration faults): not run now,
            self.status, self.running = "skipped", False  # no shard, so a rerun runs it
        else:
            try:
                self.negotiation = NegotiationModel(**json.loads(cell), rng=rng)
            except Exception as err:  # recorded as a failed run, never raised
                self.finish(err)
        self.datacollector.collect(self)

    def step(self) -> None:
        """One negotiation round; finish (and write the shard) when the negotiation ends."""
        if self.negotiation is None or not self.running:
            return
        try:
            self.negotiation.step()
        except Exception as err:  # a bug or a backend that raises: the run fails, not the sweep
            self.finish(err)
        else:
            self.after_round()
        if not self.running:
            self.datacollector.collect(self)

    async def astep(self) -> None:
        """:meth:`step` on the caller's event loop (runs sharing one loop, see ``inflight``)."""
        if self.negotiation is None or not self.running:
            return
        try:
            await self.negotiation.astep()
        except Exception as err:  # a bug or a backend that raises: the run fails, not the sweep
            self.finish(err)
        else:
            self.after_round()
        if not self.running:
            self.datacollector.collect(self)

    def after_round(self) -> None:
        """Finish the run if its negotiation ended or an LLM call failed for good."""
        assert self.negotiation is not None
        lost = lost_call(self.negotiation)
        if lost is not None or not self.negotiation.running:
            self.finish(None, lost)

    def finish(self, err: BaseException | None, lost: str | None = None) -> None:
        """Record the run's outcome or failure, pack the shard and write it if asked.

        ``lost`` is the reason an LLM call failed for good (see :func:`lost_call`).
        """
        if self.negotiation is not None:
            self.negotiation.loop.close()  # a failed or cut-short run still owns its loop
        tables = self._tables()
        row = {k: v[0] for k, v in tables["runs"].items()}
        self.outcome, self.trigger = _plain(row.get("outcome")), _plain(row.get("trigger"))
        rounds = _plain(row.get("rounds"))
        self.rounds = None if rounds is None else int(rounds)
        outcome = self.negotiation.outcome if self.negotiation is not None else None
        fault = config_fault(err)
        if err is not None:
            self.status, self.error = "failed", failure_reason(err)
        elif lost is not None:
            self.status, self.error = "failed", lost
        elif outcome is None or outcome.kind == "stopped":
            reason = outcome.reason if outcome is not None else None
            self.status, self.error = "failed", f"stopped: {reason or 'no outcome'}"
        else:  # ended: the validity screen decides whether it counts (ok or invalid)
            self.status, self.error = row.get("status") or "ok", _plain(row.get("error"))
        extra = {
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error,
            "fault": fault,
            "duration_s": round(time.perf_counter() - self._started, 4),
        }
        tables["runs"].update({k: [v] for k, v in extra.items()})
        tables = {name: _with_run_id(cols, self.run_id) for name, cols in tables.items()}
        summary = {k: _plain(v) for k, v in {**extra, "outcome": self.outcome}.items()}
        summary.update(call_totals(tables.get("calls")))
        self.shard = pack(tables, summary)
        if self.shard_dir:
            write_shard(self.shard_dir, self.run_id, self.shard)
            noted(self.shard_dir, summary)
        self.running = False

    def _tables(self) -> dict[str, Columns]:
        """The negotiation's tables, or a bare runs row if it could not even be built."""
        if self.negotiation is not None:
            try:
                return run_columns(self.negotiation)
            except Exception:  # a run that died mid-round may leave a table inconsistent
                pass
        return {"runs": {k: [v] for k, v in bare_run_row(self.cell, self.seed).items()}}


def lost_call(model: NegotiationModel) -> str | None:
    """Why an LLM call of this run failed for good (after retries), or None.

    The LLM policy turns such a turn into an invalid ``hold`` so a single run carries on;
    in a sweep that run no longer measures the model (a server down for good would make
    every run a deadlock), so it is stopped and recorded as failed, to be rerun on resume.
    """
    calls = model.datacollector.tables["calls"]
    for fault, error in zip(calls["fault"], calls["error"], strict=True):
        if fault:
            return f"LLM call failed for good ({fault}): {error}"
    return None


def call_totals(calls: Columns | None) -> dict[str, Any]:
    """A run's LLM calls in numbers, for the shard summary (progress reads them).

    ``cost_usd`` sums the billed calls that have a price; billed calls without one are
    counted in ``unpriced_calls`` (their cost is unknown, never zero).
    """
    if not calls or not calls.get("fault"):
        return {}
    rows = list(zip(calls["cached"], calls["fault"], calls["cost_usd"], strict=True))
    billed = [cost for cached, fault, cost in rows if not _plain(cached) and _plain(fault) is None]
    return {
        "calls": len(rows),
        "tokens": int(sum(_plain(t) or 0 for t in calls["total_tokens"])),
        "retries": int(sum(_plain(r) or 0 for r in calls["retries"])),
        "rate_limited": int(sum(_plain(r) or 0 for r in calls.get("rate_limited", []))),
        "cost_usd": float(sum(_plain(c) or 0.0 for c in billed)),
        "unpriced_calls": sum(_plain(c) is None for c in billed),
    }


def bare_run_row(cell: str, seed: int | None) -> dict[str, Any]:
    """The runs row of a run that has no negotiation to report (it could not be built)."""
    params = json.loads(cell)
    llm = uses_llm(params)
    return {
        "scenario": params.get("scenario"),
        "policy": params.get("policy", RunConfig.policy),
        "condition": params.get("condition", RunConfig.condition),
        "backend": params.get("backend", RunConfig.backend) if llm else NO_LLM,
        "model": model_of(params) if llm else NO_LLM,
        "seed": seed,
        "outcome": None,
        "trigger": None,
        "rounds": None,
    }


def failure_shard(cell: str, seed: int, reason: str) -> bytes:
    """A failed run's shard built where the run could not report itself (a dead worker)."""
    rid = make_run_id(cell, seed)
    extra = {"run_id": rid, "status": "failed", "error": reason, "duration_s": None}
    runs = {k: [v] for k, v in {**bare_run_row(cell, seed), **extra}.items()}
    return pack({"runs": _with_run_id(runs, rid)}, {**extra, "outcome": None})


def _with_run_id(cols: Columns, run_id: str) -> Columns:
    n = len(next(iter(cols.values()), []))
    return {"run_id": [run_id] * n, **{k: v for k, v in cols.items() if k != "run_id"}}


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar (pandas/numpy missing values become None)."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value


def run_shard(cell: str, seed: int, rate_caps: str = "") -> tuple[str, bytes]:
    """Run one sweep run to its end in this process and return ``(run_id, shard bytes)``.

    The unit of work of remote executors (Dask workers), which may not share the sweep's
    filesystem: the client writes the returned shard.
    """
    run = SweepRun(cell=cell, shard_dir="", rng=seed, rate_caps=rate_caps)
    while run.running:
        run.step()
    if run.shard is None:  # finish() always packs one; this guards a future refactor
        raise RuntimeError(f"run {run.run_id} ended without a shard")
    return run.run_id, run.shard
