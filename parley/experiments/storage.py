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


def check_out_dir(out_dir: str | Path, kind: str) -> Path:
    """``out_dir`` if a ``kind`` result may be written there; else :class:`ResultsError`.

    A missing directory is fine if it can be created there (a path under a file, or where
    nothing may be written, is refused now, before any run, not after it); one holding a
    result of the same kind is fine (it is replaced); one holding another kind of result
    (e.g. a sweep, whose shards a single run would orphan) is refused, so nothing finished
    is overwritten.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ResultsError(f"{out}: exists and is not a directory")
    check_writable(out)
    held = None
    if (out / MANIFEST).is_file():
        try:
            held = json.loads((out / MANIFEST).read_text()).get("kind")
        except (OSError, json.JSONDecodeError, AttributeError):
            held = "unreadable"
    elif (out / "shards").is_dir():
        held = "sweep"
    if held is not None and held != kind:
        raise ResultsError(f"{out}: holds a '{held}' result; choose another --out")
    return out


def check_writable(out: Path) -> None:
    """Prove ``out`` can hold files: its nearest existing ancestor (or itself) is a
    directory where a file can be written (a probe file, removed at once; nothing is
    created). Else :class:`ResultsError`."""
    existing = next((p for p in [out, *out.absolute().parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ResultsError(f"{out}: cannot be a directory, {existing} is a file")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".parley-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ResultsError(f"{out}: cannot write there ({err.strerror or err})") from None


def write_results(
    out_dir: str | Path, frames: Mapping[str, pd.DataFrame], manifest: dict[str, Any]
) -> Path:
    """Write ``frames`` as ``<name>.parquet`` and the manifest into ``out_dir``."""
    out = check_out_dir(out_dir, str(manifest.get("kind")))
    for name, frame in frames.items():
        write_parquet(out / f"{name}.parquet", frame)
    write_json(out / MANIFEST, manifest)
    return out


class Results(dict):
    """The tables of a results directory by name (a dict of DataFrames) plus ``manifest``."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], manifest: dict[str, Any]) -> None:
        super().__init__(frames)
        self.manifest = manifest


def check_results_dir(results_dir: str | Path) -> dict[str, Any]:
    """The manifest of a finished results directory; :class:`ResultsError` if it is not one.

    Cheap (no table is read): what :func:`load_results` checks before reading the tables,
    and what ``parley app --replay`` checks before it starts a server.
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
    if not isinstance(manifest, dict):
        raise ResultsError(f"{manifest_path}: corrupt manifest (not a JSON object)")
    if manifest.get("status") == "running":
        # A sweep killed mid-merge may have replaced some tables and not others.
        raise ResultsError(
            f"{root}: the sweep did not finish (manifest status 'running'); run it again with "
            "the same --out to finish and merge it"
        )
    if not (root / "runs.parquet").exists():
        raise ResultsError(
            f"{root}: no runs.parquet yet (an interrupted sweep? run it again with the same "
            "--out to finish and merge it)"
        )
    return manifest


def load_results(results_dir: str | Path) -> Results:
    """Load a results directory (``parley run --out``, ``parley sweep``, ``parley protocol``).

    Usage, e.g. in a notebook::

        import parley
        res = parley.load_results("results/protocol")
        res["runs"]          # one row per run: parameters, outcome, trigger, utilities, tokens
        res["moves"]         # one row per negotiator turn (sweeps add a ``run_id`` column)
        res.manifest         # parameters, package versions, git revision, ...

    Returns a :class:`Results`: a dict of the tables present among ``runs``, ``rounds``,
    ``agents``, ``moves`` and ``calls`` (pandas DataFrames), with the manifest as its
    ``manifest`` attribute. Raises :class:`ResultsError` (one line, naming the file) for a
    directory that is missing, not a results directory, unfinished or corrupt.
    """
    root = Path(results_dir)
    manifest = check_results_dir(root)
    frames: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        path = root / f"{name}.parquet"
        if not path.exists():
            continue
        try:
            frames[name] = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several types for a damaged file
            raise ResultsError(f"{path}: corrupt Parquet file ({type(err).__name__})") from None
    return Results(frames, manifest)
