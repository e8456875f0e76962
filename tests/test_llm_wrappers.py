"""Retry, usage accounting, budgets and the factory's stack, against the fake server."""

from __future__ import annotations

import asyncio
import time
import warnings

import pytest
from llm_fixtures import FAKE_KEY, KEY_ENV, ask, backend, fake_key_fixture, fake_server_fixture  # noqa: F401

from parley.concurrency import gather_bounded, run_sync
from parley.llm.cache import CachedLLM
from parley.llm.factory import make_llm
from parley.llm.interface import BudgetExceeded, LLMError, Usage
from parley.llm.openai_backend import OpenAIBackend
from parley.llm.pricing import Price, PriceTable, load_prices
from parley.llm.ratelimit import RateLimitedLLM
from parley.llm.wrappers import BudgetLLM, RetryingLLM, UsageLLM, find_layer


def fast_retry(inner, **kwargs):
    kwargs.setdefault("base_delay", 0.01)
    kwargs.setdefault("max_delay", 0.05)
    return RetryingLLM(inner, **kwargs)


@pytest.mark.parametrize(
    "fault", ["rate_limit", "server_error", "unavailable", "reset", "empty_body"]
)
def test_transient_faults_are_retried_a_bounded_number_of_times(fake_server, fault):
    fake_server.fail(fault, times=10)
    with pytest.raises(LLMError) as caught:
        fast_retry(backend(fake_server), max_retries=2).complete(ask())
    assert len(fake_server.requests) == 3
    assert caught.value.retries == 2


def test_a_retried_success_counts_its_retries(fake_server):
    fake_server.fail("server_error", times=2)
    done = fast_retry(backend(fake_server), max_retries=3).complete(ask())
    assert done.retries == 2 and done.parsed is not None
    assert len(fake_server.requests) == 3


@pytest.mark.parametrize("fault", ["auth"])
def test_final_faults_are_not_retried(fake_server, fault):
    fake_server.fail(fault, times=5)
    with pytest.raises(LLMError) as caught:
        fast_retry(backend(fake_server), max_retries=4).complete(ask())
    assert len(fake_server.requests) == 1 and caught.value.retries == 0


def test_zero_retries_makes_one_attempt(fake_server):
    fake_server.fail("server_error")
    with pytest.raises(LLMError):
        fast_retry(backend(fake_server), max_retries=0).complete(ask())
    assert len(fake_server.requests) == 1


def test_retry_after_is_honoured(fake_server):
    fake_server.fail("rate_limit", retry_after=0.4)
    start = time.perf_counter()
    done = fast_retry(backend(fake_server), max_retries=1).complete(ask())
    assert time.perf_counter() - start >= 0.4 and done.retries == 1


def test_retry_after_is_capped(fake_server):
    fake_server.fail("rate_limit", retry_after=120)
    start = time.perf_counter()
    fast_retry(backend(fake_server), max_retries=1, max_retry_after=0.2).complete(ask())
    assert time.perf_counter() - start < 3


def test_a_hang_returns_within_the_timeout_times_the_attempts(fake_server):
    fake_server.fail("hang", times=3)
    timeout, retries = 0.5, 1
    start = time.perf_counter()
    with pytest.raises(LLMError) as caught:
        fast_retry(backend(fake_server, timeout=timeout), max_retries=retries).complete(ask())
    assert time.perf_counter() - start < timeout * (retries + 1) + 1.5
    assert caught.value.fault == "timeout" and len(fake_server.requests) == 2


def test_the_retry_timeout_guards_an_inner_model_without_one(fake_server):
    fake_server.fail("hang")
    slow = backend(fake_server, timeout=30)
    start = time.perf_counter()
    with pytest.raises(LLMError, match="within 0.3 s") as caught:
        fast_retry(slow, max_retries=0, timeout=0.3).complete(ask())
    assert caught.value.fault == "timeout" and time.perf_counter() - start < 2


def test_backoff_is_exponential_capped_and_seeded(fake_server):
    one = RetryingLLM(backend(fake_server), base_delay=1, max_delay=4, seed=7)
    two = RetryingLLM(backend(fake_server), base_delay=1, max_delay=4, seed=7)
    delays = [one.delay(a) for a in range(5)]
    assert delays == [two.delay(a) for a in range(5)]
    for attempt, d in enumerate(delays):
        ceiling = min(4, 2**attempt)
        assert ceiling / 2 <= d <= ceiling
    with pytest.raises(ValueError, match="max_retries"):
        RetryingLLM(backend(fake_server), max_retries=-1)


def test_usage_prices_calls_from_the_table_and_keeps_totals(fake_server):
    prices = PriceTable({"fake-": Price(input=1.0, output=3.0)})
    llm = UsageLLM(backend(fake_server), prices)
    first, second = llm.complete(ask(seed=1)), llm.complete(ask(seed=2))
    for done in (first, second):
        u = done.usage
        assert done.cost_usd == pytest.approx((u.prompt_tokens + 3 * u.completion_tokens) / 1e6)
    t = llm.totals
    assert (t.billed_calls, t.cached_calls, t.calls) == (2, 0, 2)
    assert t.prompt_tokens == first.usage.prompt_tokens + second.usage.prompt_tokens
    assert t.cost_usd == pytest.approx(first.cost_usd + second.cost_usd)
    assert t.latency_s > 0 and t.as_dict()["calls"] == 2


def test_usage_counts_failures_and_unpriced_models(fake_server):
    llm = UsageLLM(backend(fake_server), PriceTable({}))
    assert llm.complete(ask()).cost_usd is None
    fake_server.fail("auth")
    with pytest.raises(LLMError):
        llm.complete(ask())
    assert (llm.totals.unpriced_calls, llm.totals.failed_calls) == (1, 1)


