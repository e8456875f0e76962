"""DataCollector reporters: named functions of the model and agents (picklable, no lambdas).

Agent reporters are per agent type (Mesa's ``agenttype_reporters``): negotiators report
their state every round; the authority reports its ruling (empty until it rules).
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parley.model.model import NegotiationModel


def round_no(model: NegotiationModel) -> int:
    return model.round


def standing_proposal(model: NegotiationModel) -> float | None:
    return model.standing


def spread(model: NegotiationModel) -> float:
    return model.spreads[-1]


def n_coalitions(model: NegotiationModel) -> int:
    return len(model.coalitions)


def largest_coalition(model: NegotiationModel) -> int:
    return max((len(c) for c in model.coalitions), default=0)


def escalations(model: NegotiationModel) -> int:
    return model.escalations


def outcome(model: NegotiationModel) -> str | None:
    return model.outcome.kind if model.outcome else None


def trigger(model: NegotiationModel) -> str | None:
    return model.outcome.trigger if model.outcome else None


def final_value(model: NegotiationModel) -> float | None:
    return model.outcome.value if model.outcome else None


MODEL_REPORTERS = {
    "round": round_no,
    "standing_proposal": standing_proposal,
    "spread": spread,
    "n_coalitions": n_coalitions,
    "largest_coalition": largest_coalition,
    "escalations": escalations,
    "outcome": outcome,
    "trigger": trigger,
    "final_value": final_value,
}

NEGOTIATOR_REPORTERS = {
    "party": attrgetter("party_id"),
    "position": attrgetter("position"),
    "last_action": attrgetter("last_action"),
    "coalition": attrgetter("coalition"),
    "cumulative_concession": attrgetter("cumulative_concession"),
    "invalid_turns": attrgetter("invalid_turns"),
}


def ruling_value(agent: Any) -> float | None:
    return agent.ruling.value if agent.ruling is not None else None


def ruling_body(agent: Any) -> str | None:
    return agent.ruling.body if agent.ruling is not None else None


def ruling_rule(agent: Any) -> str | None:
    return agent.ruling.rule if agent.ruling is not None else None


def ruling_fallback(agent: Any) -> str | None:
    return agent.ruling.fallback if agent.ruling is not None else None


AUTHORITY_REPORTERS = {
    "value": ruling_value,
    "body": ruling_body,
    "rule": ruling_rule,
    "fallback": ruling_fallback,
}

MOVE_COLUMNS = [
    "round",
    "party",
    "action",
    "value",
    "target",
    "message",
    "valid",
    "repaired",
    "error",
    "position_before",
    "position_after",
    "private_state",
    "reasoning",
]
