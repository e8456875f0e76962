"""The endpoint probe behind ``parley check``: one real turn per condition, before any run.

For each distinct configuration (model, server, condition...) of a set of runs, the probe
builds the run's own :class:`~parley.model.model.NegotiationModel` (so the same factory,
wrappers, condition framing, schema, token budget and reasoning setting) and asks its first
negotiator for the opening turn of a built-in scenario, through the exact decision path a
run takes (:meth:`LLMPolicy.adecide`). The cache is off and no budget applies: the probe
asks the server itself. Each probe reports whether the server accepted the request,
whether the answer was a valid action, reasoning tokens and text, the finish reason,
latency, tokens and the estimated cost, and names the problem if there is one:

- the request was refused (a configuration fault, e.g. HTTP 400 for a parameter the
  provider does not accept, a rejected key, no quota), or failed (after its retries);
- the answer was no valid action even after its repair;
- the answer was cut off by the token limit (``finish_reason == "length"``);
- a non-``native`` condition reasoned (it would not mean the same as elsewhere), or
  ``native`` came back with no reasoning at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from parley.llm.interface import LLMError

#: Parameters that do not change what one request sends (a probe per distinct rest).
_NOT_IN_REQUEST = frozenset(
    {
        "scenario",
        "seed",
        "rng",
        "turn_order",
        "max_rounds",
        "history_window",
        "authority",
        "cache",
        "cache_path",
        "max_tokens_total",
        "max_calls",
        "max_cost_usd",
        "max_concurrency",
    }
)
NATIVE = "native"


@dataclass(frozen=True)
class ProbeResult:
    """What one probe found (one row of the ``parley check`` table)."""

    model: str
    condition: str
    accepted: bool
    valid: bool
    action: str | None = None
    repaired: bool = False
    reasoning_tokens: int = 0
    reasoning_returned: bool = False
    finish_reason: str | None = None
    latency_s: float = 0.0
    tokens: int = 0
    cost_usd: float | None = None
    problem: str | None = None
    calls: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None


def needs_probe(params: Mapping[str, Any]) -> bool:
    """Whether runs with ``params`` call a remote LLM server worth probing first.

    LLM negotiators on a non-embedded backend, not replaying a cache (a replay never calls
    the server).
    """
    return (
        params.get("policy") == "llm"
        and (params.get("backend") or "embedded") != "embedded"
        and params.get("cache") != "replay"
    )


def probe_configs(cells: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One parameter set per distinct request configuration among ``cells`` (first seen)."""
    seen: dict[str, dict[str, Any]] = {}
    for params in cells:
        if not needs_probe(params):
            continue
        key = json.dumps(
            {k: v for k, v in params.items() if k not in _NOT_IN_REQUEST}, sort_keys=True
        )
        seen.setdefault(key, dict(params))
    return list(seen.values())


def probe(params: Mapping[str, Any]) -> ProbeResult:
    """One real opening turn with ``params`` (NegotiationModel keyword arguments)."""
    from parley.llm.interface import CapabilityError
    from parley.model.model import NegotiationModel

    condition = str(params.get("condition") or "none")
    name = str(params.get("model") or "")
    quiet = {"cache": "off", "max_tokens_total": None, "authority": "rule"}
    try:
        model = NegotiationModel(**{**params, **quiet}, rng=0)
    except (CapabilityError, ValueError) as err:  # refused by parley before any request
        return ProbeResult(name, condition, False, False, problem=f"cannot run: {err}")
    try:
        model.begin_round()  # round 1, as a run's first turn sees it
        agent = model.negotiators[0]
        decision = model.loop.run(agent.policy.adecide(agent.observe()))
    except LLMError as err:  # a configuration fault: the run would stop here
        from parley.experiments.halt import failure_reason

        # The calls made before it (if the LLM layer kept them): a reply cut off by the token
        # limit was answered, a refused request was not.
        answered = list(getattr(err, "calls", None) or [])
        result = _measured(name, condition, answered, params)
        accepted = err.fault == "truncated" or (bool(answered) and result.accepted)
        return replace(result, accepted=accepted, valid=False, problem=failure_reason(err))
    finally:
        model.loop.close()
    result = _measured(name, condition, list(decision.calls), params)
    result = replace(
        result,
        valid=bool(decision.valid),
        action=decision.action.describe() if decision.valid else None,
        repaired=bool(decision.repaired),
        reasoning_returned=result.reasoning_returned or bool(decision.reasoning),
    )
    return _with_problem(result, list(decision.calls), decision.error)


