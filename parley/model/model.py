"""NegotiationModel: the Mesa model of one negotiation under one reflection condition.

A round is three named agent phases, run through AgentSet verbs (see
:mod:`parley.agents.negotiator`): every negotiator ``observe``\\ s, the model gathers the
decisions in one place (:meth:`NegotiationModel.decide_all`, concurrent LLM calls on the
run's event loop), then every negotiator ``apply``\\ s its move and records it. In the
sequential order the negotiators ``take_turn`` (the three phases) one after another in a
shuffled order (``shuffle_do``). After the round the model updates the table, checks the
terminal rules and collects its reporters.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import mesa

from parley.agents.authority import AuthorityAgent, Ruling
from parley.agents.factory import build_judge, build_policies
from parley.agents.negotiator import NegotiatorAgent
from parley.agents.observation import Decision, Move
from parley.concurrency import LoopThread, gather_bounded
from parley.config import TURN_ORDERS, RunConfig
from parley.grammar import ActionKind
from parley.llm.interface import serializes_calls
from parley.llm.records import CALL_COLUMNS
from parley.model import reporters
from parley.model.coalitions import coalition_graph, coalitions, membership
from parley.model.table import spread, standing_proposal
from parley.model.terminal import Outcome, authority_trigger, is_compromise
from parley.scenarios.loader import load_scenario

__all__ = ["TURN_ORDERS", "NegotiationModel", "Outcome"]


class NegotiationModel(mesa.Model):
    """One negotiation: negotiators bargain round by round until compromise or authority.

    The parameters are those of :class:`parley.config.RunConfig` (their choices, defaults
    and checks live there), given as keyword arguments or as a ready ``config``. Every one
    is a plain picklable value, so the same signature serves the CLI, ``batch_run``, the
    Solara app and notebooks; ``llm`` (an object) is the one exception, for tests and
    notebooks that inject a model directly.

    Args:
        config: a run configuration (keyword arguments, if any, override its values).
        llm: an already built LLM object (overrides backend/model/base_url).
        rng: seed (int) or numpy Generator; all randomness of the run flows from it.
        **params: :class:`~parley.config.RunConfig` fields, e.g. ``scenario``, ``policy``,
            ``condition``, ``turn_order``, ``max_rounds``, ``backend``, ``model``.

    Raises:
        ValueError: an unknown parameter or a bad value (one line naming it).
    """

    def __init__(
        self, config: RunConfig | None = None, *, llm: Any = None, rng: Any = None, **params: Any
    ) -> None:
        super().__init__(rng=rng)
        if config is None:
            config = RunConfig.from_kwargs(params)
        elif params:
            config = RunConfig.from_kwargs({**config.kwargs(), **params})
        self.config = config
        # `Model.scenario` is Mesa's own (mesa.experimental.scenarios): ours is `spec`.
        self.spec = load_scenario(config.scenario)
        self.params = {**config.kwargs(), "rng": rng}
        self.condition = config.condition
        self.turn_order = config.turn_order
        protocol = self.spec.protocol
        self.max_rounds = config.max_rounds or protocol.max_rounds
        window = config.history_window
        self.history_window = protocol.history_window if window is None else window
        span = self.spec.issue.span
        self.agreement_tolerance = protocol.agreement_tolerance * span
        self.coalition_tolerance = protocol.coalition_tolerance * span

        policies, self.llm = build_policies(self.spec, self.params, llm=llm)
        # A backend whose calls must not overlap (the embedded model) gets them one at a
        # time in unique_id order, so that a seed reproduces the run.
        self.max_concurrency = 1 if serializes_calls(self.llm) else config.max_concurrency
        for party in self.spec.parties:
            NegotiatorAgent(self, party, policies[party.id])
        self.parties = self.agents_by_type[NegotiatorAgent]  # an AgentSet, unique_id order
        self.authority = AuthorityAgent(self, self.spec, judge=build_judge(self.params, self.llm))

        # An observer called as each negotiator's decision arrives (progress displays);
        # not a parameter: it never changes the run.
        self.on_turn: Callable[[NegotiationModel, str, Decision], None] | None = None
        # LLM decisions run on one event loop for the whole run (started on first use,
        # stopped when the run ends or the model is garbage-collected).
        self.loop = LoopThread()
        weakref.finalize(self, self.loop.close)
        self.round = 0
        self.history: list[tuple[Move, ...]] = []
        self.this_round: list[Move] = []  # moves applied so far in the current round
        self._played = False  # the round's agent phases already ran (astep)
        self.escalations = 0
        self.supports: list[tuple[str, str]] = []
        self.outcome: Outcome | None = None
        self.ruling: Ruling | None = None
        self.update_table()
        self.spreads = [spread(self.positions)]
        self.datacollector = mesa.DataCollector(
            model_reporters=reporters.MODEL_REPORTERS,
            agenttype_reporters={
                NegotiatorAgent: reporters.NEGOTIATOR_REPORTERS,
                AuthorityAgent: reporters.AUTHORITY_REPORTERS,
            },
            tables={"moves": reporters.MOVE_COLUMNS, "calls": CALL_COLUMNS},
        )
        self.datacollector.collect(self)

    # -- views ---------------------------------------------------------------------------
    @property
    def negotiators(self) -> list[NegotiatorAgent]:
        """Negotiators in ``unique_id`` order (the order results are applied in)."""
        return list(self.parties)

    @property
    def positions(self) -> dict[str, float]:
        return {a.party_id: a.position for a in self.parties}

    @property
    def decisions(self) -> dict[str, Decision]:
        """Each negotiator's latest decision, by party id."""
        return {a.party_id: a.decision for a in self.parties if a.decision is not None}

    def standing_of(self, positions: dict[str, float]) -> tuple[float | None, tuple[str, ...]]:
        """The standing proposal of ``positions`` and its backers."""
        return standing_proposal(positions)

    # -- the round -----------------------------------------------------------------------
    def step(self) -> None:
        """One round: the agents' phases in the configured turn order, then the table."""
        if not self.running:
            return
        if not self._played:
            self.begin_round()
            with self._closing_loop_on_error():
                if self.turn_order == "simultaneous":
                    self.parties.do("observe")  # seeds drawn in unique_id order
                    self.decide_round(self.parties)
                    self.parties.do("apply")  # applied and recorded in unique_id order
                else:
                    self.parties.shuffle_do("take_turn")
        self._played = False
        self.end_round()

    async def astep(self) -> None:
        """One round like :meth:`step`, with the LLM decisions awaited on the caller's loop.

        For a driver that steps many models on one event loop. The agents' phases run
        here; then :meth:`step` is called for the rest of the round, so Mesa's clock
        (``model.time``, ``model.steps``, which key the DataCollector) advances as always.
        The recorded run is identical to :meth:`step`'s.
        """
        if not self.running:
            return
        self.begin_round()
        with self._closing_loop_on_error():
            if self.turn_order == "simultaneous":
                self.parties.do("observe")
                await self.decide_all(self.parties)
                self.parties.do("apply")
            else:
                order = list(self.parties)
                self.random.shuffle(order)  # the draw shuffle_do makes
                for agent in order:
                    agent.observe()
                    await self.decide_all([agent])
                    agent.apply()
        self._played = True
        if self.authority.judge is None:
            self.step()
        else:  # the LLM authority's call is synchronous: keep the caller's loop free
            await asyncio.to_thread(self.step)

    @contextmanager
    def _closing_loop_on_error(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            # The run cannot go on (e.g. a rejected API key): free its event loop now, not
            # at garbage collection, where pending tasks would be destroyed mid-flight.
            self._played = False
            self.loop.close()
            raise

    def begin_round(self) -> None:
        """Phase 0 of a round (``step`` calls it; an async driver of the phases too)."""
        self.round += 1
        self.this_round = []

    def decide_round(self, agents: Sequence[NegotiatorAgent]) -> None:
        """Every agent of ``agents`` decides on its observation: rule policies right away
        (they never wait on I/O, and an event loop would cost more than the whole round —
        benchmarks/README.md), LLM policies concurrently on the run's event loop."""
        if all(a.decides_now for a in agents):
            for agent in agents:
                agent.decide_now()
        else:
            self.loop.run(self.decide_all(agents))

    async def decide_all(self, agents: Sequence[NegotiatorAgent]) -> list[Decision]:
        """The decisions of ``agents``, at most ``max_concurrency`` in flight, in their order
        (whatever order they complete in)."""
        return await gather_bounded([a.decide() for a in agents], self.max_concurrency)

    def end_round(self) -> None:
        """Tally the round's moves, update the table, check terminal rules, collect."""
        moves = tuple(self.this_round)
        self.history.append(moves)
        self.escalations = sum(m.action.kind == ActionKind.ESCALATE for m in moves)
        self.supports = [
            (m.party, m.action.target)  # type: ignore[misc]
            for m in moves
            if m.action.kind == ActionKind.SUPPORT
        ]
        decisions = self.decisions
        for move in moves:  # the first stop, in the order the moves were applied
            reason = decisions[move.party].stop_reason
            if reason and self.outcome is None:
                self.outcome = Outcome("stopped", None, None, self.round, reason=reason)
        self.update_table()
        self.spreads.append(spread(self.positions))
        self.check_terminal()
        self.datacollector.collect(self)
        if not self.running:
            self.loop.close()

    def notify_turn(self, agent: NegotiatorAgent, decision: Decision) -> None:
        if self.on_turn is not None:
            self.on_turn(self, agent.party_id, decision)

    def record_calls(self, calls: Sequence[dict[str, Any]], party: str) -> None:
        """Rows of the ``calls`` table, stamped with this round, the party and condition."""
        for call in calls:
            row = {col: call.get(col) for col in CALL_COLUMNS}
            row.update(round=self.round, party=party, condition=self.condition)
            self.datacollector.add_table_row("calls", row)

    def update_table(self) -> None:
        """Recompute the standing proposal and the coalitions from current positions."""
        positions = self.positions
        self.standing, self.backers = standing_proposal(positions)
        self.graph = coalition_graph(positions, self.supports, self.coalition_tolerance)
        self.coalitions = coalitions(self.graph)
        ids = membership(self.coalitions)
        for agent in self.parties:
            agent.coalition = ids[agent.party_id]

    def check_terminal(self) -> None:
        """Compromise first; then escalation, deadlock, deadline (the authority decides)."""
        if self.outcome is not None:  # stopped by a budget cap or a policy
            self.running = False
            return
        if is_compromise(self.positions, self.standing, self.agreement_tolerance):
            self.outcome = Outcome("compromise", None, self.standing, self.round)
            self.running = False
            return
        trigger = authority_trigger(
            round_no=self.round,
            escalations=self.escalations,
            spreads=self.spreads,
            protocol=self.spec.protocol,
            max_rounds=self.max_rounds,
            span=self.spec.issue.span,
        )
        if trigger is not None:
            context = {"positions": self.positions, "standing": self.standing, "round": self.round}
            self.ruling = self.authority.intervene(trigger, context)  # records its own calls
            self.outcome = Outcome(
                "authority_decision", trigger, self.ruling.value, self.round, body=self.ruling.body
            )
            self.running = False

    # -- results -------------------------------------------------------------------------
    def utilities(self) -> dict[str, float]:
        """Each party's utility of the outcome (empty while running or if stopped)."""
        if self.outcome is None or self.outcome.value is None:
            return {}
        imposed = self.outcome.kind == "authority_decision"
        span = self.spec.issue.span
        return {p.id: p.utility(self.outcome.value, span, imposed) for p in self.spec.parties}

    def run(self, on_round: Any = None) -> Outcome | None:
        """Step until the run ends; ``on_round(model)`` is called after every round."""
        while self.running:
            self.step()
            if on_round is not None:
                on_round(self)
        return self.outcome
