"""The policy seam: a negotiator delegates each decision to a :class:`Policy`.

Policies are plain objects with a sync and an async ``decide``. Reflection conditions are
``Policy -> Policy`` wrappers (see :mod:`parley.agents.reflection`).
"""

from __future__ import annotations

import random
from typing import Protocol, runtime_checkable

from parley.agents.observation import Decision, Observation
from parley.grammar import Action, InvalidAction, validate_action


@runtime_checkable
class Policy(Protocol):
    """Decides one negotiator's turn from its observation."""

    name: str

    def decide(self, obs: Observation) -> Decision: ...

    async def adecide(self, obs: Observation) -> Decision: ...


class RulePolicy:
    """Base of the rule-based policies: sync rules, a trivial async face, checked output."""

    name = "rule"

    def decide(self, obs: Observation) -> Decision:
        action = self.choose(obs, random.Random(obs.seed))
        try:
            return Decision(action=validate_action(action, obs.table_view()))
        except InvalidAction as err:  # a rule bug must show up in the data, not vanish
            return Decision(action=Action.hold(), valid=False, error=str(err))

    async def adecide(self, obs: Observation) -> Decision:
        return self.decide(obs)

    def choose(self, obs: Observation, rng: random.Random) -> Action:
        raise NotImplementedError
