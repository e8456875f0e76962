"""The shape of one recorded LLM call (a row of the ``calls`` table)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from parley.llm.interface import Completion, LLMError

CALL_COLUMNS = [
    "round",
    "party",
    "condition",
    "purpose",  # decide | repair | authority
    "model",
    "backend",
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
]


def empty_call_record(**fields: object) -> dict[str, object]:
    """A call record with every column present (missing ones None)."""
    unknown = set(fields) - set(CALL_COLUMNS)
    if unknown:
        raise KeyError(f"unknown call record fields: {sorted(unknown)}")
    return {col: fields.get(col) for col in CALL_COLUMNS}


def call_record(
    completion: Completion | None,
    *,
    purpose: str,
    valid: bool,
    repair: bool,
    backend: str,
    model: str,
    error: str | None = None,
    failure: LLMError | None = None,
) -> dict[str, object]:
    """One ``calls`` row from a completion, or from a call that failed for good.

    ``round``, ``party`` and ``condition`` are filled in by the model when it records.
    """
    if completion is None:
        return empty_call_record(
            purpose=purpose,
            model=model,
            backend=backend,
            valid=False,
            repair=repair,
            error=error or (str(failure) if failure else None),
            fault=failure.fault if failure else None,
            retries=failure.retries if failure else 0,
            rate_limited=failure.rate_limited if failure else 0,
            cached=False,
            prompt_tokens=0,
            completion_tokens=0,
            reasoning_tokens=0,
            total_tokens=0,
        )
    u = completion.usage
    return empty_call_record(
        purpose=purpose,
        model=completion.model or model,
        backend=backend,
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        reasoning_tokens=u.reasoning_tokens,
        total_tokens=u.total_tokens,
        latency_s=completion.latency_s,
        cached=completion.cached,
        valid=valid,
        repair=repair,
        error=error,
        fault=None,
        retries=completion.retries,
        rate_limited=completion.rate_limited,
        system_fingerprint=completion.system_fingerprint,
        cost_usd=completion.cost_usd,
    )
