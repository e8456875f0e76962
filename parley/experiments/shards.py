"""Shards: each finished run of a sweep is one file, written atomically, merged at the end.

A shard is ``<out>/shards/<run_id>.shard.json``: ``{"summary": {...}, "tables": {...}}``
where the summary holds the run id, status, outcome and error, and ``tables`` holds the
run's ``runs``, ``rounds``, ``agents``, ``moves`` and ``calls`` tables as columns
(``{column: [values]}``), each with a ``run_id`` column. (Plain JSON because it is an
order of magnitude cheaper per run than Parquet; the merged tables are Parquet.) A shard
appears in one ``os.replace`` or not at all, so a sweep killed at any instant leaves only
whole shards, and a restart knows exactly which runs are finished.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parley.experiments.storage import atomic_write_bytes
from parley.validity import PLAYED

Columns = dict[str, list[Any]]

SHARD_DIR = "shards"
SUFFIX = ".shard.json"


def shard_dir(out_dir: str | Path) -> Path:
    """Where a sweep in ``out_dir`` keeps its shards."""
    return Path(out_dir) / SHARD_DIR


def shard_path(directory: str | Path, run_id: str) -> Path:
    return Path(directory) / f"{run_id}{SUFFIX}"


def pack(tables: Mapping[str, Columns], summary: Mapping[str, Any]) -> bytes:
    """A shard's bytes: the run's summary and its tables as columns."""
    doc = {"summary": dict(summary), "tables": dict(tables)}
    return json.dumps(doc, default=_plain, separators=(",", ":")).encode()


def _plain(value: Any) -> Any:
    """numpy scalars become Python numbers; anything else unknown becomes its text."""
    return value.item() if hasattr(value, "item") else str(value)


def write_shard(directory: str | Path, run_id: str, data: bytes) -> Path:
    """Atomically write one shard (a rerun of a failed run replaces the old one)."""
    path = shard_path(directory, run_id)
    atomic_write_bytes(path, data)
    return path


def _load(path: str | Path) -> dict[str, Any] | None:
    """A whole shard, or None: unreadable, or without its run's ``runs`` row (a shard that
    parses but carries no tables would otherwise count as finished and merge to nothing)."""
    try:
        doc = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
    if not (isinstance(doc, dict) and isinstance(doc.get("summary"), dict)):
        return None
    tables = doc.get("tables")
    runs = tables.get("runs") if isinstance(tables, dict) else None
    if not (isinstance(runs, dict) and runs and all(len(v) == 1 for v in runs.values())):
        return None
    return doc


def read_summary(path: str | Path) -> dict[str, Any] | None:
    """A shard's summary, or None if the file is unreadable or incomplete (it is then run
    again)."""
    doc = _load(path)
    return doc["summary"] if doc else None


def read_shard(path: str | Path) -> dict[str, Columns]:
    """A shard's tables as columns (empty if unreadable)."""
    doc = _load(path)
    return doc.get("tables", {}) if doc else {}


def scan(directory: str | Path) -> dict[str, dict[str, Any]]:
    """Run id -> summary of every readable shard in ``directory`` (temporary files ignored)."""
    found: dict[str, dict[str, Any]] = {}
    root = Path(directory)
    if not root.is_dir():
        return found
    for path in root.glob(f"*{SUFFIX}"):
        summary = read_summary(path)
        if summary is not None:
            found[path.name.removesuffix(SUFFIX)] = summary
    return found


def remove_partial(directory: str | Path) -> int:
    """Delete temporary files a killed writer left behind (call under the sweep's lock)."""
    removed = 0
    for path in Path(directory).glob(f".*{SUFFIX}.*.tmp"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def is_finished(directory: str | Path, run_id: str) -> bool:
    """Whether ``run_id`` has a shard of a run that played to its end (ok or invalid);
    failed runs are run again."""
    summary = read_summary(shard_path(directory, run_id))
    return summary is not None and summary.get("status") in PLAYED
