"""Wrappers of the LLM interface: bounded retries, usage accounting, budget caps.

Each wrapper is a :class:`~parley.llm.interface.LanguageModel` around another one, so they
stack; :func:`parley.llm.factory.make_llm` stacks them in one fixed order
(backend -> retry -> cache -> usage -> budget). ``inner`` reaches the wrapped model and
:func:`find_layer` finds a layer (e.g. the :class:`UsageLLM` holding the totals).
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import asdict, dataclass, replace
from typing import Any

from parley.concurrency import run_sync
from parley.llm.interface import (
    TRANSIENT_FAULTS,
    BudgetExceeded,
    Completion,
    LanguageModel,
    LLMError,
    Request,
    serializes_calls,
)
from parley.llm.pricing import PriceTable, load_prices


class LLMWrapper:
    """Shared plumbing: identity of the inner model and the sync face."""

    def __init__(self, inner: LanguageModel) -> None:
        self.inner = inner
        self.name = inner.name
        self.backend = inner.backend
        self.supports_reasoning = inner.supports_reasoning
        # Optional faces of a backend (a provider profile's name; why reasoning cannot be
        # turned off; the sampler settings it fixes beyond the request, such as the embedded
        # model's min_p): absent where they do not apply.
        self.profile: str = getattr(inner, "profile", inner.backend)
        self.reasoning_refusal: str | None = getattr(inner, "reasoning_refusal", None)
        self.sampling: dict[str, float] = dict(getattr(inner, "sampling", {}))
        self.serialize_calls = serializes_calls(inner)

    async def acomplete(self, request: Request) -> Completion:
        return await self.inner.acomplete(request)

    def complete(self, request: Request) -> Completion:
        """Sync call through the async path (one code path for both faces)."""
        return run_sync(self.acomplete(request))


def find_layer[W](llm: Any, cls: type[W]) -> W | None:
    """The first layer of a wrapper stack that is a ``cls``, or None."""
    while llm is not None:
        if isinstance(llm, cls):
            return llm
        llm = getattr(llm, "inner", None)
    return None


class RetryingLLM(LLMWrapper):
    """Retries transient faults (429, 5xx, timeouts, connection) a bounded number of times.

    A configuration fault (400, 401/403/404, ``insufficient_quota``...) is raised at once;
    a server's ``x-should-retry`` header overrides either way (see :func:`retryable`).
    The delay doubles from ``base_delay`` up to ``max_delay`` with "equal jitter" drawn from
    a seeded generator; a server's ``Retry-After`` is honoured up to ``max_retry_after``.
    Other faults are raised at once. ``retries`` on the result (or the final
    :class:`LLMError`) counts the retries made.

    Args:
        inner: the model to call.
        max_retries: retries after the first attempt (0: none).
        base_delay: seconds before the first retry (before jitter).
        max_delay: cap of the exponential delay.
        timeout: seconds per attempt (None: rely on the inner model's own timeout).
        max_retry_after: cap of a server-requested wait.
        seed: seed of the jitter.
    """

    def __init__(
        self,
        inner: LanguageModel,
        max_retries: int = 2,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        timeout: float | None = None,
        *,
        max_retry_after: float = 30.0,
        seed: int = 0,
    ) -> None:
        super().__init__(inner)
        if max_retries < 0:
            raise ValueError(f"max_retries must be at least 0, got {max_retries}")
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.max_retry_after = max_retry_after
        self._rng = random.Random(seed)

    async def acomplete(self, request: Request) -> Completion:
        limited = 0  # attempts answered 429, for the calls table
        for attempt in range(self.max_retries + 1):
            try:
                done = await self._attempt(request)
            except LLMError as err:
                limited += err.fault == "rate_limit"
                if not retryable(err) or attempt == self.max_retries:
                    final = LLMError(
                        str(err),
                        err.fault,
                        attempt,
                        err.retry_after,
                        retryable=err.retryable,
                        rate_limited=limited,
                    )
                    raise final from err
                await asyncio.sleep(self.delay(attempt, err.retry_after))
                continue
            if not attempt:
                return done
            return replace(
                done, retries=done.retries + attempt, rate_limited=done.rate_limited + limited
            )
        raise AssertionError("unreachable: the last attempt returns or raises")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    async def _attempt(self, request: Request) -> Completion:
        if self.timeout is None:
            return await self.inner.acomplete(request)
        try:
            return await asyncio.wait_for(self.inner.acomplete(request), self.timeout)
        except TimeoutError:
            raise LLMError(
                f"no answer from {self.name} within {self.timeout:g} s", fault="timeout"
            ) from None


def retryable(err: LLMError) -> bool:
    """Whether to retry ``err``: the server's ``x-should-retry`` if it sent one, else its kind."""
    if err.retryable is not None:
        return err.retryable
    return err.fault in TRANSIENT_FAULTS


@dataclass
class UsageTotals:
    """Running totals of a model's calls; ``cached`` calls are counted apart from billed."""

    billed_calls: int = 0
    cached_calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0  # billed
    completion_tokens: int = 0  # billed, reasoning included
    reasoning_tokens: int = 0  # billed
    cached_tokens: int = 0  # served from the cache, not billed
    cost_usd: float = 0.0  # billed; calls of unknown price add nothing
    unpriced_calls: int = 0
    latency_s: float = 0.0  # of billed calls
    retries: int = 0

    @property
    def calls(self) -> int:
        return self.billed_calls + self.cached_calls

    def as_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "calls": self.calls}


