"""The LLM authority: a language model writes a short ruling and imposes a value in range.

:class:`LLMJudge` is what :class:`~parley.agents.authority.AuthorityAgent` calls when
``authority="llm"``. It asks for ``{"ruling": ..., "value": ...}`` with ``value`` an enum
of allowed values (so small models stay in range). An invalid reply, a backend failure or
an exhausted budget returns the scenario's rule-based ruling with ``fallback`` naming why.
The ruling carries its call (a ``calls`` row, purpose ``authority``) in
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
from parley.grammar import InvalidAction, extract_json
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
    """

    def __init__(self, llm: LanguageModel, *, temperature: float = 0.8, max_tokens: int = 256):
        self.llm = llm
        self.temperature = temperature
        self.max_tokens = max_tokens

    def rule(
        self, scenario: Scenario, trigger: str, context: Mapping[str, Any], *, fallback: Ruling
    ) -> Ruling:
        """The LLM's ruling, or ``fallback`` (with ``fallback`` set to the reason) if invalid;
        either way with the call made in ``calls``."""
        positions = dict(context.get("positions", {}))
        standing = context.get("standing")
        request = Request.of(
            authority_messages(scenario, trigger, context),
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            seed=ruling_seed(scenario, trigger, context),
            schema=ruling_schema(scenario, [*positions.values(), standing]),
        )
        try:
            completion = self.llm.complete(request)
        except LLMError as err:
            if err.fault in CONFIG_FAULTS:
                raise  # a misconfigured run stops rather than fall back in silence
            call = self._record(None, error=None, failure=err)
            return replace(fallback, fallback=f"LLM failed ({err.fault}): {err}", calls=(call,))
        except BudgetExceeded as err:
            return replace(fallback, fallback=f"budget: {err}")
        try:
            value, text = read_ruling(completion, scenario)
        except InvalidAction as err:
            call = self._record(completion, error=str(err))
            return replace(fallback, fallback=f"invalid LLM ruling: {err}", calls=(call,))
        call = self._record(completion, error=None)
        return Ruling(value, scenario.authority.name, "llm", trigger, text, calls=(call,))

    def _record(
        self, completion: Completion | None, error: str | None, failure: LLMError | None = None
    ) -> dict[str, Any]:
        return call_record(
            completion,
            purpose="authority",
            valid=error is None and not failure,
            repair=False,
            backend=self.llm.backend,
            model=self.llm.name,
            error=error,
            failure=failure,
        )


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


def read_ruling(completion: Completion, scenario: Scenario) -> tuple[float, str]:
    """The value (in range) and the ruling text (cut to 60 words); else InvalidAction."""
    obj = completion.parsed if completion.parsed is not None else extract_json(completion.text)
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
