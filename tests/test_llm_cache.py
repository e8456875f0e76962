"""The SQLite record/replay cache: identical replays, modes, corrupt files, no key on disk."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import pytest
from llm_fixtures import (  # noqa: F401
    FAKE_KEY,
    KEY_ENV,
    SCHEMA,
    ask,
    fake_key_fixture,
    fake_server_fixture,
    files_containing,
)

from parley.llm.cache import CachedLLM, CacheStore, cache_key
from parley.llm.factory import make_llm
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.fakes import ScriptedLLM
from parley.llm.interface import LLMError
from parley.llm.wrappers import UsageLLM, find_layer

REQUESTS = [ask(seed=s, sample_index=i) for s in range(4) for i in range(2)]


def stack(server_url: str, path, mode: str):
    return make_llm(_params(server_url, path, mode))


def _params(server_url: str, path, mode: str) -> dict:
    return {
        "backend": "openai",
        "model": "fake-model",
        "base_url": server_url,
        "api_key_env": KEY_ENV,
        "cache": mode,
        "cache_path": str(path),
        "max_retries": 0,
        "timeout": 5,
    }


def test_record_then_replay_with_the_server_stopped_is_identical(tmp_path, fake_key):
    path = tmp_path / "cache.sqlite"
    with FakeOpenAIServer(reasoning=True) as server:
        url = server.base_url
        server.fail("server_error")  # one retried call: its retry count is replayed too
        live_llm = make_llm(
            {
                "backend": "openai",
                "model": "fake-model",
                "base_url": url,
                "reasoning": True,
                "cache": "record",
                "cache_path": str(path),
                "api_key_env": KEY_ENV,
            }
        )
        find_layer(live_llm, CachedLLM).inner.base_delay = 0.01
        live = [live_llm.complete(r) for r in [*REQUESTS, ask(reasoning_effort="low")]]
    replay_llm = stack(url, path, "replay")
    replayed = [replay_llm.complete(r) for r in [*REQUESTS, ask(reasoning_effort="low")]]
    assert [dataclasses.replace(c, cached=True) for c in live] == replayed
    assert all(c.cached for c in replayed) and not any(c.cached for c in live)
    assert live[0].retries == 1 == replayed[0].retries and replayed[-1].reasoning
    totals = find_layer(replay_llm, UsageLLM).totals
    assert (totals.billed_calls, totals.cached_calls) == (0, len(replayed))
    assert totals.cached_tokens > 0 and totals.cost_usd == 0


def test_a_replay_miss_is_a_clear_error_and_never_calls_the_server(tmp_path, fake_server):
    llm = stack(fake_server.base_url, tmp_path / "c.sqlite", "replay")
    with pytest.raises(LLMError) as caught:
        llm.complete(ask(seed=11, sample_index=2))
    message = str(caught.value)
    assert caught.value.fault == "cache_miss"
    assert "c.sqlite" in message and "seed 11" in message and "sample 2" in message
    assert fake_server.requests == []


def test_auto_mode_replays_what_it_has_and_records_the_rest(tmp_path, fake_server):
    llm = stack(fake_server.base_url, tmp_path / "c.sqlite", "auto")
    first = llm.complete(ask(seed=1))
    again = llm.complete(ask(seed=1))
    other = llm.complete(ask(seed=2))
    assert len(fake_server.requests) == 2
    assert not first.cached and again.cached and not other.cached
    assert dataclasses.replace(first, cached=True) == again
    assert find_layer(llm, CachedLLM).hits == 1


def test_a_run_resumed_from_its_own_recording_gets_its_answers_back_as_billed(
    tmp_path, fake_server
):
    """``cache_own_run``: the answers were paid for by this very run (a reopened room)."""
    path = tmp_path / "room.sqlite"
    first = stack(fake_server.base_url, path, "auto").complete(ask(seed=1))
    resumed = make_llm({**_params(fake_server.base_url, path, "auto"), "cache_own_run": True})
    again = resumed.complete(ask(seed=1))
    assert len(fake_server.requests) == 1  # not asked again
    assert again == first and not again.cached
    totals = find_layer(resumed, UsageLLM).totals
    assert (totals.billed_calls, totals.cached_calls) == (1, 0)


def test_record_mode_always_calls_and_overwrites(tmp_path, fake_server):
    path = tmp_path / "c.sqlite"
    llm = stack(fake_server.base_url, path, "record")
    fake_server.script(
        '{"action": "hold", "message": "old"}', '{"action": "hold", "message": "new"}'
    )
    llm.complete(ask(seed=1))
    llm.complete(ask(seed=1))
    assert len(fake_server.requests) == 2
    assert (
        stack(fake_server.base_url, path, "replay").complete(ask(seed=1)).parsed["message"] == "new"
    )
    assert len(CacheStore(path)) == 1


def test_failures_are_not_recorded(tmp_path, fake_server):
    path = tmp_path / "c.sqlite"
    fake_server.fail("auth")
    with pytest.raises(LLMError):
        stack(fake_server.base_url, path, "auto").complete(ask())
    assert len(CacheStore(path)) == 0


def test_every_request_field_and_the_model_take_part_in_the_key():
    base = ask(seed=1)
    variants = [
        dataclasses.replace(base, messages=(("user", "other"),)),
        dataclasses.replace(base, max_tokens=1024),
        dataclasses.replace(base, temperature=0.2),
        dataclasses.replace(base, seed=2),
        dataclasses.replace(base, schema={**SCHEMA, "required": ["action"]}),
        dataclasses.replace(base, reasoning_effort="low"),
        dataclasses.replace(base, sample_index=1),
    ]
    keys = {cache_key("m", "openai", r) for r in variants}
    keys |= {cache_key("m2", "openai", base), cache_key("m", "embedded", base)}
    assert len(keys) == len(variants) + 2
    assert cache_key("m", "openai", base) not in keys
    assert cache_key("m", "openai", base) == cache_key("m", "openai", ask(seed=1))


def test_a_backends_fixed_sampler_settings_take_part_in_the_key():
    """An answer sampled with another min_p is another answer; no settings, the old key."""
    base = ask(seed=1)
    plain = cache_key("m", "embedded", base)
    assert cache_key("m", "embedded", base, {}) == plain
    tight, loose = ({"min_p": p} for p in (0.2, 0.05))
    keys = {plain, cache_key("m", "embedded", base, tight), cache_key("m", "embedded", base, loose)}
    assert len(keys) == 3

    class Sampled(ScriptedLLM):
        sampling = tight

    assert CachedLLM(Sampled([]), mode="off").sampling == tight
    assert CachedLLM(ScriptedLLM([]), mode="off").sampling == {}


@pytest.mark.parametrize(
    "content", [b"this is not a database, it is a text file\n" * 50, b"\0" * 10]
)
def test_a_corrupt_cache_file_is_an_error_naming_the_file(tmp_path, fake_server, content):
    path = tmp_path / "broken.sqlite"
    path.write_bytes(content)
    with pytest.raises(LLMError) as caught:
        stack(fake_server.base_url, path, "auto")
    assert caught.value.fault == "cache_corrupt" and str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_api_key_is_never_written_to_the_cache(tmp_path, fake_server, fake_key):
    llm = stack(fake_server.base_url, tmp_path / "cache.sqlite", "record")
    for r in REQUESTS:
        llm.complete(r)
    fake_server.fail("auth")
    with pytest.raises(LLMError) as caught:
        llm.complete(ask(seed=99))
    assert FAKE_KEY not in str(caught.value)
    assert len(list(tmp_path.rglob("*"))) >= 1
    assert files_containing(tmp_path, FAKE_KEY) == []
    assert files_containing(tmp_path, "DO-NOT-LEAK") == []


def test_processes_can_share_one_cache_file(tmp_path):
    path = tmp_path / "shared.sqlite"
    script = textwrap.dedent(
        f"""
        import sys
        from parley.llm.cache import CacheStore
        from parley.llm.interface import Completion, Request
        store = CacheStore({str(path)!r})
        tag = sys.argv[1]
        for i in range(40):
            r = Request.of([{{"role": "user", "content": tag + str(i)}}])
            store.put(tag + str(i), "m", "openai", r, Completion(text=tag))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, tag]) for tag in ("a", "b", "c")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    store = CacheStore(path)
    assert len(store) == 120 and store.get("b7").text == "b"
