"""Reflection conditions as ``Policy -> Policy`` wrappers (DESIGN.md §3).

How a wrapper and :class:`~parley.agents.llm_policy.LLMPolicy` cooperate: every wrapper is
itself a :class:`Policy` whose ``decide(obs)`` calls the policy it wraps with a
:class:`~parley.agents.prompting.Framing` — a small frozen record of what the condition
contributes to the call: the instructions template, the private-state field and its schema,
the output budget and the reasoning setting. Each wrapper rewrites only its own fields, so
they compose; the innermost :class:`LLMPolicy` builds the prompt and the request from the
final framing and extracts the private state from the reply (the negotiator keeps it and
hands it back, to its owner only, in the next observation).

:func:`wrap` applies a condition's layers in a fixed order, innermost first: the output
budget, then the condition's own layer (ledger, memo, diary or reasoning mode).

=================  ==========================================================  ==========
condition          layers                                                      budget
=================  ==========================================================  ==========
none               budget                                                      256
none_budget        budget (same prompt as ``none``)                            1024
bounded            budget + :class:`Ledger` (negotiation-structured ledger)     1024
private_memo       budget + :class:`Memo` (free-form memo, same size)          1024
private_persona    budget + :class:`PersonaDiary` (mood/background diary)      1024
native             budget + :class:`NativeReasoning` (``reasoning_effort``)    1024 + 8192
=================  ==========================================================  ==========

``native`` uses the ``none`` prompt, so it differs from ``none_budget`` only by the
model's reasoning mode; its reasoning gets :data:`REASONING_BUDGET` tokens (configurable,
``reasoning_budget``) ON TOP of the visible-action budget, because providers count
reasoning tokens inside the output cap, so the action is never starved. Every other
condition runs with reasoning OFF (the provider profile's switch). Both are checked when
the wrappers are built (at model construction), never a silent difference:
:class:`CapabilityError` for ``native`` on a model without a reasoning mode, and for any
other condition on a model that cannot turn reasoning off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from parley.agents.observation import Decision, Observation
from parley.agents.prompting import Framing
from parley.llm.interface import CapabilityError

SMALL_BUDGET = 256
SCAFFOLD_BUDGET = 1024
NATIVE_EFFORT = "medium"
#: Tokens for ``native``'s reasoning, on top of the visible-action budget (the default of
#: ``reasoning_budget`` / ``--reasoning-budget``; Gemini maps effort "medium" to about this).
REASONING_BUDGET = 8192

_LEDGER_FIELDS = {  # field -> maxLength in characters; about 130 words in all
    "priority": 100,
    "counterparts": 250,
    "concessions_given": 100,
    "concessions_received": 100,
    "acceptable_zone": 80,
    "next_move_reason": 150,
}
LEDGER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {k: {"type": "string", "maxLength": n} for k, n in _LEDGER_FIELDS.items()},
    "required": list(_LEDGER_FIELDS),
    "additionalProperties": False,
}
FREE_TEXT_SCHEMA: dict[str, Any] = {"type": "string", "maxLength": 800}  # the same size


class Reflection:
    """Base of the condition wrappers: forwards to ``inner`` with its framing applied.

    ``inner`` must accept a framing (an :class:`LLMPolicy` or another wrapper); a
    rule-based policy has no prompt to frame, so wrapping one is an error.
    """

    label = "reflection"

    def __init__(self, inner: Any) -> None:
        if not hasattr(inner, "llm"):
            raise TypeError(f"{type(self).__name__} wraps an LLM policy, not {inner!r}")
        self.inner = inner
        self.name = f"{self.label}({inner.name})"

    @property
    def llm(self) -> Any:
        return self.inner.llm

    def frame(self, framing: Framing) -> Framing:
        """This layer's contribution to the call."""
        return framing

    def decide(self, obs: Observation, framing: Framing | None = None) -> Decision:
        return self.inner.decide(obs, self.frame(framing or Framing()))

    async def adecide(self, obs: Observation, framing: Framing | None = None) -> Decision:
        return await self.inner.adecide(obs, self.frame(framing or Framing()))


class TokenBudget(Reflection):
    """Sets the output budget (``max_tokens``) of every call."""

    label = "budget"

    def __init__(self, inner: Any, max_tokens: int) -> None:
        super().__init__(inner)
        self.max_tokens = max_tokens

    def frame(self, framing: Framing) -> Framing:
        return replace(framing, max_tokens=self.max_tokens)


