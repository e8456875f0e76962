"""The shape of one recorded LLM call (a row of the ``calls`` table)."""

from __future__ import annotations

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
    "system_fingerprint",
    "cost_usd",
]


def empty_call_record(**fields: object) -> dict[str, object]:
    """A call record with every column present (missing ones None)."""
    unknown = set(fields) - set(CALL_COLUMNS)
    if unknown:
        raise KeyError(f"unknown call record fields: {sorted(unknown)}")
    return {col: fields.get(col) for col in CALL_COLUMNS}
