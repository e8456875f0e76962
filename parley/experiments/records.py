"""Turn a finished model into tables: one summary row per run, and the per-round frames."""

from __future__ import annotations

from typing import Any

import pandas as pd

from parley.model.model import NegotiationModel


def run_summary(model: NegotiationModel) -> dict[str, Any]:
    """One row describing a run: parameters, outcome, utilities, invalid turns, tokens."""
    out = model.outcome
    utilities = model.utilities()
    calls = model.datacollector.get_table_dataframe("calls")
    moves = model.datacollector.get_table_dataframe("moves")
    row: dict[str, Any] = {
        "scenario": model.spec.name,
        "policy": str(model.params["policy"]),
        "condition": model.condition,
        "backend": model.params["backend"] if model.params["policy"] == "llm" else "none",
        "model": model.params["model"] if model.params["policy"] == "llm" else "none",
        "turn_order": model.turn_order,
        "seed": _seed(model.params.get("rng")),
        "outcome": out.kind if out else None,
        "trigger": out.trigger if out else None,
        "stop_reason": out.reason if out else None,
        "rounds": model.round,
        "final_value": out.value if out else None,
        "authority_body": out.body if out else None,
        "welfare": sum(utilities.values()) if utilities else None,
        "turns": len(moves),
        "invalid_turns": int((~moves["valid"].astype(bool)).sum()) if len(moves) else 0,
        "calls": len(calls),
        "prompt_tokens": _total(calls, "prompt_tokens"),
        "completion_tokens": _total(calls, "completion_tokens"),
        "reasoning_tokens": _total(calls, "reasoning_tokens"),
        "latency_s": float(calls["latency_s"].fillna(0).sum()) if len(calls) else 0.0,
        "cached_calls": int(calls["cached"].fillna(False).astype(bool).sum()) if len(calls) else 0,
        "cost_usd": float(calls["cost_usd"].fillna(0).sum()) if len(calls) else 0.0,
    }
    for party, u in utilities.items():
        row[f"utility_{party}"] = u
    return row


def run_frames(model: NegotiationModel) -> dict[str, pd.DataFrame]:
    """The DataCollector's frames of one run: ``rounds``, ``agents``, ``moves``, ``calls``."""
    dc = model.datacollector
    rounds = dc.get_model_vars_dataframe().reset_index(drop=True)
    agents = dc.get_agent_vars_dataframe().reset_index()
    agents = agents[agents["party"] != "authority"].reset_index(drop=True)
    return {
        "runs": pd.DataFrame([run_summary(model)]),
        "rounds": rounds,
        "agents": agents,
        "moves": dc.get_table_dataframe("moves"),
        "calls": dc.get_table_dataframe("calls"),
    }


def _total(calls: pd.DataFrame, column: str) -> int:
    return int(calls[column].fillna(0).sum()) if len(calls) else 0


def _seed(rng: Any) -> int | None:
    return int(rng) if isinstance(rng, int) else None
