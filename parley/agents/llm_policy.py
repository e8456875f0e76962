"""The LLM negotiator policy: one turn = one call, one repair if needed, else ``hold``.

:class:`LLMPolicy` turns an observation into chat messages and a JSON schema (see
:mod:`parley.agents.prompting`), calls the injected :class:`LanguageModel`, and validates
the reply into a typed :class:`~parley.grammar.Action` at the boundary. Its behaviour under
a reflection condition is set by a :class:`~parley.agents.prompting.Framing` that the
condition wrappers of :mod:`parley.agents.reflection` pass in (instructions, private-state
field, output budget, reasoning setting); without one it plays the plain ``none`` condition.

Failure handling, all recorded in the returned :class:`Decision`:

- fields a move does not use (a ``value`` on ``accept``...) are dropped, not held against it;
- an invalid reply gets ONE repair call that quotes the validation error; still invalid ->
  ``hold`` with ``valid=False`` (an invalid turn);
- :class:`LLMError` (a backend down for good after its own retries) -> ``hold``,
  ``valid=False``, the error and its fault kept in the decision and the call record; but a
  configuration fault (:data:`~parley.llm.interface.CONFIG_FAULTS`: a rejected key, an
  unknown model, a replay miss) is raised, and stops the run;
- :class:`BudgetExceeded` -> ``hold`` and ``stop_reason``, which stops the run cleanly.

Every call made yields one call record (purpose ``decide`` or ``repair``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from parley.agents.observation import Decision, Observation
from parley.agents.policy import Policy
from parley.agents.prompting import (
    STATE_WORDS,
    Framing,
    negotiator_messages,
    repair_messages,
    turn_schema,
)
from parley.agents.reflection import wrap
from parley.concurrency import run_sync
from parley.grammar import (
    VALUE_KINDS,
    Action,
    ActionKind,
    InvalidAction,
    extract_json,
    parse_action,
    validate_action,
)
from parley.llm.interface import (
    CONFIG_FAULTS,
    BudgetExceeded,
    Completion,
    LanguageModel,
    LLMError,
    Request,
)
from parley.llm.records import call_record
from parley.scenarios.schema import Scenario

_GOLDEN = 0x9E3779B1  # spreads derived seeds; any odd constant would do


def derive_seed(seed: int, k: int) -> int:
    """The ``k``-th seed derived from a turn's seed (k=0 is the seed itself)."""
    return (seed + k * _GOLDEN) % 2**31


class LLMPolicy:
    """A negotiator policy backed by a :class:`LanguageModel`.

    Args:
        llm: the language model (shared by all negotiators of a run).
        temperature: sampling temperature of every call.
    """

    name = "llm"

    def __init__(self, llm: LanguageModel, *, temperature: float = 0.8) -> None:
        self.llm = llm
        self.temperature = temperature

    def decide(self, obs: Observation, framing: Framing | None = None) -> Decision:
        return run_sync(self.adecide(obs, framing))

    async def adecide(self, obs: Observation, framing: Framing | None = None) -> Decision:
        """Ask the model for this turn's action (repairing once); never raises LLM failures."""
        framing = framing or Framing()
        messages = negotiator_messages(obs, framing)
        schema = turn_schema(obs, framing)
        turn = _Turn(self, obs, framing, schema)
        try:
            reply = await turn.call(messages, derive_seed(obs.seed, 0), "decide")
            error = turn.read(reply)
            if error is not None:
                repair = repair_messages(messages, _text(reply), error)
                reply = await turn.call(repair, derive_seed(obs.seed, 1), "repair")
                turn.repaired = True
                error = turn.read(reply)
            if error is not None:
                return turn.decision(Action.hold(), valid=False, error=error)
            return turn.decision(turn.action)  # type: ignore[arg-type]
        except LLMError as err:
            if err.fault in CONFIG_FAULTS:
                raise  # a misconfigured run stops; it must not finish as invalid holds
            turn.failed(err)
            return turn.decision(Action.hold(), valid=False, error=f"{err.fault}: {err}")
        except BudgetExceeded as err:
            return turn.decision(
                Action.hold(), valid=turn.error is None, error=turn.error, stop_reason=str(err)
            )


