"""The LLM negotiator policy: one turn = one exchange (a call, one repair if needed), else ``hold``.

:class:`LLMPolicy` turns an observation into chat messages and a JSON schema (see
:mod:`parley.agents.prompting`), asks the injected :class:`LanguageModel` through the one
exchange path (:func:`parley.llm.exchange.exchange`), and validates the reply into a typed
:class:`~parley.grammar.Action` at the boundary. Its behaviour under a reflection condition
is set by a :class:`~parley.agents.prompting.Framing` that the condition wrappers of
:mod:`parley.agents.reflection` pass in (instructions, private-state field, output budget,
reasoning setting); without one it plays the plain ``none`` condition.

Failure handling, all recorded in the returned :class:`Decision`:

- fields a move does not use (a ``value`` on ``accept``...) are dropped, not held against it;
- an invalid reply gets ONE repair call that quotes the validation error; still invalid ->
  ``hold`` with ``valid=False`` (an invalid turn);
- :class:`LLMError` (a backend down for good after its own retries) -> ``hold``,
  ``valid=False``, the error and its fault kept in the decision and the call record; but a
  configuration fault (:data:`~parley.llm.interface.CONFIG_FAULTS`: a rejected key, an
  unknown model, a refused parameter, no quota, a reply cut by the token limit twice, a
  replay miss) is raised, and stops the run;
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
    parse_action,
    validate_action,
)
from parley.llm.exchange import exchange
from parley.llm.interface import LanguageModel, Request
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
        """Ask the model for this turn's action (repairing once); never raises LLM failures
        other than configuration faults."""
        framing = framing or Framing()
        messages = negotiator_messages(obs, framing)
        schema = turn_schema(obs, framing)
        seen: dict[str, str] = {}  # the last private state any reply carried

        def request(chat: list[dict[str, str]], k: int) -> Request:
            return Request.of(
                chat,
                max_tokens=framing.max_tokens + framing.reasoning_budget,
                temperature=self.temperature,
                seed=derive_seed(obs.seed, k),
                schema=schema,
                reasoning_effort=framing.reasoning_effort,
            )

        def read(obj: dict[str, Any]) -> Action:
            state = private_state(obj, framing)
            if state is not None:
                seen["state"] = state
            elif framing.state_key is not None:
                raise InvalidAction(f"missing the private '{framing.state_key}' field")
            return validate_action(unused_fields_dropped(parse_action(obj)), obs.table_view())

        def repair(text: str, error: str) -> Request:
            return request(repair_messages(messages, text, error), 1)

        out = await exchange(self.llm, request(messages, 0), read, repair=repair)
        action, valid, error = Action.hold(), False, out.error
        if out.stop_reason is not None:
            valid = out.error is None
        elif out.failure is not None:
            error = f"{out.failure.fault}: {out.failure}"
        elif out.value is not None:
            action, valid = out.value, True
        return Decision(
            action=action,
            valid=valid,
            repaired=out.repaired,
            error=error,
            private_state=seen.get("state"),
            reasoning="\n---\n".join(out.reasoning) or None,
            calls=out.calls,
            stop_reason=out.stop_reason,
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
    unless one is injected. A condition the model cannot honour (``native`` without a
    reasoning mode, another condition with reasoning that cannot be turned off) raises
    ``CapabilityError`` here, at model construction time.
    """
    if llm is None:
        from parley.llm.factory import make_llm

        llm = make_llm(params)
    temperature = float(params.get("temperature", 0.8))
    condition = params.get("condition", "none")
    budget = params.get("reasoning_budget")
    extra = {} if budget is None else {"reasoning_budget": int(budget)}
    policies: dict[str, Policy] = {
        p.id: wrap(LLMPolicy(llm, temperature=temperature), condition, **extra)
        for p in scenario.parties
    }
    return policies, llm
