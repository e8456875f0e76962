"""Replay a recorded run from its Parquet tables, round by round, with the live views.

A results directory is what ``parley run --out DIR`` writes (one run) or what a sweep writes
(many runs, every table keyed by a ``run_id`` column). :class:`ReplayRun` holds one run's
tables and builds the :class:`~parley.viz.view.RunView` of any round, so the app's views
draw a recorded run exactly as they draw a live one. Nothing here needs a model or an LLM.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from parley.config import RunConfig
from parley.experiments.storage import Results, ResultsError, load_results
from parley.model.coalitions import coalition_graph, coalitions, membership
from parley.model.model import Outcome
from parley.scenarios.loader import ScenarioError, load_scenario
from parley.scenarios.schema import Scenario
from parley.viz.view import RunView, backend_failure, trajectory

_RUN_ID = "run_id"


def run_choices(results_dir: str | Path) -> list[tuple[str, str]]:
    """``(run_id, label)`` of every run in a results directory (``("", label)`` for a single
    ``--out`` run), labels like ``grid_curtailment · heuristic · seed 3 · compromise``.

    Raises:
        ResultsError: the directory is missing, not a results directory, or has no runs.
    """
    runs = _load(results_dir).get("runs")
    if runs is None or runs.empty:
        raise ResultsError(f"{results_dir}: no runs recorded (no runs.parquet rows)")
    ids = runs[_RUN_ID].astype(str) if _RUN_ID in runs else pd.Series([""] * len(runs))
    return [(rid, _label(row)) for rid, (_, row) in zip(ids, runs.iterrows(), strict=True)]


class ReplayRun:
    """One recorded run: its tables, its scenario, and a view of any of its rounds.

    Args:
        frames: the run's tables (``runs``, ``moves``, ``calls`` and optionally ``rounds``,
            ``agents``), already reduced to this run.
        spec: the scenario the run was played on.
        source: a one-line description shown above the views.
        max_rounds: the run's deadline.
    """

    def __init__(
        self, frames: dict[str, pd.DataFrame], spec: Scenario, source: str, max_rounds: int
    ) -> None:
        self.frames, self.spec, self.source, self.max_rounds = frames, spec, source, max_rounds
        self.summary = frames["runs"].iloc[0]
        moves = frames["moves"]
        recorded = int(self.summary.get("rounds") or 0)
        self.last_round = max(recorded, int(moves["round"].max()) if not moves.empty else 0)
        self.openings = self._openings()
        self.tolerance = spec.protocol.coalition_tolerance * spec.issue.span

    @classmethod
    def open(cls, results_dir: str | Path, run_id: str | None = None) -> ReplayRun:
        """Load one run of ``results_dir`` (``run_id`` is needed only when it holds several).

        Raises:
            ResultsError: unreadable directory, unknown or missing run id, or a scenario that
                can no longer be loaded.
        """
        frames = _load(results_dir)
        manifest = frames.manifest
        runs = frames.get("runs")
        if runs is None or runs.empty or "moves" not in frames:
            raise ResultsError(f"{results_dir}: no runs and moves to replay")
        if _RUN_ID in runs:
            ids = runs[_RUN_ID].astype(str).tolist()
            if run_id in (None, "") and len(ids) > 1:
                raise ResultsError(f"{results_dir}: holds {len(ids)} runs; choose a run id")
            chosen = ids[0] if run_id in (None, "") else str(run_id)
            if chosen not in ids:
                raise ResultsError(f"{results_dir}: no run with id '{chosen}'")
            frames = Results({k: _only(v, chosen) for k, v in frames.items()}, manifest)
        summary = frames["runs"].iloc[0]
        # What the run was made with: its runs row (RunConfig.to_row), else -- results of an
        # older parley -- a single run's manifest (a sweep's manifest holds a grid).
        params = manifest.get("parameters", {}) if manifest.get("kind") == "run" else {}
        config = _config(summary)
        spec = _scenario(results_dir, summary, params, config)
        recorded = config.max_rounds if config is not None else None
        max_rounds = int(recorded or params.get("max_rounds") or 0)
        source = f"replay · {Path(results_dir).name}" + (f" · {run_id}" if run_id else "")
        source += " · " + _label(summary)
        return cls(frames, spec, source, max_rounds or spec.protocol.max_rounds)

    def view(self, round_no: int) -> RunView:
        """The run as it stood after ``round_no`` (clamped to ``0..last_round``)."""
        r = max(0, min(int(round_no), self.last_round))
        moves = _upto(self.frames["moves"], r)
        calls = _upto(self.frames.get("calls"), r)
        order = [p.id for p in self.spec.parties]
        traj = trajectory(self.openings, moves, order, r)
        positions = {p: float(traj.iloc[-1][p]) for p in order}
        supports = moves[(moves["round"] == r) & (moves["action"] == "support")]
        graph = coalition_graph(
            positions, zip(supports["party"], supports["target"], strict=True), self.tolerance
        )
        final = r == self.last_round
        return RunView(
            spec=self.spec,
            source=self.source,
            round=r,
            max_rounds=self.max_rounds,
            running=not final,
            trajectory=traj,
            standing=self._standing(traj, r),
            moves=moves,
            calls=calls,
            graph=graph,
            coalition=membership(coalitions(graph)),
            outcome=self._outcome() if final else None,
            notice=backend_failure(calls, r),
        )

    # -- pieces ------------------------------------------------------------------------
    def _openings(self) -> dict[str, float]:
        """Recorded opening positions (agents at step 0), else the scenario's ideals."""
        ideals = {p.id: p.ideal for p in self.spec.parties}
        agents = self.frames.get("agents")
        if agents is None or agents.empty:
            return ideals
        first = agents[agents["Step"] == agents["Step"].min()]
        return {**ideals, **dict(zip(first["party"], first["position"].astype(float), strict=True))}

    def _standing(self, traj: pd.DataFrame, r: int) -> pd.Series:
        rounds = self.frames.get("rounds")
        if rounds is not None and "standing_proposal" in rounds:
            series = rounds.set_index("round")["standing_proposal"].astype(float)
            return series[series.index <= r].reindex(range(r + 1))
        from parley.model.table import standing_proposal

        values = [standing_proposal(row.to_dict())[0] for _, row in traj.iterrows()]
        return pd.Series(values, dtype=float)

    def _outcome(self) -> Outcome | None:
        s = self.summary
        kind = _value(s.get("outcome"))
        if kind is None:
            return None
        value = _value(s.get("final_value"))
        return Outcome(
            str(kind),
            _value(s.get("trigger")),
            None if value is None else float(value),
            self.last_round,
            body=_value(s.get("authority_body")),
            reason=_value(s.get("stop_reason")),
        )


