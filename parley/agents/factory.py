"""One factory turns the model's plain parameters into policies (and the shared LLM)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parley.agents.policy import Policy
from parley.agents.reflection import LAYERS
from parley.agents.rules import HeuristicPolicy, SolverPolicy
from parley.agents.seating import seating
from parley.scenarios.schema import Scenario

# The choices of what this factory builds; checked with every other parameter by
# :class:`parley.config.RunConfig`.
POLICIES = ("heuristic", "solver", "llm")
CONDITIONS = tuple(LAYERS)  # the reflection conditions, named once: by their layers
AUTHORITIES = ("rule", "llm")


def build_policies(
    scenario: Scenario, params: Mapping[str, Any], llm: Any = None, human: Any = None
) -> tuple[dict[str, Policy], Any]:
    """A policy per party, and the LLM they share (None for rule-based policies).

    Each party gets the table-wide ``params["policy"]`` unless ``params["seats"]`` seats it
    with another (see :mod:`parley.agents.seating`); ``human`` is the move source of human
    seats. ``params["policy"]`` may also be a :class:`Policy` object or a callable
    ``party -> Policy`` (test doubles and notebooks). The values were checked by
    :class:`parley.config.RunConfig`.
    """
    policy = params["policy"]
    if not isinstance(policy, str):
        make = (
            policy if callable(policy) and not isinstance(policy, Policy) else (lambda _p: policy)
        )
        return {p.id: make(p) for p in scenario.parties}, llm
    seated = seating(scenario.party_ids, policy, params.get("seats"))
    policies: dict[str, Policy] = {}
    llm_parties = [p for p, name in seated.items() if name == "llm"]
    if llm_parties:
        from parley.agents.llm_policy import build_llm_policies

        llm_policies, llm = build_llm_policies(scenario, params, llm)
        policies.update({p: llm_policies[p] for p in llm_parties})
    for party, name in seated.items():
        match name:
            case "heuristic":
                policies[party] = HeuristicPolicy()
            case "solver":
                policies[party] = SolverPolicy()
            case "human":
                policies[party] = human_policy(party, params, human)
            case "llm":
                pass  # built above, sharing one language model
            case _:
                raise ValueError(f"unknown policy '{name}'")
    return {p: policies[p] for p in seated}, llm


def human_policy(party: str, params: Mapping[str, Any], human: Any) -> Policy:
    """The :class:`~parley.agents.human.HumanPolicy` of ``party``, fed by the injected source.

    ``human`` is one move source for every human seat, or a mapping party -> source.
    """
    from parley.agents.human import HumanPolicy

    source = human.get(party) if isinstance(human, Mapping) else human
    if source is None:
        raise ValueError(
            f"seat '{party}' is human but no move source was given (play it from "
            "`parley run --seat`, the app, or pass human= to NegotiationModel)"
        )
    return HumanPolicy(source, time_limit=params.get("human_time_limit"))


def build_judge(params: Mapping[str, Any], llm: Any) -> Any:
    """The LLM authority's judge when ``authority="llm"``, else None (the scenario's rule)."""
    if params.get("authority", "rule") != "llm":
        return None
    from parley.agents.llm_authority import LLMJudge, ensure_llm

    return LLMJudge(ensure_llm(params, llm), temperature=float(params.get("temperature", 0.8)))