class UsageLLM(LLMWrapper):
    """Sets ``cost_usd`` from the price table and keeps :class:`UsageTotals`.

    A replayed call gets the same ``cost_usd`` as when it was recorded (so a replayed run
    is identical), but it is added to the cached totals, not the billed ones.
    """

    def __init__(self, inner: LanguageModel, prices: PriceTable | None = None) -> None:
        super().__init__(inner)
        self.prices = prices if prices is not None else load_prices()
        self.totals = UsageTotals()
        self._lock = threading.Lock()

    async def acomplete(self, request: Request) -> Completion:
        try:
            done = await self.inner.acomplete(request)
        except LLMError:
            with self._lock:
                self.totals.failed_calls += 1
            raise
        cost = self.prices.cost(done.model or self.name, self.backend, done.usage)
        done = replace(done, cost_usd=cost)
        self._add(done)
        return done

    def _add(self, done: Completion) -> None:
        t, u = self.totals, done.usage
        with self._lock:
            if done.cached:
                t.cached_calls += 1
                t.cached_tokens += u.total_tokens
                return
            t.billed_calls += 1
            t.prompt_tokens += u.prompt_tokens
            t.completion_tokens += u.completion_tokens
            t.reasoning_tokens += u.reasoning_tokens
            t.latency_s += done.latency_s
            t.retries += done.retries
            if done.cost_usd is None:
                t.unpriced_calls += 1
            else:
                t.cost_usd += done.cost_usd


class BudgetLLM(LLMWrapper):
    """Refuses calls with :class:`BudgetExceeded` once a cap is reached.

    Token and call caps count replayed calls too (``count_cached``), so a replayed run stops
    exactly where the recorded run stopped; the cost cap counts money actually spent.

    Args:
        inner: the model to call.
        max_tokens_total: cap on prompt + completion tokens.
        max_calls: cap on calls.
        max_cost_usd: cap on billed cost. A billed call of unknown price stops the run
            (:class:`BudgetExceeded`): a cap that cannot be kept is not treated as free;
            :func:`parley.llm.factory.make_llm` refuses an unpriced model before any call.
        count_cached: count replayed calls towards the token and call caps.
    """

    def __init__(
        self,
        inner: LanguageModel,
        max_tokens_total: int | None = None,
        max_calls: int | None = None,
        max_cost_usd: float | None = None,
        *,
        count_cached: bool = True,
    ) -> None:
        super().__init__(inner)
        for label, cap in [("max_tokens_total", max_tokens_total), ("max_calls", max_calls)]:
            if cap is not None and cap < 1:
                raise ValueError(f"{label} must be at least 1, got {cap}")
        self.max_tokens_total = max_tokens_total
        self.max_calls = max_calls
        self.max_cost_usd = max_cost_usd
        self.count_cached = count_cached
        self.tokens = 0
        self.calls = 0
        self.cost_usd = 0.0
        self.unpriced: str | None = None
        self._lock = threading.Lock()

    def exceeded(self) -> str | None:
        """Why no further call is allowed, or None."""
        if self.unpriced is not None:
            return f"cost budget cannot be kept: {self.unpriced} (add it to the price table)"
        if self.max_tokens_total is not None and self.tokens >= self.max_tokens_total:
            return f"token budget reached: {self.tokens} of {self.max_tokens_total} tokens used"
        if self.max_calls is not None and self.calls >= self.max_calls:
            return f"call budget reached: {self.calls} of {self.max_calls} calls made"
        if self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd:
            return f"cost budget reached: ${self.cost_usd:.4f} of ${self.max_cost_usd:.4f} spent"
        return None

    async def acomplete(self, request: Request) -> Completion:
        reason = self.exceeded()
        if reason is not None:
            raise BudgetExceeded(reason)
        done = await self.inner.acomplete(request)
        with self._lock:
            if self.count_cached or not done.cached:
                self.tokens += done.usage.total_tokens
                self.calls += 1
            if not done.cached:
                self.cost_usd += done.cost_usd or 0.0
                if done.cost_usd is None and self.max_cost_usd is not None:
                    self.unpriced = f"model {done.model or self.name!r} has no price"
        return done