def _load(results_dir: str | Path) -> Results:
    return load_results(Path(results_dir).expanduser())


def _only(frame: pd.DataFrame, run_id: str) -> pd.DataFrame:
    if _RUN_ID not in frame:
        return frame
    return frame[frame[_RUN_ID].astype(str) == run_id].reset_index(drop=True)


def _upto(frame: pd.DataFrame | None, r: int) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame({"round": []})
    return frame[frame["round"] <= r].reset_index(drop=True)


def _config(summary: pd.Series) -> RunConfig | None:
    """The configuration a runs row records, or None if it records too little (a failed run,
    a row from an older parley)."""
    try:
        return RunConfig.from_row(summary.to_dict())
    except (ValueError, TypeError):
        return None


def _scenario(
    results_dir: str | Path,
    summary: pd.Series,
    params: dict[str, Any],
    config: RunConfig | None,
) -> Scenario:
    """The run's scenario: the file or name it was run with, else the recorded name."""
    candidates = [
        config.scenario if config is not None else None,  # a file's absolute path, or a name
        params.get("scenario"),
        _value(summary.get("scenario")),
    ]
    errors = []
    for name in [c for c in candidates if isinstance(c, str) and c]:
        try:
            return load_scenario(name)
        except ScenarioError as err:
            errors.append(str(err))
    raise ResultsError(
        f"{results_dir}: the recorded scenario cannot be loaded ({'; '.join(errors) or 'none'})"
    )


def _value(v: Any) -> Any:
    """A table cell as a plain value, with NaN/NA as None."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def _label(row: pd.Series) -> str:
    parts = [str(_value(row.get(k))) for k in ("scenario", "policy", "condition")]
    if _value(row.get("model")) not in (None, "none"):
        parts.append(str(row.get("model")))
    seed = _value(row.get("seed"))
    parts.append(f"seed {seed}" if seed is not None else "seed ?")
    status = _value(row.get("status"))
    shown = "invalid" if status == "invalid" else _value(row.get("outcome")) or status
    parts.append(str(shown or "unfinished"))
    return " · ".join(parts)
