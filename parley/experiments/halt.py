"""When a sweep stops early: configuration faults in a row mean no run of it can succeed.

A configuration fault (:data:`~parley.llm.interface.CONFIG_FAULTS`: a refused request, a
rejected key, no quota, an unknown model...) fails its run at once. One such run is a
failed run like any other; :data:`MAX_CONFIG_FAULTS` of them in a row, the grid is burning
money or time on a server that will refuse every run, so the sweep stops: the run that
trips the limit writes a stop file into the shard directory, runs not yet started see it
and do not start (they leave no shard, so a rerun of the sweep runs them), and the sweep's
summary says why it stopped. Finished shards stay. The next sweep on the directory clears
the stop file before it starts.

"In a row" is in the order shards were written: the last :data:`MAX_CONFIG_FAULTS` shards
of the directory all record a configuration fault (a run that played, valid or not, breaks
the streak). This works whatever runs the runs — processes, threads, a Dask cluster — since
every shard passes through the directory.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from parley.experiments.shards import SUFFIX, read_summary
from parley.llm.interface import CONFIG_FAULTS

#: Consecutive configuration faults after which a sweep stops.
MAX_CONFIG_FAULTS = 3
STOP_FILE = ".halt"


def config_fault(err: BaseException | None) -> str | None:
    """The configuration fault ``err`` is (its ``fault`` name), or None for anything else."""
    fault = getattr(err, "fault", None)
    return str(fault) if fault in CONFIG_FAULTS else None


def failure_reason(err: BaseException) -> str:
    """One line for a run that failed with ``err``; a configuration fault says so first."""
    fault = config_fault(err)
    text = str(err).splitlines()[0] if str(err) else ""
    if fault is not None:
        return f"configuration fault ({fault}): {text}"
    return f"{type(err).__name__}: {text}"


def stop_reason(shard_dir: str | Path) -> str | None:
    """Why the sweep writing ``shard_dir`` stopped, or None while it may go on."""
    if not shard_dir:
        return None
    try:
        return (Path(shard_dir) / STOP_FILE).read_text().strip() or "stopped"
    except OSError:
        return None


def clear(shard_dir: str | Path) -> None:
    """Remove the stop file (a new sweep starts afresh on the same directory)."""
    root = Path(shard_dir)
    for stale in root.glob(f"{STOP_FILE}.*.tmp"):  # a writer killed mid-write
        stale.unlink(missing_ok=True)
    (root / STOP_FILE).unlink(missing_ok=True)


def check(shard_dir: str | Path, limit: int = MAX_CONFIG_FAULTS) -> str | None:
    """Stop the sweep if the last ``limit`` shards written all record a configuration fault.

    Call it after writing a shard whose run failed with a configuration fault. Returns the
    stop reason when the sweep stops (the stop file is written), else None.
    """
    root = Path(shard_dir)
    shards = sorted(root.glob(f"*{SUFFIX}"), key=_mtime)[-limit:]
    if len(shards) < limit:
        return None
    summaries = [read_summary(p) or {} for p in shards]
    if not all(s.get("fault") for s in summaries):
        return None
    last = summaries[-1].get("error") or "configuration fault"
    reason = (
        f"stopped after {limit} consecutive configuration faults (last: {last}); "
        "fix the configuration and run the same command again to resume"
    )
    tmp = root / f"{STOP_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"  # one per writer
    tmp.write_text(reason + "\n")
    tmp.replace(root / STOP_FILE)
    return reason


def noted(shard_dir: str | Path, summary: dict[str, Any]) -> str | None:
    """:func:`check` after a shard with ``summary`` was written (a no-op unless it faulted)."""
    if not shard_dir or not summary.get("fault"):
        return None
    return check(shard_dir)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


__all__ = [
    "MAX_CONFIG_FAULTS",
    "check",
    "clear",
    "config_fault",
    "failure_reason",
    "noted",
    "stop_reason",
]
