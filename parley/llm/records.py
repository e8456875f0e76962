"""The shape of one recorded LLM call (a row of the ``calls`` table), built in one place.

Columns a validity screen reads: ``finish_reason`` (``stop``, ``length``... or None when the
call failed), ``reasoning_tokens``, ``reasoning_returned`` (reasoning text came back),
``unexpected_reasoning`` (the call asked for reasoning off, yet the server reported
reasoning tokens or text), ``fault`` (the failed call's fault kind) and ``profile`` (the
provider profile the request was written for).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parley.llm.interface import Completion, LLMError, Request

CALL_COLUMNS = [
    "round",
    "party",
    "condition",
    "purpose",  # decide | repair | authority
    "model",
    "backend",
    "profile",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "total_tokens",
    "latency_s",
    "cached",
    "valid",
    "repair",
    "error",
    "fault",
    "retries",
    "rate_limited",  # attempts answered 429 (rate limit), retried or not
    "system_fingerprint",
    "cost_usd",
    "finish_reason",
    "reasoning_returned",
    "unexpected_reasoning",
]


def empty_call_record(**fields: object) -> dict[str, object]:
    """A call record with every column present (missing ones None)."""
    unknown = set(fields) - set(CALL_COLUMNS)
    if unknown:
        raise KeyError(f"unknown call record fields: {sorted(unknown)}")
    return {col: fields.get(col) for col in CALL_COLUMNS}


def call_record(
    llm: Any,
    request: Request,
    completion: Completion | None,
    *,
    purpose: str,
    valid: bool,
    error: str | None = None,
    failure: LLMError | None = None,
) -> dict[str, object]:
    """One ``calls`` row for a call of ``llm``: from its completion, or from its failure.

    ``round``, ``party`` and ``condition`` are filled in by the model when it records.
    """
    who = {
        "purpose": purpose,
        "backend": llm.backend,
        "profile": getattr(llm, "profile", llm.backend),
        "repair": purpose == "repair",
    }
    if completion is None:
        return empty_call_record(
            **who,
            model=llm.name,
            valid=False,
            error=error or (str(failure) if failure else None),
            fault=failure.fault if failure else None,
            retries=failure.retries if failure else 0,
            rate_limited=failure.rate_limited if failure else 0,
            cached=False,
            prompt_tokens=0,
            completion_tokens=0,
            reasoning_tokens=0,
            total_tokens=0,
            reasoning_returned=False,
            unexpected_reasoning=False,
        )
    u = completion.usage
    returned = bool(completion.reasoning)
    return empty_call_record(
        **who,
        model=completion.model or llm.name,
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        reasoning_tokens=u.reasoning_tokens,
        total_tokens=u.total_tokens,
        latency_s=completion.latency_s,
        cached=completion.cached,
        valid=valid,
        error=error,
        fault=None,
        retries=completion.retries,
        rate_limited=completion.rate_limited,
        system_fingerprint=completion.system_fingerprint,
        cost_usd=completion.cost_usd,
        finish_reason=completion.finish_reason,
        reasoning_returned=returned,
        unexpected_reasoning=request.reasoning_effort is None
        and (u.reasoning_tokens > 0 or returned),
    )
