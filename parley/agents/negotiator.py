"""The negotiator: a Mesa agent whose decisions come from an injected policy."""

from __future__ import annotations

import mesa

from parley.agents.observation import Decision, Move, Observation
from parley.agents.policy import Policy
from parley.grammar import Action, ActionKind, InvalidAction, validate_action
from parley.scenarios.schema import Party


class NegotiatorAgent(mesa.Agent):
    """One party at the table. It observes, asks its policy, and applies the move.

    It never builds an LLM client: the policy (and anything behind it) is injected.
    """

    def __init__(self, model: mesa.Model, party: Party, policy: Policy) -> None:
        super().__init__(model)
        self.party = party
        self.party_id = party.id
        self.policy = policy
        self.position: float = party.ideal
        self.opening: float = party.ideal
        self.last_action: str | None = None
        self.coalition: int | None = None
        self.cumulative_concession = 0.0
        self.concessions = 0
        self.invalid_turns = 0
        self.private_state: str | None = None
        self.tokens = 0

    def apply(self, obs: Observation, decision: Decision) -> Move:
        """Validate the decided action against what the agent saw, then take it.

        An action that is still invalid here (a policy that skipped validation) becomes
        ``hold`` and counts as an invalid turn, like an unrepaired LLM reply.
        """
        action, valid = decision.action, decision.valid
        try:
            action = validate_action(action, obs.table_view())
        except InvalidAction as err:
            action, valid = Action.hold(), False
            decision.error = decision.error or str(err)
        before = self.position
        match action.kind:
            case ActionKind.PROPOSE | ActionKind.CONCEDE:
                self.position = float(action.value)  # type: ignore[arg-type]
            case ActionKind.ACCEPT:
                self.position = float(obs.standing)  # type: ignore[arg-type]
            case ActionKind.SUPPORT:
                self.position = float(obs.positions[action.target])  # type: ignore[index]
            case ActionKind.HOLD | ActionKind.ESCALATE:
                pass
            case _:
                raise ValueError(f"unhandled action kind {action.kind!r}")
        if action.kind == ActionKind.CONCEDE:
            self.concessions += 1
            self.cumulative_concession += abs(self.position - before)
        if not valid:
            self.invalid_turns += 1
        if decision.private_state is not None:
            self.private_state = decision.private_state
        self.tokens += sum(int(c.get("total_tokens") or 0) for c in decision.calls)
        self.last_action = action.kind.value
        return Move(obs.round, self.party_id, action, valid, before, self.position)
