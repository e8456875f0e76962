"""Turn a finished model into tables: one summary row per run, and the per-round tables.

The tables are built as plain columns (``{column: [values]}``) straight from the
DataCollector, which is cheap enough to do for every run of a sweep; :func:`run_frames`
wraps them as pandas frames.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from parley.agents.negotiator import NegotiatorAgent
from parley.llm.records import CALL_COLUMNS
from parley.model.model import NegotiationModel
from parley.model.reporters import MOVE_COLUMNS
from parley.validity import run_status, screen_run

Columns = dict[str, list[Any]]


def run_summary(model: NegotiationModel) -> dict[str, Any]:
    """One row describing a run: parameters, outcome, utilities, validity, tokens.

    The parameters are :meth:`RunConfig.to_row <parley.config.RunConfig.to_row>`'s, with the
    deadline and history window as the run used them (the scenario's when not set), so
    :meth:`RunConfig.from_row <parley.config.RunConfig.from_row>` rebuilds the run.
    ``status`` is the validity screen's verdict (:func:`parley.validity.run_status`):
    ``ok``, ``invalid`` (too many invalid turns) or ``failed`` (no outcome), with the reason
    in ``error``; a sweep's runner may overrule it with a failure of its own.
    """
    out = model.outcome
    utilities = model.utilities()
    calls = _calls(model)
    moves = _table(model, "moves", MOVE_COLUMNS)
    screen = screen_run(moves, calls)
    status, reason = run_status(out.kind if out else None, screen, out.reason if out else None)
    setting = model.config.to_row()
    setting.update(max_rounds=model.max_rounds, history_window=model.history_window)
    row: dict[str, Any] = {
        "scenario": model.spec.name,
        **setting,
        "seed": _seed(model.params.get("rng")),
        "outcome": out.kind if out else None,
        "trigger": out.trigger if out else None,
        "stop_reason": out.reason if out else None,
        "rounds": model.round,
        "issue_min": model.spec.issue.min,
        "issue_max": model.spec.issue.max,
        "final_value": out.value if out else None,
        "authority_body": out.body if out else None,
        "welfare": sum(utilities.values()) if utilities else None,
        "turns": len(moves["round"]),
        "invalid_turns": screen.invalid,
        "repaired_turns": screen.repaired,
        "truncated_turns": screen.truncated,
        "status": status,
        "error": reason,
        "calls": len(calls["round"]),
        "prompt_tokens": _total(calls["prompt_tokens"]),
        "completion_tokens": _total(calls["completion_tokens"]),
        "reasoning_tokens": _total(calls["reasoning_tokens"]),
        # calls that asked for reasoning off yet reported reasoning (tokens or text)
        "unexpected_reasoning_calls": sum(1 for v in calls["unexpected_reasoning"] if v),
        "profile": next((p for p in calls["profile"] if p), None),
        "latency_s": float(_total(calls["latency_s"], float)),
        "cached_calls": sum(1 for v in calls["cached"] if v),
        "cost_usd": float(_total(calls["cost_usd"], float)),
    }
    for party, u in utilities.items():
        row[f"utility_{party}"] = u
    return row


def run_columns(model: NegotiationModel) -> dict[str, Columns]:
    """The run's tables as columns: ``runs`` (one row), ``rounds``, ``agents``, ``moves``,
    ``calls``. ``agents`` holds negotiators only (``Step`` 0 is the openings)."""
    dc = model.datacollector
    return {
        "runs": {k: [v] for k, v in run_summary(model).items()},
        "rounds": {k: list(v) for k, v in dc.model_vars.items()},
        "agents": _negotiator_rows(dc.get_agenttype_vars_dataframe(NegotiatorAgent)),
        "moves": _table(model, "moves", MOVE_COLUMNS),
        "calls": _calls(model),
    }


def run_frames(model: NegotiationModel) -> dict[str, pd.DataFrame]:
    """The run's tables (see :func:`run_columns`) as pandas frames."""
    return {name: pd.DataFrame(cols) for name, cols in run_columns(model).items()}


def _negotiator_rows(frame: pd.DataFrame) -> Columns:
    """The negotiators' agent-vars frame as columns (``Step``, ``AgentID``, reporters)."""
    return {
        "Step": frame.index.get_level_values(0).tolist(),
        "AgentID": frame.index.get_level_values(1).tolist(),
        **{c: frame[c].tolist() for c in frame.columns},
    }


def _table(model: NegotiationModel, name: str, columns: list[str]) -> Columns:
    """A DataCollector table as columns (every declared column, even when empty)."""
    table = model.datacollector.tables[name]
    return {c: list(table.get(c, [])) for c in columns}


def _calls(model: NegotiationModel) -> Columns:
    """The ``calls`` table: every declared column, and any further one the LLM layer records."""
    table = model.datacollector.tables["calls"]
    return {c: list(table.get(c, [])) for c in dict.fromkeys([*CALL_COLUMNS, *table])}


def _total(values: list[Any], kind: type = int) -> Any:
    return kind(sum(v for v in values if v is not None and v == v))  # v == v drops NaN


def _seed(rng: Any) -> int | None:
    return int(rng) if isinstance(rng, int) else None
