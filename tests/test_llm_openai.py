"""The OpenAI-compatible backend, through the real ``openai`` client and the fake server."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest
from llm_fixtures import (  # noqa: F401
    FAKE_KEY,
    KEY_ENV,
    SCHEMA,
    ask,
    backend,
    fake_key_fixture,
    fake_server_fixture,
)

from parley.concurrency import gather_bounded, run_sync
from parley.grammar import InvalidAction, TableView, parse_action, validate_action
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.interface import CapabilityError, LanguageModel, LLMError
from parley.llm.openai_backend import OpenAIBackend

VIEW = TableView(lo=20, hi=120, me="risk", positions={"risk": 45, "desk": 110}, standing=80)


def test_backend_is_a_language_model(fake_server):
    llm = backend(fake_server)
    assert isinstance(llm, LanguageModel)
    assert llm.name == "fake-model" and llm.backend == "openai" and not llm.supports_reasoning


def test_a_call_returns_text_parsed_usage_and_sends_the_knobs(fake_server):
    done = backend(fake_server).complete(ask("Hello", max_tokens=99, temperature=0.3, seed=4))
    sent = fake_server.requests[-1]
    assert sent["messages"] == [{"role": "user", "content": "Hello"}]
    assert (sent["max_tokens"], sent["temperature"], sent["seed"]) == (99, 0.3, 4)
    assert done.parsed == json.loads(done.text)
    assert parse_action(done.parsed).kind in {"hold", "propose"}
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
    assert done.system_fingerprint == "fp_parley_fake" and done.latency_s > 0
    assert not done.cached and done.retries == 0


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("json_schema", {"type": "json_schema"}),
        ("json_object_schema", {"type": "json_object", "schema": SCHEMA}),
        ("json_object", {"type": "json_object"}),
    ],
)
def test_structured_modes_send_their_response_format(fake_server, mode, expected):
    backend(fake_server, structured=mode).complete(ask())
    sent = fake_server.requests[-1]["response_format"]
    assert sent == sent | expected
    if mode == "json_schema":
        assert sent["json_schema"]["schema"] == SCHEMA
    if mode == "json_object":
        assert "schema" not in sent


def test_server_kinds_pick_their_default_mode(fake_server):
    assert backend(fake_server).structured == "json_schema"  # a generic compatible server
    assert backend(fake_server, server="llamacpp").structured == "json_object_schema"
    assert backend(fake_server, server="ollama").structured == "json_schema"
    assert OpenAIBackend("gpt-4o-mini").structured == "json_schema"
    with pytest.raises(ValueError, match="unknown structured mode 'xml'"):
        backend(fake_server, structured="xml")


def test_grammar_mode_sends_a_gbnf_grammar(fake_server):
    pytest.importorskip("llama_cpp", reason="the GBNF converter comes with llama-cpp-python")
    backend(fake_server, structured="grammar").complete(ask())
    sent = fake_server.requests[-1]
    assert "response_format" not in sent and "propose" in sent["grammar"]


def test_text_mode_extracts_json_from_prose(fake_server):
    fake_server.script('Sure.\n```json\n{"action": "hold", "message": "wait"}\n```')
    done = backend(fake_server, structured="text").complete(ask())
    assert "response_format" not in fake_server.requests[-1]
    assert done.parsed == {"action": "hold", "message": "wait"}


def test_openai_profile_uses_max_completion_tokens_and_its_reasoning_switch(fake_server):
    llm = OpenAIBackend("gpt-5.2", base_url=fake_server.base_url, server="openai", timeout=5)
    llm.complete(ask(max_tokens=50))
    llm.complete(ask(max_tokens=50, reasoning_effort="high"))
    plain, reasoning = fake_server.requests
    assert plain["max_completion_tokens"] == 50 and "max_tokens" not in plain
    assert plain["reasoning_effort"] == "none" and reasoning["reasoning_effort"] == "high"
    # a reasoning model accepts only its default temperature: never sent, checked up front
    assert "temperature" not in plain and "temperature" not in reasoning
    llm.check_temperature(1.0)
    with pytest.raises(CapabilityError, match="accepts only temperature 1"):
        llm.check_temperature(0.8)


def test_a_non_reasoning_openai_model_sends_temperature_and_no_effort(fake_server):
    llm = OpenAIBackend("gpt-4.1", base_url=fake_server.base_url, server="openai", timeout=5)
    llm.complete(ask(temperature=0.3))
    sent = fake_server.requests[-1]
    assert sent["temperature"] == 0.3 and "reasoning_effort" not in sent
    assert not llm.supports_reasoning and llm.reasoning_refusal is None


def test_reasoning_effort_is_sent_only_when_asked():
    with FakeOpenAIServer(reasoning=True) as server:
        llm = backend(server, reasoning=True)
        plain = llm.complete(ask())
        native = llm.complete(ask(reasoning_effort="medium"))
        assert "reasoning_effort" not in server.requests[0]
        assert server.requests[1]["reasoning_effort"] == "medium"
    assert plain.reasoning is None and plain.usage.reasoning_tokens == 0
    assert native.reasoning and native.usage.reasoning_tokens > 0
    assert native.usage.completion_tokens > native.usage.reasoning_tokens


def test_reasoning_effort_without_a_reasoning_mode_is_a_capability_error(fake_server):
    with pytest.raises(CapabilityError, match="no reasoning mode"):
        backend(fake_server).complete(ask(reasoning_effort="low"))
    assert fake_server.requests == []


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("rate_limit", "rate_limit"),
        ("server_error", "server_error"),
        ("unavailable", "server_error"),
        ("reset", "connection"),
        ("hang", "timeout"),
        ("empty_body", "empty"),
        ("auth", "auth"),
    ],
)
def test_http_faults_map_to_llm_error_kinds(fake_server, fake_key, fault, kind):
    fake_server.fail(fault)
    with pytest.raises(LLMError) as caught:
        backend(fake_server, timeout=0.5).complete(ask())
    assert caught.value.fault == kind
    assert fake_server.base_url in str(caught.value)
    assert FAKE_KEY not in str(caught.value) and "DO-NOT-LEAK" not in str(caught.value)


def test_retry_after_is_read_from_the_response(fake_server):
    fake_server.fail("rate_limit", retry_after=7)
    with pytest.raises(LLMError) as caught:
        backend(fake_server).complete(ask())
    assert caught.value.retry_after == 7


def test_content_faults_give_completions_the_grammar_rejects(fake_server):
    llm = backend(fake_server)
    fake_server.fail("truncated_json")
    assert llm.complete(ask()).parsed is None
    for fault in ("wrong_shape", "bad_action"):
        fake_server.fail(fault)
        with pytest.raises(InvalidAction):
            parse_action(llm.complete(ask()).parsed)
    fake_server.fail("out_of_range")
    with pytest.raises(InvalidAction, match="outside the issue's range"):
        validate_action(parse_action(llm.complete(ask()).parsed), VIEW)
    fake_server.fail("reasoning_only")
    only = llm.complete(ask())
    assert only.text == "" and only.parsed is None and only.reasoning
    assert only.finish_reason == "stop"  # a model that answered only in its reasoning
    fake_server.fail("length")
    cut = llm.complete(ask())
    assert cut.text == "" and cut.finish_reason == "length"  # cut by the token limit


def test_an_unreachable_server_is_a_connection_error_naming_the_url(fake_key):
    server = FakeOpenAIServer().start()
    url = server.base_url
    server.stop()
    llm = OpenAIBackend("m", base_url=url, api_key_env=KEY_ENV, timeout=2)
    with pytest.raises(LLMError) as caught:
        llm.complete(ask())
    assert caught.value.fault == "connection" and url in str(caught.value)
    assert FAKE_KEY not in str(caught.value) and FAKE_KEY not in repr(llm)


def test_concurrent_calls_overlap_and_keep_submission_order():
    def slower_for_early_seeds(body):
        time.sleep(0.1 * (4 - body["seed"]))  # the first submitted call finishes last
        return json.dumps({"n": body["seed"]})

    with FakeOpenAIServer(slower_for_early_seeds, latency_s=0.3) as server:
        llm = backend(server)

        async def five():
            return await gather_bounded([llm.acomplete(ask(seed=i)) for i in range(5)], 5)

        elapsed, results = asyncio.run(asyncio.wait_for(_timed(five()), 10))
    assert [r.parsed["n"] for r in results] == [0, 1, 2, 3, 4]
    assert [r.latency_s for r in results] == sorted((r.latency_s for r in results), reverse=True)
    assert elapsed < 1.2  # sequential would take 5 * 0.3 + 1.0 = 2.5 s


async def _timed(coro):
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await coro
    return loop.time() - start, result


def test_sync_calls_work_inside_a_running_loop_and_across_fresh_loops(fake_server):
    llm = backend(fake_server)

    async def inside():
        return llm.complete(ask(seed=1))  # run_sync moves to a helper thread

    first = asyncio.run(inside())
    second = run_sync(llm.acomplete(ask(seed=1)))
    third = llm.complete(ask(seed=1))
    assert first.text == second.text == third.text
    assert len(fake_server.requests) == 3


def test_models_endpoint_lists_the_model(fake_server):
    with urllib.request.urlopen(f"{fake_server.base_url}/models", timeout=5) as reply:
        listing = json.load(reply)
    assert [m["id"] for m in listing["data"]] == ["fake-model"]


def test_default_responder_is_deterministic_from_the_seed(fake_server):
    llm = backend(fake_server)
    by_seed = {seed: llm.complete(ask(seed=seed)).text for seed in range(8)}
    again = {seed: llm.complete(ask(seed=seed)).text for seed in range(8)}
    assert by_seed == again
    kinds = {parse_action(json.loads(t)).kind for t in by_seed.values()}
    assert kinds == {"hold", "propose"}
    assert json.loads(llm.complete(ask()).text)["action"] == "hold"  # no seed: hold
