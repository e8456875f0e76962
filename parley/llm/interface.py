"""The one small LLM interface every backend and wrapper implements.

A :class:`LanguageModel` takes chat messages and keyword-only knobs and returns a
:class:`Completion`: text, the parsed JSON object (if a schema was asked for), usage,
reasoning text and latency. Wrappers (retry, cache, usage accounting, budgets) implement
the same interface around another model, so they stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}
StructuredMode = Literal["json_schema", "json_object_schema", "json_object", "grammar", "text"]


class LLMError(RuntimeError):
    """A call that failed for good (after bounded retries); ``fault`` names the kind.

    ``retryable`` is the server's own word on retrying (the ``x-should-retry`` header), None
    when it said nothing; ``calls`` holds the call records of the exchange that raised it
    (set by :func:`parley.llm.exchange.exchange`), so a run that stops keeps them.
    """

    def __init__(
        self,
        message: str,
        fault: str = "error",
        retries: int = 0,
        retry_after: float | None = None,
        *,
        retryable: bool | None = None,
        rate_limited: int = 0,
    ) -> None:
        super().__init__(message)
        self.fault = fault
        self.retries = retries
        self.retry_after = retry_after  # seconds a server asked us to wait (Retry-After)
        self.retryable = retryable
        self.calls: list[dict[str, Any]] = []
        self.rate_limited = rate_limited  # attempts answered 429 (rate limit)


#: Faults worth retrying: they may pass by themselves (429 rate limit, 5xx, a timeout, a
#: dropped connection, an empty body from a proxy that died mid-answer).
TRANSIENT_FAULTS = frozenset({"rate_limit", "server_error", "timeout", "connection", "empty"})

#: Faults no retry and no later turn can cure: the run itself is misconfigured. ``auth``
#: (401/403), ``not_found`` (404: model or endpoint), ``bad_request`` (400),
#: ``unsupported`` (a parameter or value the model refuses), ``context_length`` (the prompt
#: does not fit), ``quota`` (429 ``insufficient_quota``: no credit), ``truncated`` (replies
#: cut by the token limit even after a repair with more room), ``cache_miss`` and
#: ``cache_corrupt`` (a replay that cannot be served). Policies and the authority let these
#: propagate, so the run stops with one clear error instead of finishing as a string of
#: invalid turns that looks like data.
CONFIG_FAULTS = frozenset(
    {
        "auth",
        "not_found",
        "bad_request",
        "unsupported",
        "context_length",
        "quota",
        "truncated",
        "cache_miss",
        "cache_corrupt",
    }
)


class CapabilityError(ValueError):
    """A setting the backend or model cannot honour (e.g. ``native`` without reasoning)."""


class BudgetExceeded(RuntimeError):
    """A budget cap was reached; the run stops cleanly with this reason."""


@dataclass(frozen=True)
class Usage:
    """Token counts of one call (reasoning tokens are part of completion tokens)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    """The result of one call."""

    text: str
    parsed: dict[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)
    reasoning: str | None = None
    latency_s: float = 0.0
    model: str = ""
    system_fingerprint: str | None = None
    cached: bool = False
    retries: int = 0
    rate_limited: int = 0  # attempts of this call answered 429 (rate limit) before it
    finish_reason: str | None = None
    cost_usd: float | None = None  # set by the usage-accounting wrapper from the price table


@dataclass(frozen=True)
class Request:
    """Everything that determines a call's answer (the cache key is built from it)."""

    messages: tuple[tuple[str, str], ...]
    max_tokens: int = 256
    temperature: float = 0.8
    seed: int | None = None
    schema: dict[str, Any] | None = None
    reasoning_effort: str | None = None
    sample_index: int = 0

    @classmethod
    def of(cls, messages: list[Message], **knobs: Any) -> Request:
        return cls(messages=tuple((m["role"], m["content"]) for m in messages), **knobs)

    def chat(self) -> list[Message]:
        return [{"role": r, "content": c} for r, c in self.messages]


@runtime_checkable
class LanguageModel(Protocol):
    """A chat model. ``name`` identifies it in records and cache keys.

    A backend whose calls must not overlap (one in-process model with state carried from
    call to call, like the embedded one) sets ``serialize_calls = True``; wrappers forward
    it, and a model reads it through :func:`serializes_calls` (absent means False).
    """

    name: str
    backend: str
    supports_reasoning: bool

    async def acomplete(self, request: Request) -> Completion: ...

    def complete(self, request: Request) -> Completion: ...


def serializes_calls(llm: object) -> bool:
    """Whether ``llm`` (a backend or a wrapper stack) must get its calls one at a time."""
    return bool(getattr(llm, "serialize_calls", False))
