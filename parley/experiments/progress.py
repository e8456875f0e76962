"""The sweep's progress bar: runs done, ETA, outcomes, LLM calls and money (tqdm, on stderr).

Runs report through their shards, so the bar is fed either by a :class:`ShardWatcher`
that polls the shard directory (local processes under ``batch_run``, which offers no
per-run callback) or directly as results arrive (Dask futures).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from parley.experiments.shards import SUFFIX, read_summary


def outcome_label(summary: Mapping[str, Any]) -> str:
    """``compromise``, ``authority``, ``invalid`` or ``failed``: the counts beside the bar."""
    if summary.get("status") != "ok":
        return "invalid" if summary.get("status") == "invalid" else "failed"
    return (
        "authority"
        if summary.get("outcome") == "authority_decision"
        else str(summary.get("outcome"))
    )


@dataclass
class CallTotals:
    """LLM calls of finished runs, summed from their shard summaries."""

    calls: int = 0
    tokens: int = 0
    retries: int = 0
    rate_limited: int = 0
    cost_usd: float = 0.0  # billed calls with a price
    unpriced_calls: int = 0  # billed calls without a price: cost unknown, never zero

    def add(self, summary: Mapping[str, Any]) -> None:
        self.calls += int(summary.get("calls") or 0)
        self.tokens += int(summary.get("tokens") or 0)
        self.retries += int(summary.get("retries") or 0)
        self.rate_limited += int(summary.get("rate_limited") or 0)
        self.cost_usd += float(summary.get("cost_usd") or 0.0)
        self.unpriced_calls += int(summary.get("unpriced_calls") or 0)


@dataclass(frozen=True)
class LiveCalls:
    """Calls of runs still going, from the process's rate limiters (in-process runs only)."""

    inflight: int
    done: int  # attempts answered (retries included)
    tokens: int
    rate_limited: int


def money(spent: float, unpriced: int, cap: float | None) -> str:
    """``$0.0123 of $5.00`` (or ``$0.0123 spent``), and how many calls have no price."""
    text = f"${spent:.4f} of ${cap:.2f}" if cap is not None else f"${spent:.4f} spent"
    return text + (f" + {unpriced} calls unpriced (cost unknown)" if unpriced else "")


class Progress:
    """A tqdm bar over all runs of the grid; runs finished before a restart start it off.

    Beside the outcome counts it answers "how long and how much": runs done and failed,
    the ETA (tqdm's, from the runs' pace), LLM calls in flight (``live``), calls and tokens
    per second, retries and 429s, and the money spent against ``max_cost_usd``.
    """

    def __init__(
        self,
        total: int,
        finished: Iterable[Mapping[str, Any]],
        enabled: bool,
        *,
        max_cost_usd: float | None = None,
        live: Callable[[], LiveCalls] | None = None,
    ) -> None:
        before = list(finished)
        self.counts: Counter[str] = Counter(outcome_label(s) for s in before)
        self.new: Counter[str] = Counter()
        self.before = CallTotals()
        for summary in before:
            self.before.add(summary)
        self.now = CallTotals()  # runs finished in this session
        self.max_cost_usd = max_cost_usd
        self.live = live
        self.started = time.monotonic()
        self._lock = threading.Lock()
        # disable=None: tqdm shows the bar only on a terminal, so logs and pipes stay clean.
        self.bar = tqdm(
            total=total,
            initial=len(before),
            unit="run",
            desc="sweep",
            dynamic_ncols=True,
            disable=None if enabled else True,
        )
        self.bar.set_postfix_str(self._postfix(), refresh=False)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if live is not None and not self.bar.disable:
            self._ticker = threading.Thread(target=self._tick, name="parley-progress", daemon=True)
            self._ticker.start()

    @property
    def spent_usd(self) -> float:
        return self.before.cost_usd + self.now.cost_usd

    def add(self, summary: Mapping[str, Any]) -> None:
        """Count one finished run."""
        label = outcome_label(summary)
        with self._lock:
            self.counts[label] += 1
            self.new[label] += 1
            self.now.add(summary)
            self.bar.update(1)
            self.bar.set_postfix_str(self._postfix(), refresh=False)

    def status(self) -> str:
        """The figures beside the bar, as one line."""
        with self._lock:
            return self._postfix()

    def _postfix(self) -> str:
        runs = " ".join(f"{k}={self.counts[k]}" for k in sorted(self.counts))
        elapsed = max(time.monotonic() - self.started, 1e-9)
        live = self.live() if self.live is not None else None
        if live is not None:
            calls, tokens, limited = live.done, live.tokens, live.rate_limited
            flight = f"{live.inflight} in flight, "
        else:
            calls, tokens, limited = self.now.calls, self.now.tokens, self.now.rate_limited
            flight = ""
        total_calls = self.before.calls + self.now.calls
        if not total_calls and live is None:
            return runs
        unpriced = self.before.unpriced_calls + self.now.unpriced_calls
        return (
            f"{runs} | {flight}{calls / elapsed:.1f} calls/s, {tokens / elapsed:.0f} tok/s, "
            f"{self.before.retries + self.now.retries} retries, {limited} x 429 | "
            + money(self.spent_usd, unpriced, self.max_cost_usd)
        )

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                self.bar.set_postfix_str(self._postfix())

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        self.bar.close()


class ShardWatcher:
    """Polls a shard directory in a thread and feeds new shards of ``run_ids`` to progress.

    A failed run being retried already has a shard: it counts only once the file changes.
    """

    def __init__(self, directory: Path, run_ids: Iterable[str], progress: Progress) -> None:
        self.directory, self.progress = directory, progress
        self.waiting = set(run_ids)
        self.stale = {rid: _mtime(directory / f"{rid}{SUFFIX}") for rid in self.waiting}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="parley-shard-watcher", daemon=True)

    def __enter__(self) -> ShardWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # the last shards written before the executor returned

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self.poll()

    def poll(self) -> None:
        for rid in sorted(self.waiting):
            path = self.directory / f"{rid}{SUFFIX}"
            mtime = _mtime(path)
            if mtime is None or mtime == self.stale[rid]:
                continue
            summary = read_summary(path)
            if summary is not None:
                self.waiting.discard(rid)
                self.progress.add(summary)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
