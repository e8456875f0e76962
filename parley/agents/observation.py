"""What a negotiator sees, what it decides, and what gets recorded of a turn."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from parley.grammar import Action, TableView
from parley.scenarios.schema import Party, Scenario


@dataclass(frozen=True)
class Move:
    """One applied turn, as recorded in the ``moves`` table and shown in later prompts."""

    round: int
    party: str
    action: Action
    valid: bool
    position_before: float
    position_after: float


@dataclass(frozen=True)
class Observation:
    """Everything one negotiator may see before deciding (never another party's private state).

    ``seed`` is drawn from the model's rng for this turn so that a decision depends only on
    its observation, whatever the order in which concurrent decisions complete.
    """

    scenario: Scenario
    party: Party
    round: int
    max_rounds: int
    positions: Mapping[str, float]
    standing: float | None
    backers: tuple[str, ...]
    coalitions: tuple[tuple[str, ...], ...]
    history: tuple[tuple[Move, ...], ...]
    private_state: str | None
    seed: int
    condition: str = "none"

    @property
    def me(self) -> str:
        return self.party.id

    @property
    def position(self) -> float:
        return self.positions[self.party.id]

    @property
    def span(self) -> float:
        return self.scenario.issue.span

    def table_view(self) -> TableView:
        issue = self.scenario.issue
        return TableView(
            lo=issue.min,
            hi=issue.max,
            me=self.me,
            positions=dict(self.positions),
            standing=self.standing,
        )


@dataclass
class Decision:
    """A policy's answer for one turn, with everything worth recording about how it came.

    ``valid`` is False when the policy could not produce a valid action even after a repair
    and fell back to ``hold``; ``calls`` holds one record per LLM call (empty for rule-based
    policies).
    """

    action: Action
    valid: bool = True
    repaired: bool = False
    error: str | None = None
    private_state: str | None = None
    reasoning: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
