"""One rate limiter per endpoint, shared by every run of the process that calls it.

:class:`EndpointLimiter` holds the caps a provider sets on an account — requests in flight,
requests per minute (RPM), tokens per minute (TPM) — and what the server says as it
answers: a 429 with ``Retry-After`` pauses every call to the endpoint for that long and
halves the calls it lets in flight (they grow back by half a call per success, i.e. ~1.5x
per round trip, up to the cap); ``x-ratelimit-remaining-*`` that the calls in flight will
spend pauses new calls until ``x-ratelimit-reset-*``. Requests are admitted first come,
first served; RPM and TPM are honoured by spacing requests evenly (``60/rpm`` s apart, and
``60/tpm`` s per estimated token), never in bursts, so a sweep at the cap stays under a
server's own budget.

:class:`RateLimitedLLM` is the wrapper layer (between the backend and the retry layer, see
:mod:`parley.llm.factory`): every attempt, retries included, goes through the limiter.
Limiters live in a process-wide registry keyed by endpoint (base URL and model, the unit
providers count by); :func:`configure` sets the caps once per process (a sweep's workers
do it before their first run) and they never change a run's results, only its timing.

The limiter is loop-agnostic: runs stepped on separate event loops (one per run, or one
for many runs) share it; waiting calls are woken on their own loop.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

from parley.llm.interface import Completion, LanguageModel, LLMError, Request
from parley.llm.wrappers import LLMWrapper

#: Pause after a 429 that carries no Retry-After.
DEFAULT_BACKOFF_S = 1.0
#: Headers a server reports its remaining budget with (OpenAI's names; vLLM/Azure alike).
RATE_HEADERS = (
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
)
_CHARS_PER_TOKEN = 4

# Set by the backend as an answer arrives (see note_headers); read by RateLimitedLLM in the
# same task right after the call returns.
_HEADERS: ContextVar[dict[str, str] | None] = ContextVar("parley_rate_headers", default=None)


@dataclass(frozen=True)
class RateCaps:
    """Caps of one endpoint (None: no cap). They shape timing only, never answers."""

    max_inflight: int | None = None
    rpm: float | None = None
    tpm: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_inflight", "rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")

    def split(self, workers: int) -> RateCaps:
        """The share of each of ``workers`` processes, so that together they keep the caps."""
        if workers <= 1:
            return self
        inflight = None if self.max_inflight is None else max(1, self.max_inflight // workers)
        return RateCaps(
            inflight,
            None if self.rpm is None else self.rpm / workers,
            None if self.tpm is None else self.tpm / workers,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RateCaps:
        return cls(**json.loads(text)) if text else cls()


@dataclass
class LimiterStats:
    """What went through one endpoint's limiter (attempts, retries included)."""

    started: int = 0
    succeeded: int = 0
    failed: int = 0
    rate_limited: int = 0  # 429 answers
    tokens: int = 0
    inflight: int = 0
    waiting: int = 0
    paused_s: float = 0.0  # total time new calls were held by a server's pause
    window: float = math.inf  # calls currently allowed in flight (adaptive)


@dataclass
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[float]
    tokens: int