def test_the_shipped_price_table_matches_the_longest_prefix(tmp_path):
    table = load_prices()
    assert table.price("gpt-4o-mini-2024-07-18") == table.models["gpt-4o-mini"]
    assert table.price("gpt-4o-2024-08-06") == table.models["gpt-4o"]
    assert table.price("my-local-model") is None
    assert table.cost("anything", "embedded", Usage(10, 10)) == 0.0
    own = tmp_path / "prices.toml"
    own.write_text('[models."m"]\ninput = 2\noutput = 4\n')
    assert load_prices(own).cost("m-1", "openai", Usage(1_000_000, 500_000)) == 4.0
    own.write_text('[models."m"]\ninput = "cheap"\n')
    with pytest.raises(ValueError, match="needs numeric 'input' and 'output'"):
        load_prices(own)
    with pytest.raises(ValueError, match="cannot read price table"):
        load_prices(tmp_path / "missing.toml")


def test_budget_stops_calls_once_the_call_cap_is_reached(fake_server):
    llm = BudgetLLM(backend(fake_server), max_calls=2)
    llm.complete(ask())
    llm.complete(ask())
    with pytest.raises(BudgetExceeded, match="call budget reached: 2 of 2"):
        llm.complete(ask())
    assert len(fake_server.requests) == 2


def test_budget_stops_calls_once_the_token_cap_is_reached(fake_server):
    llm = BudgetLLM(backend(fake_server), max_tokens_total=20)
    done = llm.complete(ask())
    assert done.usage.total_tokens >= 20
    with pytest.raises(BudgetExceeded, match="token budget reached"):
        llm.complete(ask())
    assert len(fake_server.requests) == 1


def test_budget_cost_cap_reads_the_usage_layer(fake_server):
    priced = UsageLLM(backend(fake_server), PriceTable({"fake": Price(1e3, 1e3)}))
    llm = BudgetLLM(priced, max_cost_usd=0.01)
    llm.complete(ask())
    with pytest.raises(BudgetExceeded, match="cost budget reached"):
        llm.complete(ask())


def test_make_llm_stacks_the_layers_in_order(fake_server, tmp_path):
    llm = make_llm(
        {
            "backend": "openai",
            "model": "fake-model",
            "base_url": fake_server.base_url,
            "cache": "auto",
            "cache_path": str(tmp_path / "c.sqlite"),
            "max_tokens_total": 1000,
            "scenario": "ignored",
        }
    )
    layers = []
    while llm is not None:
        layers.append(type(llm))
        llm = getattr(llm, "inner", None)
    assert layers == [BudgetLLM, UsageLLM, CachedLLM, RetryingLLM, RateLimitedLLM, OpenAIBackend]


def test_make_llm_without_cache_or_caps_and_find_layer(fake_server):
    llm = make_llm({"backend": "openai", "model": "fake-model", "base_url": fake_server.base_url})
    assert isinstance(llm, UsageLLM) and find_layer(llm, CachedLLM) is None
    assert find_layer(llm, RetryingLLM).max_retries == 2
    assert llm.complete(ask()).parsed is not None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"backend": "gemini"}, "unknown backend 'gemini' (one of: embedded, openai)"),
        ({"backend": "embedded", "model": "llama-70b"}, "unknown embedded model 'llama-70b'"),
        ({"backend": "openai", "model": "m", "cache": "sometimes"}, "unknown cache mode"),
        ({"backend": "openai", "model": ""}, "needs a model name"),
    ],
)
def test_make_llm_rejects_bad_parameters_in_one_line(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        make_llm(params)
    assert "\n" not in str(e.value)


def test_an_unreachable_base_url_surfaces_as_a_connection_error(fake_key):
    url = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there
    llm = make_llm(
        {
            "backend": "openai",
            "model": "m",
            "base_url": url,
            "max_retries": 1,
            "api_key_env": KEY_ENV,
        }
    )
    with pytest.raises(LLMError) as caught:
        llm.complete(ask())
    assert caught.value.fault == "connection" and caught.value.retries == 1
    assert url in str(caught.value) and FAKE_KEY not in str(caught.value)


def test_concurrent_calls_through_the_whole_stack_overlap(tmp_path):
    from parley.llm.fake_server import FakeOpenAIServer

    with FakeOpenAIServer(latency_s=0.3) as server:
        llm = make_llm(
            {
                "backend": "openai",
                "model": "fake-model",
                "base_url": server.base_url,
                "cache": "record",
                "cache_path": str(tmp_path / "c.sqlite"),
                "max_tokens_total": 10_000,
            }
        )
        start = time.perf_counter()
        done = run_sync(gather_bounded([llm.acomplete(ask(seed=i)) for i in range(5)], 5))
        elapsed = time.perf_counter() - start
    assert len(done) == 5 and elapsed < 0.3 * 2.5
    assert find_layer(llm, UsageLLM).totals.billed_calls == 5


def test_gathered_calls_stop_at_the_first_failure():
    """A fault cancels the calls still running and closes those still queued (no coroutine
    left un-awaited) and is raised as itself."""
    cancelled = []

    async def slow() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append("slow")
            raise
        return "late"

    async def fails() -> str:
        await asyncio.sleep(0)
        raise ValueError("400: unsupported parameter")

    async def never() -> str:  # queued behind the limit of 2: never started
        return "never"

    async def round_() -> None:
        queued = never()
        with pytest.raises(ValueError, match="unsupported parameter"):
            await gather_bounded([slow(), fails(), queued], 2)
        # at once, not when the loop is torn down
        assert cancelled == ["slow"]
        assert queued.cr_frame is None  # closed, not left pending

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        asyncio.run(round_())
