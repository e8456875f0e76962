"""The sweep's progress bar: runs done, ETA, and live counts of outcomes (tqdm, on stderr).

Runs report through their shards, so the bar is fed either by a :class:`ShardWatcher`
that polls the shard directory (local processes under ``batch_run``, which offers no
per-run callback) or directly as results arrive (Dask futures).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
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


class Progress:
    """A tqdm bar over all runs of the grid; runs finished before a restart start it off."""

    def __init__(self, total: int, finished: Iterable[Mapping[str, Any]], enabled: bool) -> None:
        before = list(finished)
        self.counts: Counter[str] = Counter(outcome_label(s) for s in before)
        self.new: Counter[str] = Counter()
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

    def add(self, summary: Mapping[str, Any]) -> None:
        """Count one finished run."""
        label = outcome_label(summary)
        with self._lock:
            self.counts[label] += 1
            self.new[label] += 1
            self.bar.update(1)
            self.bar.set_postfix_str(self._postfix(), refresh=False)

    def _postfix(self) -> str:
        return " ".join(f"{k}={self.counts[k]}" for k in sorted(self.counts))

    def close(self) -> None:
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