@dataclass
class EndpointLimiter:
    """Admits calls to one endpoint under its caps and the server's signals.

    Args:
        caps: the configured caps.
        clock: monotonic seconds (tests pass a fake one only for the pacing arithmetic).
    """

    caps: RateCaps = field(default_factory=RateCaps)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.stats = LimiterStats(window=float(self.caps.max_inflight or math.inf))
        self._lock = threading.Lock()
        self._queue: deque[_Waiter] = deque()
        self._next_request = 0.0  # earliest start of the next request (RPM pacing)
        self._next_token = 0.0  # earliest start by the token budget (TPM pacing)
        self._paused_until = 0.0
        self._timer_at = 0.0

    # -- admission -----------------------------------------------------------------------
    async def acquire(self, tokens: int) -> None:
        """Wait for a turn for a request of about ``tokens`` tokens (prompt + max output)."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop, loop.create_future(), tokens)
        with self._lock:
            self._queue.append(waiter)
            self.stats.waiting += 1
            self._pump()
        try:
            delay = await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._queue:
                    self._queue.remove(waiter)
                    self.stats.waiting -= 1
                elif waiter.future.done() and not waiter.future.cancelled():
                    self._release_slot()  # admitted just before the cancel: give it back
            raise
        if delay > 0:
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                with self._lock:
                    self._release_slot()
                raise

    def release(
        self,
        *,
        tokens_estimated: int,
        tokens_used: int | None,
        rate_limited: bool = False,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """End a call: free its slot and learn from the answer."""
        with self._lock:
            now = self.clock()
            s = self.stats
            inflight = s.inflight
            if tokens_used is None:
                s.failed += 1
            else:
                s.succeeded += 1
                s.tokens += tokens_used
                if self.caps.tpm:  # correct the estimate by what the call really used
                    self._next_token += (tokens_used - tokens_estimated) * 60.0 / self.caps.tpm
            if rate_limited:
                s.rate_limited += 1
                s.window = max(1.0, min(s.window, inflight) / 2)
                self._pause(now, DEFAULT_BACKOFF_S if retry_after is None else retry_after)
            elif tokens_used is not None and s.window < (self.caps.max_inflight or math.inf):
                s.window += 0.5
                if self.caps.max_inflight and s.window >= self.caps.max_inflight:
                    s.window = float(self.caps.max_inflight)
            if headers:
                self._read_headers(now, headers)
            self._release_slot()

    def _release_slot(self) -> None:
        self.stats.inflight -= 1
        self._pump()

    def _pause(self, now: float, seconds: float) -> None:
        until = now + max(0.0, seconds)
        if until > self._paused_until:
            self.stats.paused_s += until - max(now, self._paused_until)
            self._paused_until = until

    def _read_headers(self, now: float, headers: Mapping[str, str]) -> None:
        """Pause new calls until the reset when what the server says remains will be spent
        by the calls still in flight (one request each; the tokens of an average call so
        far), not only once it has reached zero: the calls admitted meanwhile would meet 429s.
        Called with the lock held, before this call's slot is freed."""
        s = self.stats
        others = max(0, s.inflight - 1)
        per_call = {"requests": 1.0, "tokens": s.tokens / s.succeeded if s.succeeded else 0.0}
        for kind, spend in per_call.items():
            remaining = _number(headers.get(f"x-ratelimit-remaining-{kind}"))
            reset = parse_reset(headers.get(f"x-ratelimit-reset-{kind}"))
            if remaining is not None and reset is not None and remaining <= others * spend:
                self._pause(now, reset)

    def _pump(self) -> None:
        """Admit waiting calls while there is room (called with the lock held)."""
        now = self.clock()
        s = self.stats
        if now < self._paused_until:
            self._wake_at(self._paused_until)
            return
        while self._queue and s.inflight + 1 <= max(1.0, s.window):
            waiter = self._queue.popleft()
            s.waiting -= 1
            if waiter.future.cancelled():
                continue
            s.inflight += 1
            s.started += 1
            start = self._reserve(now, waiter.tokens)
            try:
                waiter.loop.call_soon_threadsafe(self._resolve, waiter.future, start - now)
            except RuntimeError:  # its loop was closed under it: nobody waits any more
                s.inflight -= 1

    def _reserve(self, now: float, tokens: int) -> float:
        """The start time of the next request under RPM/TPM pacing; book its place."""
        start = max(now, self._next_request if self.caps.rpm else now)
        if self.caps.tpm:
            start = max(start, self._next_token)
            self._next_token = max(start, self._next_token) + tokens * 60.0 / self.caps.tpm
        if self.caps.rpm:
            self._next_request = start + 60.0 / self.caps.rpm
        return start

    def _resolve(self, future: asyncio.Future[float], delay: float) -> None:
        if future.cancelled():  # its caller left between admission and now
            with self._lock:
                self._release_slot()
            return
        future.set_result(delay)

    def _wake_at(self, when: float) -> None:
        """Pump again at ``when`` (one timer at a time, on a waiting call's loop)."""
        if not self._queue or self._timer_at >= when:
            return
        self._timer_at = when
        loop = self._queue[0].loop
        delay = max(0.0, when - self.clock())

        def arm() -> None:
            loop.call_later(delay, self._pump_locked)

        try:
            loop.call_soon_threadsafe(arm)
        except RuntimeError:  # that loop is closed: the next call or release pumps again
            self._timer_at = 0.0

    def _pump_locked(self) -> None:
        with self._lock:
            self._timer_at = 0.0
            self._pump()


