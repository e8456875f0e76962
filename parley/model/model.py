"""NegotiationModel: the Mesa model of one negotiation under one reflection condition."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mesa

from parley.agents.authority import AuthorityAgent, Ruling
from parley.agents.factory import build_judge, build_policies
from parley.agents.negotiator import NegotiatorAgent
from parley.agents.observation import Decision, Move, Observation
from parley.agents.policy import RulePolicy
from parley.agents.seating import canonical_seats, seating, uses_llm
from parley.concurrency import LoopThread, gather_bounded
from parley.llm.records import CALL_COLUMNS
from parley.model import reporters
from parley.model.coalitions import coalition_graph, coalitions, membership
from parley.model.table import spread, standing_proposal
from parley.model.terminal import authority_trigger, is_compromise
from parley.scenarios.loader import load_scenario

TURN_ORDERS = ("simultaneous", "sequential")


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``compromise``, ``authority_decision`` or ``stopped`` (budget/error)."""

    kind: str
    trigger: str | None
    value: float | None
    round: int
    body: str | None = None
    reason: str | None = None


class NegotiationModel(mesa.Model):
    """One negotiation: negotiators bargain round by round until compromise or authority.

    Every keyword argument is a plain picklable value, so the same signature serves the CLI,
    ``batch_run``, the Solara app and notebooks. ``llm`` (an object) is the one exception,
    for tests and notebooks that inject a model directly.

    Args:
        scenario: built-in scenario name or path to a YAML file.
        policy: ``heuristic``, ``solver`` or ``llm``: every party's policy unless ``seats``
            says otherwise.
        seats: per-party policies on top of ``policy`` (a mixed table), as a mapping
            ``{"industry": "llm", "operator": "human"}`` or its canonical string
            ``"industry=llm,operator=human"`` (see :mod:`parley.agents.seating`).
        human_time_limit: seconds a human seat has for one turn; when they run out the
            move is a recorded ``hold`` (None: no limit).
        condition: reflection condition (``none``, ``none_budget``, ``bounded``,
            ``private_memo``, ``private_persona``, ``native``).
        backend: LLM backend, ``embedded`` or ``openai`` (for ``policy="llm"``).
        model: LLM model name (for the embedded backend: ``qwen2.5-0.5b`` or ``qwen2.5-1.5b``).
        base_url: OpenAI-compatible server URL (``openai`` backend).
        api_key_env: name of the environment variable holding the API key.
        server: kind of OpenAI-compatible server (``openai``, ``vllm``, ``ollama``,
            ``llamacpp``, ``generic``); None infers it from ``base_url``.
        structured: structured-output mode override (``json_schema``,
            ``json_object_schema``, ``json_object``, ``grammar``, ``text``); None picks the
            server kind's default.
        reasoning: the served model has a reasoning mode (needed by ``native``).
        turn_order: ``simultaneous`` (all decide on one observation) or ``sequential``.
        max_rounds: deadline in rounds (default: the scenario's).
        history_window: rounds of history each negotiator sees (default: the scenario's).
        temperature: sampling temperature of LLM calls.
        max_concurrency: LLM calls in flight at once in a simultaneous round.
        authority: ``rule`` (the scenario's rule) or ``llm`` (an LLM writes the ruling).
        cache: record/replay cache mode, ``off``, ``record``, ``replay`` or ``auto``.
        cache_path: SQLite file of the cache (default ``.parley/cache.sqlite``).
        max_tokens_total: budget cap on tokens for the run (None: no cap).
        timeout: seconds before one LLM request times out.
        max_retries: retries of a failed LLM request (429, 5xx, timeouts).
        llm: an already built LLM object (overrides backend/model/base_url).
        human: the move source of human seats (a callable, or a mapping party -> callable;
            see :mod:`parley.agents.human`); like ``llm``, an object, never a parameter.
        rng: seed (int) or numpy Generator; all randomness of the run flows from it.
    """

    def __init__(
        self,
        scenario: str = "grid_curtailment",
        policy: str = "heuristic",
        seats: str | dict[str, str] | None = None,
        condition: str = "none",
        backend: str = "embedded",
        model: str = "qwen2.5-0.5b",
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        server: str | None = None,
        structured: str | None = None,
        reasoning: bool = False,
        turn_order: str = "simultaneous",
        max_rounds: int | None = None,
        history_window: int | None = None,
        temperature: float = 0.8,
        max_concurrency: int = 5,
        authority: str = "rule",
        cache: str = "off",
        cache_path: str | None = None,
        max_tokens_total: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        human_time_limit: float | None = None,
        llm: Any = None,
        human: Any = None,
        rng: Any = None,
    ) -> None:
        super().__init__(rng=rng)
        if turn_order not in TURN_ORDERS:
            raise ValueError(
                f"unknown turn_order '{turn_order}' (one of: {', '.join(TURN_ORDERS)})"
            )
        if max_rounds is not None and max_rounds < 1:
            raise ValueError(f"max_rounds must be at least 1, got {max_rounds}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        # `Model.scenario` is Mesa's own (mesa.experimental.scenarios): ours is `spec`.
        self.spec = load_scenario(scenario)
        seats = canonical_seats(seats) or None  # a plain string: picklable, sweepable
        self.params = {
            k: v for k, v in locals().items() if k not in {"self", "llm", "human", "__class__"}
        }
        self.condition = condition
        self.turn_order = turn_order
        # The embedded model serializes calls and reuses its KV cache from the previous call,
        # whose content changes the numerics: its calls run one at a time in unique_id order
        # so that a seed reproduces the run.
        embedded = uses_llm(policy, seats) and backend == "embedded" and llm is None
        self.max_concurrency = 1 if embedded else max_concurrency
        protocol = self.spec.protocol
        self.max_rounds = max_rounds or protocol.max_rounds
        self.history_window = protocol.history_window if history_window is None else history_window
        span = self.spec.issue.span
        self.agreement_tolerance = protocol.agreement_tolerance * span
        self.coalition_tolerance = protocol.coalition_tolerance * span

        policies, self.llm = build_policies(self.spec, self.params, llm=llm, human=human)
        # Who plays each party (recorded in every table); a policy object shows its name.
        self.seating = (
            seating(self.spec.party_ids, policy, seats)
            if isinstance(policy, str)
            else {p: getattr(pol, "name", "custom") for p, pol in policies.items()}
        )
        for party in self.spec.parties:
            NegotiatorAgent(self, party, policies[party.id])
        self.authority = AuthorityAgent(self, self.spec, judge=build_judge(self.params, self.llm))

        # An observer called as each negotiator's decision arrives (progress displays);
        # not a parameter: it never changes the run.
        self.on_turn: Callable[[NegotiationModel, str, Decision], None] | None = None
        # LLM rounds run on one event loop for the whole run (started on first use, stopped
        # when the run ends or the model is garbage-collected).
        self.loop = LoopThread()
        weakref.finalize(self, self.loop.close)
        self.round = 0
        self.history: list[tuple[Move, ...]] = []
        self.decisions: dict[str, Decision] = {}
        self.escalations = 0
        self.supports: list[tuple[str, str]] = []
        self.outcome: Outcome | None = None
        self.ruling: Ruling | None = None
        self.update_table()
        self.spreads = [spread(self.positions)]
        self.datacollector = mesa.DataCollector(
            model_reporters=reporters.MODEL_REPORTERS,
            agent_reporters=reporters.AGENT_REPORTERS,
            tables={"moves": reporters.MOVE_COLUMNS, "calls": CALL_COLUMNS},
        )
        self.datacollector.collect(self)

    # -- views ---------------------------------------------------------------------------
    @property
    def negotiators(self) -> list[NegotiatorAgent]:
        """Negotiators in ``unique_id`` order (the order results are applied in)."""
        return sorted(self.agents_by_type[NegotiatorAgent], key=lambda a: a.unique_id)

    @property
    def positions(self) -> dict[str, float]:
        return {a.party_id: a.position for a in self.negotiators}

    # -- the round -----------------------------------------------------------------------
    def step(self) -> None:
        """One round: negotiate, update the table, check terminal rules, record."""
        if not self.running:
            return
        self.round += 1
        try:
            moves = self.negotiate()
        except BaseException:
            # The run cannot go on (e.g. a rejected API key): free its event loop now, not
            # at garbage collection, where pending tasks would be destroyed mid-flight.
            self.loop.close()
            raise
        self.history.append(tuple(moves))
        self.update_table()
        self.spreads.append(spread(self.positions))
        self.check_terminal()
        self.datacollector.collect(self)
        if not self.running:
            self.loop.close()

    def negotiate(self) -> list[Move]:
        """Observe, decide and apply, in the configured turn order."""
        self.escalations, self.supports = 0, []
        moves: list[Move] = []
        if self.turn_order == "simultaneous":
            agents = self.negotiators
            observations = [self.observe(a, ()) for a in agents]  # seeds drawn in uid order
            pairs = list(zip(agents, observations, strict=True))
            if all(isinstance(a.policy, RulePolicy) for a in agents):
                # Rule policies never wait on I/O; an event loop per round would cost more
                # than the whole round (benchmarks/README.md).
                decisions = [a.policy.decide(o) for a, o in pairs]
            else:
                coros = [self._decide_async(a, o) for a, o in pairs]
                decisions = self.loop.run(gather_bounded(coros, self.max_concurrency))
            for agent, obs, decision in zip(agents, observations, decisions, strict=True):
                moves.append(self.apply(agent, obs, decision))
        else:
            agents = self.negotiators
            self.random.shuffle(agents)
            for agent in agents:
                obs = self.observe(agent, tuple(moves))
                if isinstance(agent.policy, RulePolicy):
                    decision = agent.policy.decide(obs)
                    self._notify_turn(agent, decision)
                else:
                    decision = self.loop.run(self._decide_async(agent, obs))
                moves.append(self.apply(agent, obs, decision))
        return moves

    async def _decide_async(self, agent: NegotiatorAgent, obs: Observation) -> Decision:
        decision = await agent.policy.adecide(obs)
        self._notify_turn(agent, decision)  # in completion order: for display only
        return decision

    def _notify_turn(self, agent: NegotiatorAgent, decision: Decision) -> None:
        if self.on_turn is not None:
            self.on_turn(self, agent.party_id, decision)

    def observe(self, agent: NegotiatorAgent, this_round: tuple[Move, ...]) -> Observation:
        """What ``agent`` sees now; earlier moves of this round only in sequential order."""
        window = self.history[-self.history_window :] if self.history_window else []
        if this_round:
            window = [*window, this_round]
        standing, backers = standing_proposal(self.positions)
        return Observation(
            scenario=self.spec,
            party=agent.party,
            round=self.round,
            max_rounds=self.max_rounds,
            positions=self.positions,
            standing=standing,
            backers=backers,
            coalitions=tuple(self.coalitions),
            history=tuple(window),
            private_state=agent.private_state,
            seed=self.random.getrandbits(31),
            condition=self.condition,
        )

    def apply(self, agent: NegotiatorAgent, obs: Observation, decision: Decision) -> Move:
        move = agent.apply(obs, decision)
        self.decisions[agent.party_id] = decision
        match move.action.kind:
            case "escalate":
                self.escalations += 1
            case "support":
                self.supports.append((agent.party_id, move.action.target))  # type: ignore[arg-type]
        self.record(move, decision)
        if decision.stop_reason and self.outcome is None:
            self.outcome = Outcome("stopped", None, None, self.round, reason=decision.stop_reason)
        return move

    def record(self, move: Move, decision: Decision) -> None:
        a = move.action
        self.datacollector.add_table_row(
            "moves",
            {
                "round": move.round,
                "party": move.party,
                "policy": self.seating[move.party],
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
        for call in decision.calls:
            self.record_call(call, move.party)

    def record_call(self, call: dict[str, Any], party: str) -> None:
        """One row of the ``calls`` table, stamped with this round, the party and condition."""
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
        for agent in self.negotiators:
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
            self.ruling = self.authority.intervene(trigger, context)
            call = getattr(self.authority.judge, "last_call", None)  # the LLM authority's call
            if call is not None:
                self.record_call(call, "authority")
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
