"""Build a model's LLM from its plain parameters, wrappers stacked in one fixed order.

The order, innermost first, and why:

1. **backend** — ``openai`` (any compatible server) or ``embedded`` (llama.cpp, offline).
   An ``openai`` backend is shared by every run of the process with the same settings
   (one client and connection pool per endpoint and event loop).
1b. **rate limit** — ``openai`` only: the endpoint's one limiter of the process
   (:mod:`parley.llm.ratelimit`); every attempt, retries included, waits for its turn.
2. **retry** — retries only real calls; a replayed answer never reaches it.
3. **cache** — a hit returns before retry and backend; a recording stores the answer
   with the retries it took, so the replay is identical.
4. **usage** — sees every answer (billed or replayed) and prices it; counts them apart.
5. **budget** — outermost: it refuses a call before anything runs, and reads the cost the
   usage layer set.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from parley.llm.cache import DEFAULT_CACHE_PATH, CachedLLM
from parley.llm.choices import BACKENDS, default_model
from parley.llm.interface import CapabilityError, LanguageModel, Usage
from parley.llm.pricing import load_prices
from parley.llm.ratelimit import RateLimitedLLM, limiter_for
from parley.llm.wrappers import BudgetLLM, RetryingLLM, UsageLLM

# One OpenAIBackend per distinct settings in the process: runs stepped on one event loop
# share its client and connection pool (a backend keeps one client per loop).
_shared_backends: dict[tuple[Any, ...], Any] = {}
_shared_lock = threading.Lock()

# The client's own timeout bounds each HTTP request; this outer guard also bounds a server
# that trickles bytes (the client's timeout is per read, not per request).
TIMEOUT_SLACK_S = 1.0


def make_llm(params: Mapping[str, Any]) -> LanguageModel:
    """The wrapped LLM for a model's parameters (unknown keys are ignored).

    Keys: ``backend``, ``model``, ``base_url``, ``api_key_env``, ``timeout``,
    ``max_retries``, ``cache`` (off/record/replay/auto), ``cache_path``,
    ``max_tokens_total``, ``temperature`` (checked against what the model accepts);
    optional ``structured``, ``server``, ``reasoning`` (openai backend), ``max_calls``,
    ``max_cost_usd``, ``prices_path``, ``cache_own_run`` (the cache file is the run's own
    recording: see :class:`~parley.llm.cache.CachedLLM`).

    Raises:
        ValueError: an unknown backend, embedded model, cache mode or structured mode.
        CapabilityError: a setting the server or model refuses (a temperature a reasoning
            model does not accept, a structured mode the server does not speak) or a
            ``max_cost_usd`` for a model the price table does not list.
    """
    timeout = float(params.get("timeout") or 60.0)
    backend = make_backend(params)
    check = getattr(backend, "check_temperature", None)
    if check is not None:
        check(float(params.get("temperature", 0.8)))
    guard = timeout + TIMEOUT_SLACK_S if backend.backend == "openai" else None
    inner: LanguageModel = backend
    if backend.backend == "openai":
        endpoint = getattr(backend, "base_url", None)
        inner = RateLimitedLLM(backend, limiter_for(endpoint, backend.name))
    retries = params.get("max_retries")
    llm: LanguageModel = RetryingLLM(
        inner, max_retries=2 if retries is None else int(retries), timeout=guard
    )
    cache = params.get("cache") or "off"
    if cache != "off":
        path = params.get("cache_path") or DEFAULT_CACHE_PATH
        llm = CachedLLM(llm, path, cache, own_run=bool(params.get("cache_own_run")))
    prices = load_prices(params.get("prices_path"))
    llm = UsageLLM(llm, prices)
    tokens, calls, cost = (params.get(k) for k in ("max_tokens_total", "max_calls", "max_cost_usd"))
    if cost is not None and prices.cost(backend.name, backend.backend, Usage()) is None:
        raise CapabilityError(
            f"max_cost_usd needs a price for model {backend.name!r}, which the price table "
            "does not list (add it to parley/llm/pricing.toml or a prices_path file)"
        )
    if (tokens, calls, cost) != (None, None, None):
        llm = BudgetLLM(llm, max_tokens_total=tokens, max_calls=calls, max_cost_usd=cost)
    return llm


def make_backend(params: Mapping[str, Any]) -> LanguageModel:
    """The bare backend (no wrappers) for ``params``."""
    backend = params.get("backend") or "embedded"
    match backend:
        case "openai":
            from parley.llm.openai_backend import OpenAIBackend

            model = params.get("model")
            if not model:
                raise ValueError("backend 'openai' needs a model name (--model)")
            settings = (
                model,
                params.get("base_url"),
                params.get("api_key_env") or "OPENAI_API_KEY",
                float(params.get("timeout") or 60.0),
                params.get("structured"),
                params.get("server"),
                bool(params.get("reasoning", False)),
            )
            with _shared_lock:
                shared = _shared_backends.get(settings)
                if shared is None:
                    shared = _shared_backends[settings] = OpenAIBackend(
                        settings[0],
                        base_url=settings[1],
                        api_key_env=settings[2],
                        timeout=settings[3],
                        structured=settings[4],
                        server=settings[5],
                        reasoning=settings[6],
                    )
            return shared
        case "embedded":
            # Imported here: the openai path must not load the embedded machinery. EmbeddedLLM
            # rejects an unknown model name (qwen2.5-0.5b, qwen2.5-1.5b) with a ValueError and
            # loads llama-cpp-python and the weights only on its first call.
            from parley.llm.embedded import EmbeddedLLM

            return EmbeddedLLM(params.get("model") or default_model("embedded"))
        case _:
            raise ValueError(f"unknown backend '{backend}' (one of: {', '.join(BACKENDS)})")
