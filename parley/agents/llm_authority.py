"""The LLM authority: a language model writes a short ruling and imposes a value in range.

:class:`LLMJudge` is what :class:`~parley.agents.authority.AuthorityAgent` calls when
``authority="llm"``. It asks for ``{"ruling": ..., "value": ...}`` with ``value`` an enum
of allowed values (so small models stay in range). It asks through the one exchange path
(:func:`parley.llm.exchange.exchange`), with reasoning off in every condition. An invalid
reply, a backend failure or an exhausted budget returns the scenario's rule-based ruling
with ``fallback`` naming why; a configuration fault (including a reply cut by the token
limit twice) is raised and stops the run. The ruling carries its calls (``calls`` rows,
purpose ``authority``, or ``repair`` for a truncated reply asked again) in
:attr:`~parley.agents.authority.Ruling.calls`, as a decision carries its calls.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from parley.agents.authority import Ruling
from parley.agents.prompting import num, render, value_grid
from parley.concurrency import run_sync
from parley.grammar import InvalidAction
from parley.llm.exchange import exchange
from parley.llm.interface import CapabilityError, LanguageModel, Request
from parley.scenarios.schema import Scenario

RULING_WORDS = 60
TRIGGERS = {
    "escalation": "parties asked you to decide",
    "deadlock": "the positions stopped converging",
    "deadline": "the deadline passed without agreement",
}


def ensure_llm(params: Mapping[str, Any], llm: LanguageModel | None) -> LanguageModel:
    """The run's shared language model, or one built from the plain parameters."""
    if llm is not None:
        return llm
    from parley.llm.factory import make_llm

    return make_llm(params)


class LLMJudge:
    """Writes the authority's ruling with a language model.

    Args:
        llm: the language model.
        temperature: sampling temperature of the call.
        max_tokens: output budget (a 60-word ruling plus the JSON around it).

    Raises:
        CapabilityError: the model cannot turn reasoning off (the authority rules with
            reasoning off in every condition, so a ruling means the same in each).
    """

    def __init__(self, llm: LanguageModel, *, temperature: float = 0.8, max_tokens: int = 256):
        refusal = getattr(llm, "reasoning_refusal", None)
        if refusal:
            raise CapabilityError(f"the LLM authority rules with reasoning off, but {refusal}")
        self.llm = llm
        self.temperature = temperature
        self.max_tokens = max_tokens

    def rule(
        self, scenario: Scenario, trigger: str, context: Mapping[str, Any], *, fallback: Ruling
    ) -> Ruling:
        """The LLM's ruling, or ``fallback`` (with ``fallback`` set to the reason) if invalid;
        either way with the calls made in ``calls``. Sync, on a private loop: a model asks
        :meth:`arule` on its run's loop instead."""
        return run_sync(self.arule(scenario, trigger, context, fallback=fallback))

    async def arule(
        self, scenario: Scenario, trigger: str, context: Mapping[str, Any], *, fallback: Ruling
    ) -> Ruling:
        """:meth:`rule` on the caller's event loop."""
        positions = dict(context.get("positions", {}))
        standing = context.get("standing")
        request = Request.of(
            authority_messages(scenario, trigger, context),
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            seed=ruling_seed(scenario, trigger, context),
            schema=ruling_schema(scenario, [*positions.values(), standing]),
        )
        out = await exchange(
            self.llm, request, lambda obj: ruling_of(obj, scenario), purpose="authority"
        )
        calls = tuple(out.calls)
        if out.stop_reason is not None:
            return replace(fallback, fallback=f"budget: {out.stop_reason}", calls=calls)
        if out.failure is not None:
            err = out.failure
            return replace(fallback, fallback=f"LLM failed ({err.fault}): {err}", calls=calls)
        if out.value is None:
            return replace(fallback, fallback=f"invalid LLM ruling: {out.error}", calls=calls)
        value, text = out.value
        return Ruling(value, scenario.authority.name, "llm", trigger, text, calls=calls)


def authority_messages(
    scenario: Scenario, trigger: str, context: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The authority's prompt: who it is and its remit, then the final table."""
    issue = scenario.issue
    positions = context.get("positions", {})
    lines = "\n".join(
        f"- {p.id} ({p.role}): {num(positions[p.id])}"
        for p in scenario.parties
        if p.id in positions
    )
    system = render(
        "authority_system",
        authority=scenario.authority.name,
        description=scenario.authority.description,
        issue=issue.name,
        unit=issue.unit,
        lo=num(issue.min),
        hi=num(issue.max),
        status_quo=num(issue.status_quo),
        words=RULING_WORDS,
    )
    user = render(
        "authority",
        public_brief=scenario.public_brief,
        trigger=TRIGGERS.get(trigger, trigger),
        round=context.get("round", "?"),
        positions=lines or "(none)",
        standing=num(context.get("standing")),
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def ruling_schema(scenario: Scenario, anchors: list[float | None]) -> dict[str, Any]:
    """``{"ruling": str, "value": enum}`` with the value on the issue's grid."""
    issue = scenario.issue
    grid = value_grid(issue, [issue.status_quo, *(a for a in anchors if a is not None)])
    return {
        "type": "object",
        "properties": {
            "ruling": {"type": "string", "maxLength": 450},
            "value": {"enum": [int(v) if float(v).is_integer() else v for v in grid]},
        },
        "required": ["ruling", "value"],
        "additionalProperties": False,
    }


def ruling_of(obj: Mapping[str, Any], scenario: Scenario) -> tuple[float, str]:
    """The value (in range) and the ruling text (cut to 60 words); else InvalidAction."""
    raw = obj.get("value")
    if isinstance(raw, bool) or raw is None:
        raise InvalidAction("missing numeric 'value'")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InvalidAction(f"'value' must be a number, got {raw!r}") from None
    issue = scenario.issue
    if not issue.min <= value <= issue.max:
        raise InvalidAction(f"value {value:g} is outside [{issue.min:g}, {issue.max:g}]")
    text = " ".join(str(obj.get("ruling") or "").split()[:RULING_WORDS])
    if not text:
        raise InvalidAction("missing 'ruling' text")
    return value, text


def ruling_seed(scenario: Scenario, trigger: str, context: Mapping[str, Any]) -> int:
    """A call seed derived from the run's state, so reruns ask the same question the same way."""
    key = json.dumps(
        [
            scenario.name,
            trigger,
            context.get("round"),
            sorted(context.get("positions", {}).items()),
        ],
        default=str,
    )
    return zlib.crc32(key.encode()) % 2**31
