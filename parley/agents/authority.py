"""The authority: decides the outcome when negotiation fails or is escalated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mesa

from parley.scenarios.schema import Scenario


@dataclass(frozen=True)
class Ruling:
    """The authority's decision: the imposed value, who ruled, and why."""

    value: float
    body: str
    rule: str
    trigger: str
    rationale: str = ""
    fallback: str | None = None  # why a rule-based ruling replaced an LLM one, if it did
    #: One ``calls`` row per LLM call made to reach the ruling (empty for a rule), like
    #: :attr:`parley.agents.observation.Decision.calls`.
    calls: tuple[dict[str, Any], ...] = field(default=(), compare=False)


def rule_based_ruling(scenario: Scenario, trigger: str, rng) -> Ruling:
    """The scenario's own rule: ``status_quo``, ``preference`` or ``ambiguous`` (drawn by rng)."""
    auth = scenario.authority
    match auth.rule:
        case "status_quo":
            return Ruling(
                scenario.issue.status_quo,
                auth.name,
                auth.rule,
                trigger,
                "The authority keeps the status quo.",
            )
        case "preference":
            return Ruling(
                float(auth.preference),  # type: ignore[arg-type]  # required by the schema
                auth.name,
                auth.rule,
                trigger,
                "The authority imposes its own preferred value.",
            )
        case "ambiguous":
            weights = [b.probability for b in auth.bodies]
            body = rng.choices(auth.bodies, weights=weights, k=1)[0]
            return Ruling(
                body.value,
                body.name,
                auth.rule,
                trigger,
                f"{body.name} asserts jurisdiction and rules.",
            )
        case _:
            raise ValueError(f"unknown authority rule {auth.rule!r}")


class AuthorityAgent(mesa.Agent):
    """Intervenes once, on a trigger (``escalation``, ``deadlock`` or ``deadline``).

    With ``judge`` set (an LLM authority, see :mod:`parley.agents.llm_authority`), the
    ruling is written by the judge; an invalid one falls back to the scenario's rule. The
    agent records its ruling's LLM calls in the model's ``calls`` table itself, as a
    negotiator records its turn's.
    """

    def __init__(self, model: mesa.Model, scenario: Scenario, judge=None) -> None:
        super().__init__(model)
        self.spec = scenario
        self.judge = judge
        self.ruling: Ruling | None = None

    def intervene(self, trigger: str, context: dict) -> Ruling:
        """Decide the outcome; the draw of an ambiguous authority uses the model's rng."""
        ruling = rule_based_ruling(self.spec, trigger, self.random)
        if self.judge is not None:  # on the run's event loop, like the negotiators' calls
            asked = self.judge.arule(self.spec, trigger, context, fallback=ruling)
            ruling = self.model.loop.run(asked)  # type: ignore[attr-defined]
        self.ruling = ruling
        self.model.record_calls(ruling.calls, "authority")  # type: ignore[attr-defined]
        return ruling
