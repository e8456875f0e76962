"""One factory turns the model's plain parameters into policies (and the shared LLM)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parley.agents.policy import Policy
from parley.agents.rules import HeuristicPolicy, SolverPolicy
from parley.scenarios.schema import Scenario

# The choices of what this factory builds; checked with every other parameter by
# :class:`parley.config.RunConfig`.
POLICIES = ("heuristic", "solver", "llm")
CONDITIONS = ("none", "none_budget", "bounded", "private_memo", "private_persona", "native")
AUTHORITIES = ("rule", "llm")


def build_policies(
    scenario: Scenario, params: Mapping[str, Any], llm: Any = None
) -> tuple[dict[str, Policy], Any]:
    """A policy per party, and the LLM they share (None for rule-based policies).

    ``params["policy"]`` may also be a :class:`Policy` object or a callable ``party -> Policy``
    (test doubles and notebooks). The values were checked by :class:`parley.config.RunConfig`.
    """
    policy = params["policy"]
    if not isinstance(policy, str):
        make = (
            policy if callable(policy) and not isinstance(policy, Policy) else (lambda _p: policy)
        )
        return {p.id: make(p) for p in scenario.parties}, llm
    match policy:
        case "heuristic":
            return {p.id: HeuristicPolicy() for p in scenario.parties}, llm
        case "solver":
            return {p.id: SolverPolicy() for p in scenario.parties}, llm
        case "llm":
            from parley.agents.llm_policy import build_llm_policies

            return build_llm_policies(scenario, params, llm)
        case _:
            raise ValueError(f"unknown policy '{policy}'")


def build_judge(params: Mapping[str, Any], llm: Any) -> Any:
    """The LLM authority's judge when ``authority="llm"``, else None (the scenario's rule)."""
    if params.get("authority", "rule") != "llm":
        return None
    from parley.agents.llm_authority import LLMJudge, ensure_llm

    return LLMJudge(ensure_llm(params, llm), temperature=float(params.get("temperature", 0.8)))