class RateLimitedLLM(LLMWrapper):
    """Sends every call through the endpoint's shared :class:`EndpointLimiter`."""

    def __init__(self, inner: LanguageModel, limiter: EndpointLimiter) -> None:
        super().__init__(inner)
        self.limiter = limiter

    async def acomplete(self, request: Request) -> Completion:
        estimate = estimate_tokens((content for _, content in request.messages), request.max_tokens)
        await self.limiter.acquire(estimate)
        _HEADERS.set(None)
        try:
            done = await self.inner.acomplete(request)
        except LLMError as err:
            self.limiter.release(
                tokens_estimated=estimate,
                tokens_used=None,
                rate_limited=err.fault == "rate_limit",
                retry_after=err.retry_after,
                headers=_HEADERS.get(),
            )
            raise
        except BaseException:
            self.limiter.release(tokens_estimated=estimate, tokens_used=None)
            raise
        self.limiter.release(
            tokens_estimated=estimate,
            tokens_used=done.usage.total_tokens or estimate,
            headers=_HEADERS.get(),
        )
        return done


def note_headers(headers: Any) -> None:
    """Called by a backend with an answer's HTTP headers (success or error)."""
    if headers is None:
        return
    seen = {name: headers.get(name) for name in RATE_HEADERS}
    _HEADERS.set({k: v for k, v in seen.items() if v is not None} or None)


def estimate_tokens(texts: Any, max_tokens: int) -> int:
    """Tokens a request may use, as providers count them against TPM: prompt + max output."""
    return sum(len(t) for t in texts) // _CHARS_PER_TOKEN + max_tokens


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset(text: str | None) -> float | None:
    """Seconds of an ``x-ratelimit-reset-*`` value: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"0.5"``."""
    if not text:
        return None
    value = _number(text)
    if value is not None:
        return max(0.0, value)
    parts = _DURATION.findall(text.strip())
    if not parts:
        return None
    return sum(float(n) * _UNIT_S[unit] for n, unit in parts)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


# -- the process-wide registry -----------------------------------------------------------
_caps = RateCaps()
_limiters: dict[tuple[str, str], EndpointLimiter] = {}
_registry_lock = threading.Lock()


def configure(caps: RateCaps) -> None:
    """Set the caps of every endpoint of this process (limiters made after this use them)."""
    global _caps
    with _registry_lock:
        if caps != _caps:
            _caps = caps
            _limiters.clear()


def limiter_for(base_url: str | None, model: str) -> EndpointLimiter:
    """The process's one limiter of an endpoint (made on first use)."""
    key = (base_url or "https://api.openai.com/v1", model)
    with _registry_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = EndpointLimiter(_caps)
        return limiter


def all_stats() -> dict[tuple[str, str], LimiterStats]:
    """A snapshot of every limiter's counters (for progress displays)."""
    with _registry_lock:
        return {key: LimiterStats(**asdict(lim.stats)) for key, lim in _limiters.items()}


__all__ = [
    "EndpointLimiter",
    "LimiterStats",
    "RateCaps",
    "RateLimitedLLM",
    "all_stats",
    "configure",
    "estimate_tokens",
    "limiter_for",
    "note_headers",
    "parse_reset",
]
