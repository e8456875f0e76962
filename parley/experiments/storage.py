"""Results on disk: Parquet tables plus a JSON manifest, always written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

TABLES = ("runs", "rounds", "agents", "moves", "calls")
MANIFEST = "manifest.json"


class ResultsError(ValueError):
    """A results directory that is missing, not a results directory, or corrupt."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (no torn files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Atomically write one frame as Parquet."""
    atomic_write_bytes(path, frame.to_parquet(index=False))


def write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def write_results(
    out_dir: str | Path, frames: Mapping[str, pd.DataFrame], manifest: dict[str, Any]
) -> Path:
    """Write ``frames`` as ``<name>.parquet`` and the manifest into ``out_dir``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ResultsError(f"{out}: exists and is not a directory")
    for name, frame in frames.items():
        write_parquet(out / f"{name}.parquet", frame)
    write_json(out / MANIFEST, manifest)
    return out


def load_results(results_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Load a results directory (a ``parley run --out`` or a sweep) into pandas frames.

    Returns a dict with the tables present among ``runs``, ``rounds``, ``agents``, ``moves``
    and ``calls``, plus the manifest under ``manifest`` (as a one-row frame's dict in
    ``frames.attrs``). Raises :class:`ResultsError` naming the file when one is unreadable.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise ResultsError(f"{root}: no such results directory")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise ResultsError(f"{root}: not a parley results directory (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ResultsError(f"{manifest_path}: corrupt manifest ({err})") from None
    frames: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        path = root / f"{name}.parquet"
        if not path.exists():
            continue
        try:
            frames[name] = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several types for a damaged file
            raise ResultsError(f"{path}: corrupt Parquet file ({type(err).__name__})") from None
        frames[name].attrs["manifest"] = manifest
    return frames
