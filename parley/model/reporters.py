"""DataCollector reporters: named functions of the model (picklable, no lambdas)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import mesa

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


def seat_policy(agent: mesa.Agent) -> str | None:
    """The policy seated at the agent's party (None for the authority)."""
    seated: dict[str, str] = agent.model.seating  # type: ignore[attr-defined]
    return seated.get(getattr(agent, "party_id", ""))


AGENT_REPORTERS = {
    "party": "party_id",
    "policy": seat_policy,
    "position": "position",
    "last_action": "last_action",
    "coalition": "coalition",
    "cumulative_concession": "cumulative_concession",
    "invalid_turns": "invalid_turns",
}

MOVE_COLUMNS = [
    "round",
    "party",
    "policy",
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
