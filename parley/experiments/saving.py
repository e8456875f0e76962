"""One run saved as a results directory — its tables, with the run's status and failure in
``runs``, and its manifest — the same way for ``parley run --out``, a classroom room and the
app's live page, so ``parley report`` and ``parley app --replay`` read them all alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from parley.config import RunConfig
from parley.experiments.manifest import build_manifest
from parley.experiments.records import run_frames
from parley.experiments.storage import write_results


def save_run(
    out_dir: str | Path,
    model: Any,
    *,
    failure: str | None = None,
    fault: str | None = None,
    **extra: Any,
) -> Path:
    """Write ``model``'s run into ``out_dir``; the directory written.

    Args:
        out_dir: the results directory (created; an existing one must hold a run).
        model: a :class:`~parley.model.model.NegotiationModel`, finished or stopped.
        failure: why the run failed, in one line (``runs.status`` becomes ``failed``: a
            failure is never an outcome), or None.
        fault: the failure's kind (e.g. a configuration fault's), recorded beside it.
        extra: more manifest fields (e.g. ``room=ID``).
    """
    frames = run_frames(model)
    if failure is not None:
        frames["runs"] = frames["runs"].assign(status="failed", error=failure, fault=fault)
    status = str(frames["runs"]["status"].iloc[0])
    parameters = {
        **RunConfig.from_manifest(model.params).to_manifest(),
        "rng": model.params.get("rng"),
    }
    profile = getattr(model.llm, "profile", None)  # the provider profile used, if any
    manifest = build_manifest("run", parameters, status=status, profile=profile, **extra)
    return write_results(out_dir, frames, manifest)