def _measured(
    name: str, condition: str, calls: list[dict[str, Any]], params: Mapping[str, Any]
) -> ProbeResult:
    """What the call records of one probe say (tokens, latency, cost, finish reason...)."""
    first = calls[0] if calls else {}
    finish = [c.get("finish_reason") for c in calls if c.get("finish_reason")]
    costs = [c.get("cost_usd") for c in calls]
    billed = params.get("backend") != "embedded"
    return ProbeResult(
        model=str(first.get("model") or name),
        condition=condition,
        accepted=bool(calls) and not any(c.get("fault") for c in calls),
        valid=False,
        reasoning_tokens=sum(int(c.get("reasoning_tokens") or 0) for c in calls),
        reasoning_returned=any(bool(c.get("reasoning_returned")) for c in calls),
        finish_reason=finish[-1] if finish else None,
        latency_s=sum(float(c.get("latency_s") or 0.0) for c in calls),
        tokens=sum(int(c.get("total_tokens") or 0) for c in calls),
        cost_usd=None if billed and any(c is None for c in costs) else sum(c or 0.0 for c in costs),
        calls=len(calls),
    )


def _with_problem(r: ProbeResult, calls: list[dict[str, Any]], error: str | None) -> ProbeResult:
    faults = [c.get("fault") for c in calls if c.get("fault")]
    finish = [c.get("finish_reason") for c in calls]
    if faults:
        text = (error or "").removeprefix(f"{faults[0]}: ")
        problem = f"the request failed ({faults[0]}): {text}".rstrip(": ")
    elif "length" in finish:
        problem = "the answer was cut off by the token limit (finish_reason=length)"
    elif not r.valid:
        problem = f"no valid action after the repair: {error or 'invalid answer'}"
    elif r.condition != NATIVE and (r.reasoning_tokens or r.reasoning_returned):
        problem = (
            f"the model reasoned ({r.reasoning_tokens} reasoning tokens) under '{r.condition}', "
            "a condition without reasoning"
        )
    elif r.condition == NATIVE and not (r.reasoning_tokens or r.reasoning_returned):
        problem = "'native' but the model returned no reasoning (tokens or text)"
    else:
        return r
    return replace(r, problem=problem)


HEAD = [
    "model",
    "condition",
    "accepted",
    "valid action",
    "reasoning tok",
    "finish",
    "latency s",
    "tokens",
    "cost $",
]


def table_text(results: list[ProbeResult]) -> str:
    """The probe results as a plain-text table, then one line per problem."""
    rows = [
        [
            r.model,
            r.condition,
            "yes" if r.accepted else "no",
            (r.action or "yes") + (" (repaired)" if r.repaired else "") if r.valid else "no",
            str(r.reasoning_tokens) + (" +text" if r.reasoning_returned else ""),
            r.finish_reason or "–",
            f"{r.latency_s:.2f}",
            str(r.tokens),
            _cost(r),
        ]
        for r in results
    ]
    widths = [max(len(x) for x in col) for col in zip(HEAD, *rows, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [HEAD, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"problem: {r.model} · {r.condition}: {r.problem}" for r in results if r.problem]
    return "\n".join(lines)


def _cost(r: ProbeResult) -> str:
    if not r.calls:
        return "–"  # no answer, no bill
    return "unpriced" if r.cost_usd is None else f"{r.cost_usd:.6f}"


__all__ = ["ProbeResult", "needs_probe", "probe", "probe_configs", "table_text"]