class _Turn:
    """The state of one turn in progress: calls made, last action, state, reasoning."""

    def __init__(
        self, policy: LLMPolicy, obs: Observation, framing: Framing, schema: dict[str, Any]
    ) -> None:
        self.policy, self.obs, self.framing, self.schema = policy, obs, framing, schema
        self.calls: list[dict[str, Any]] = []
        self.reasoning: list[str] = []
        self.action: Action | None = None
        self.state: str | None = None
        self.error: str | None = None
        self.repaired = False
        self.purpose = "decide"

    async def call(self, messages: list[dict[str, str]], seed: int, purpose: str) -> Completion:
        self.purpose = purpose
        request = Request.of(
            messages,
            max_tokens=self.framing.max_tokens,
            temperature=self.policy.temperature,
            seed=seed,
            schema=self.schema,
            reasoning_effort=self.framing.reasoning_effort,
        )
        completion = await self.policy.llm.acomplete(request)
        if completion.reasoning:
            self.reasoning.append(completion.reasoning)
        return completion

    def read(self, completion: Completion) -> str | None:
        """Validate a reply; record its call; return the validation error or None."""
        self.action, self.error = None, None
        try:
            obj = (
                completion.parsed
                if completion.parsed is not None
                else extract_json(completion.text)
            )
            state = private_state(obj, self.framing)
            if state is not None:
                self.state = state
            elif self.framing.state_key is not None:
                raise InvalidAction(f"missing the private '{self.framing.state_key}' field")
            self.action = validate_action(
                unused_fields_dropped(parse_action(obj)), self.obs.table_view()
            )
        except InvalidAction as err:
            self.error = str(err)
        self.calls.append(self._record(completion, valid=self.error is None))
        return self.error

    def failed(self, err: LLMError) -> None:
        llm = self.policy.llm
        self.calls.append(
            call_record(
                None,
                purpose=self.purpose,
                valid=False,
                repair=self.purpose == "repair",
                backend=llm.backend,
                model=llm.name,
                failure=err,
            )
        )

    def _record(self, completion: Completion, valid: bool) -> dict[str, Any]:
        llm = self.policy.llm
        return call_record(
            completion,
            purpose=self.purpose,
            valid=valid,
            repair=self.purpose == "repair",
            backend=llm.backend,
            model=llm.name,
            error=self.error,
        )

    def decision(self, action: Action, valid: bool = True, **extra: Any) -> Decision:
        return Decision(
            action=action,
            valid=valid,
            repaired=self.repaired,
            private_state=self.state,
            calls=self.calls,
            reasoning="\n---\n".join(self.reasoning) or None,
            **extra,
        )


def unused_fields_dropped(action: Action) -> Action:
    """The action without a ``value`` or ``target`` its move does not use.

    The schema requires every key, so a small model often fills ``value`` on an ``accept`` or
    ``target`` on a ``propose``; the move itself is clear, so the stray field is ignored rather
    than counted as an invalid turn. A missing field a move needs is still invalid.
    """
    update: dict[str, Any] = {}
    if action.kind not in VALUE_KINDS and action.value is not None:
        update["value"] = None
    if action.kind != ActionKind.SUPPORT and action.target is not None:
        update["target"] = None
    return action.model_copy(update=update) if update else action


def _text(completion: Completion) -> str:
    if completion.text:
        return completion.text
    return json.dumps(completion.parsed) if completion.parsed is not None else ""


def private_state(obj: Mapping[str, Any], framing: Framing) -> str | None:
    """The reply's private state as compact JSON, cut to about :data:`STATE_WORDS` words.

    Only the fields the condition's schema names are kept, so a reply cannot smuggle extra
    text into what its owner will see next round.
    """
    key = framing.state_key
    if key is None or not obj.get(key):
        return None
    value = obj[key]
    if isinstance(value, Mapping):
        names = list((framing.state_schema or {}).get("properties", value))
        share = max(5, STATE_WORDS // max(1, len(names)))
        value = {n: _cut(str(value[n]), share) for n in names if value.get(n)}
        if not value:
            return None
    else:
        value = _cut(str(value), STATE_WORDS)
    return json.dumps(value, ensure_ascii=False)


def _cut(text: str, words: int) -> str:
    return " ".join(text.split()[:words])


def build_llm_policies(
    scenario: Scenario, params: Mapping[str, Any], llm: LanguageModel | None = None
) -> tuple[dict[str, Policy], LanguageModel]:
    """One condition-wrapped :class:`LLMPolicy` per party, sharing one language model.

    The model is built from the plain parameters (``backend``, ``model``, ``base_url``...)
    unless one is injected. A condition the model cannot honour raises ``CapabilityError``
    here, at model construction time.
    """
    if llm is None:
        from parley.llm.factory import make_llm

        llm = make_llm(params)
    temperature = float(params.get("temperature", 0.8))
    condition = params.get("condition", "none")
    policies: dict[str, Policy] = {
        p.id: wrap(LLMPolicy(llm, temperature=temperature), condition) for p in scenario.parties
    }
    return policies, llm
