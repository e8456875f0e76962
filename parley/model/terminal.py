"""Terminal rules, checked in order after every round: compromise, then authority triggers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from parley.scenarios.schema import Protocol


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``compromise``, ``authority_decision`` or ``stopped`` (budget/error)."""

    kind: str
    trigger: str | None
    value: float | None
    round: int
    body: str | None = None
    reason: str | None = None


def is_compromise(positions: Mapping[str, float], standing: float | None, tolerance: float) -> bool:
    """Every negotiator's position is within ``tolerance`` (absolute) of the standing proposal.

    In a scenario with a bloc this includes every member of the bloc: the bloc agrees as
    one or not at all.
    """
    if standing is None or not positions:
        return False
    return all(abs(v - standing) <= tolerance + 1e-9 for v in positions.values())


def authority_trigger(
    *,
    round_no: int,
    escalations: int,
    spreads: Sequence[float],
    protocol: Protocol,
    max_rounds: int,
    span: float,
) -> str | None:
    """The reason the authority must step in now, or None.

    ``spreads[k]`` is the spread of positions after round k (``spreads[0]`` the opening).
    Deadlock: the spread has not narrowed by ``progress_epsilon``·range over the last
    ``patience`` rounds.
    """
    if escalations >= protocol.escalation_quorum:
        return "escalation"
    p = protocol.patience
    stalled = len(spreads) > p and spreads[-1 - p] - spreads[-1] < protocol.progress_epsilon * span
    if round_no >= p and stalled:
        return "deadlock"
    if round_no >= max_rounds:
        return "deadline"
    return None
