"""The negotiator: a Mesa agent whose decisions come from an injected policy.

A turn is three named phases, called by the model through AgentSet verbs:

1. :meth:`NegotiatorAgent.observe` — what the agent sees now (the round's start in
   simultaneous order, the running table in sequential order), with a seed drawn from the
   model's rng;
2. :meth:`NegotiatorAgent.decide` (async) or :meth:`NegotiatorAgent.decide_now` (sync, for
   rule policies that never wait on I/O) — the policy's decision on that observation;
3. :meth:`NegotiatorAgent.apply` — validate and take the move, and record it (and the LLM
   calls behind it) in the model's ``moves`` and ``calls`` tables.

The model gathers the decisions of a simultaneous round in one place
(:meth:`~parley.model.model.NegotiationModel.decide_all`) so they run concurrently;
:meth:`NegotiatorAgent.take_turn` runs all three phases for the sequential order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from parley.agents.observation import Decision, Move, Observation
from parley.agents.policy import Policy, RulePolicy
from parley.grammar import Action, ActionKind, InvalidAction, validate_action
from parley.scenarios.schema import Party

if TYPE_CHECKING:
    from parley.model.model import NegotiationModel


class NegotiatorAgent(mesa.Agent):
    """One party at the table. It observes, asks its policy, and applies the move.

    It never builds an LLM client: the policy (and anything behind it) is injected.
    """

    model: NegotiationModel

    def __init__(self, model: NegotiationModel, party: Party, policy: Policy) -> None:
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
        # This turn's phases: set by observe, decide and apply in turn.
        self.observation: Observation | None = None
        self.decision: Decision | None = None
        self.move: Move | None = None

    @property
    def decides_now(self) -> bool:
        """Whether the policy is rule-based (decides synchronously, no I/O, no event loop)."""
        return isinstance(self.policy, RulePolicy)

    # -- phase 1 ---------------------------------------------------------------------------
    def observe(self) -> Observation:
        """What this agent sees now; earlier moves of this round only in sequential order."""
        model = self.model
        window = model.history[-model.history_window :] if model.history_window else []
        if model.this_round:
            window = [*window, tuple(model.this_round)]
        positions = model.positions
        standing, backers = model.standing_of(positions)
        self.observation = Observation(
            scenario=model.spec,
            party=self.party,
            round=model.round,
            max_rounds=model.max_rounds,
            positions=positions,
            standing=standing,
            backers=backers,
            coalitions=tuple(model.coalitions),
            history=tuple(window),
            private_state=self.private_state,
            seed=model.random.getrandbits(31),
            condition=model.condition,
        )
        self.decision = self.move = None
        return self.observation

    # -- phase 2 ---------------------------------------------------------------------------
    async def decide(self) -> Decision:
        """The policy's decision on this turn's observation (awaits its LLM calls)."""
        return self._decided(await self.policy.adecide(self._observed()))

    def decide_now(self) -> Decision:
        """The policy's decision, synchronously (rule policies; an LLM one blocks)."""
        return self._decided(self.policy.decide(self._observed()))

    def _observed(self) -> Observation:
        if self.observation is None:
            raise RuntimeError(f"{self.party_id} decides before it observed the table")
        return self.observation

    def _decided(self, decision: Decision) -> Decision:
        self.decision = decision
        self.model.notify_turn(self, decision)  # in completion order: for display only
        return decision

    # -- phase 3 ---------------------------------------------------------------------------
    def apply(self) -> Move:
        """Validate the decided action against what the agent saw, take it and record it.

        An action that is still invalid here (a policy that skipped validation) becomes
        ``hold`` and counts as an invalid turn, like an unrepaired LLM reply.
        """
        obs, decision = self._observed(), self.decision
        if decision is None:
            raise RuntimeError(f"{self.party_id} applies a move before deciding it")
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
        self.move = Move(obs.round, self.party_id, action, valid, before, self.position)
        self.record(self.move, decision)
        self.model.this_round.append(self.move)
        return self.move

    def record(self, move: Move, decision: Decision) -> None:
        """This turn's row of the ``moves`` table and its rows of the ``calls`` table."""
        a = move.action
        self.model.datacollector.add_table_row(
            "moves",
            {
                "round": move.round,
                "party": move.party,
                "action": a.kind.value,
                "value": a.value,
                "target": a.target,
                "message": a.message,
                "valid": move.valid,
                "repaired": decision.repaired,
                "error": decision.error,
                "position_before": move.position_before,
                "position_after": move.position_after,
                "private_state": decision.private_state,
                "reasoning": decision.reasoning,
            },
        )
        self.model.record_calls(decision.calls, move.party)

    # -- the three phases at once (sequential order) ------------------------------------------
    def take_turn(self) -> Move:
        """Observe, decide and apply: one turn of the sequential order."""
        self.observe()
        self.model.decide_round([self])
        return self.apply()