class PrivateState(Reflection):
    """A private field filled before the action, carried over to its owner next round.

    Subclasses name the field, its schema and the template of their instructions.
    """

    state_key = ""
    state_schema: dict[str, Any] = {}

    def frame(self, framing: Framing) -> Framing:
        return replace(
            framing,
            instructions=f"condition_{self.label}",
            state_key=self.state_key,
            state_schema=self.state_schema,
            state_label=self.state_key,
        )


class Ledger(PrivateState):
    """Bounded reflection: a private, negotiation-structured ledger before the action."""

    label = "bounded"
    state_key = "ledger"
    state_schema = LEDGER_SCHEMA


class Memo(PrivateState):
    """Orthogonal private state A: a free-form memo, not structured around the negotiation."""

    label = "private_memo"
    state_key = "memo"
    state_schema = FREE_TEXT_SCHEMA


class PersonaDiary(PrivateState):
    """Orthogonal private state B: a diary of the persona's mood and background."""

    label = "private_persona"
    state_key = "diary"
    state_schema = FREE_TEXT_SCHEMA


class NativeReasoning(Reflection):
    """The model's own reasoning mode, with ``budget`` tokens of room on top of the action's;
    refuses a model that has none."""

    label = "native"

    def __init__(
        self, inner: Any, effort: str = NATIVE_EFFORT, budget: int = REASONING_BUDGET
    ) -> None:
        super().__init__(inner)
        if budget < 0:
            raise ValueError(f"reasoning_budget must be at least 0, got {budget}")
        refused = refusal("native", self.llm)
        if refused:
            raise CapabilityError(refused)
        self.effort = effort
        self.budget = budget

    def frame(self, framing: Framing) -> Framing:
        return replace(framing, reasoning_effort=self.effort, reasoning_budget=self.budget)


Layer = Callable[[Any], Reflection]
LAYERS: dict[str, tuple[Layer, ...]] = {
    "none": (partial(TokenBudget, max_tokens=SMALL_BUDGET),),
    "none_budget": (partial(TokenBudget, max_tokens=SCAFFOLD_BUDGET),),
    "bounded": (partial(TokenBudget, max_tokens=SCAFFOLD_BUDGET), Ledger),
    "private_memo": (partial(TokenBudget, max_tokens=SCAFFOLD_BUDGET), Memo),
    "private_persona": (partial(TokenBudget, max_tokens=SCAFFOLD_BUDGET), PersonaDiary),
    "native": (partial(TokenBudget, max_tokens=SCAFFOLD_BUDGET), NativeReasoning),
}


def refusal(condition: str, llm: Any) -> str | None:
    """Why ``llm`` cannot run ``condition`` as defined, in one line (None: it can).

    ``native`` needs a reasoning mode; every other condition runs with reasoning off, which
    some models cannot do. Asked before runs start (:mod:`parley.cli.preflight`), so that a
    sweep refuses a grid it cannot honour instead of recording failed runs.
    """
    if condition == "native":
        if getattr(llm, "supports_reasoning", False):
            return None
        return (
            f"condition 'native' needs a model with a reasoning mode; "
            f"{getattr(llm, 'backend', '?')} model '{getattr(llm, 'name', '?')}' has none "
            f"(choose another condition or a reasoning model)"
        )
    off = getattr(llm, "reasoning_refusal", None)
    return f"condition '{condition}' runs with reasoning off, but {off}" if off else None


def wrap(policy: Any, condition: str, *, reasoning_budget: int = REASONING_BUDGET) -> Reflection:
    """``policy`` under reflection ``condition``: its layers applied innermost first.

    Raises:
        CapabilityError: ``native`` on a model without a reasoning mode, or another
            condition on a model that cannot turn reasoning off (one line saying why).
    """
    if condition not in LAYERS:
        raise ValueError(f"unknown condition '{condition}' (one of: {', '.join(LAYERS)})")
    llm = getattr(policy, "llm", None)
    refused = refusal(condition, llm) if condition != "native" and llm is not None else None
    if refused:  # (native is refused by its layer)
        raise CapabilityError(refused)
    wrapped = policy
    for layer in LAYERS[condition]:
        extra = {"budget": reasoning_budget} if layer is NativeReasoning else {}
        wrapped = layer(wrapped, **extra)
    return wrapped
