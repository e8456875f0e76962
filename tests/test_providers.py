"""Provider profiles: every condition means the same on every server, no failure passes as data.

Contract tests run every condition against every profile's emulator (the fake server
answering like that provider, :mod:`parley.llm.emulation`): the request is accepted and the
run valid, or, where the provider cannot honour the condition, the model refuses to start
with one line. Failure-mode tests make a server answer every call with HTTP 400, 429
``insufficient_quota`` or an empty reply cut by the token limit, and check that the call
raises a classified configuration fault instead of becoming a ``hold``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from parley.agents.factory import CONDITIONS
from parley.agents.llm_policy import LLMPolicy
from parley.agents.reflection import REASONING_BUDGET, SCAFFOLD_BUDGET, wrap
from parley.concurrency import run_sync
from parley.llm.emulation import Emulator
from parley.llm.exchange import ROOM_FACTOR
from parley.llm.factory import make_llm
from parley.llm.fake_replies import Reply, schema_of
from parley.llm.fake_server import FakeOpenAIServer
from parley.llm.interface import CONFIG_FAULTS, CapabilityError, LLMError, Request
from parley.llm.openai_backend import OpenAIBackend
from parley.llm.profiles import get_profile, infer_profile, plan, profile_names
from parley.llm.records import CALL_COLUMNS
from parley.model.model import NegotiationModel

# (profile, model, --reasoning): a model of each reasoning kind each profile knows.
CASES = [
    ("openai", "gpt-4.1", False),  # no reasoning mode
    ("openai", "gpt-5.2", False),  # reasoning that turns off (effort "none")
    ("openai", "gpt-5-mini", False),  # reasoning that cannot turn off ("minimal")
    ("deepseek", "deepseek-chat", False),
    ("deepseek", "deepseek-reasoner", False),
    ("deepseek", "deepseek-v4-flash", False),  # thinking switch
    ("gemini", "gemini-2.5-flash", False),
    ("gemini", "gemini-3.1-flash-lite", False),
    ("vllm", "Qwen/Qwen3-8B", True),
    ("vllm", "mystery-reasoner", True),  # no known switch
    ("ollama", "qwen3:8b", True),
    ("llamacpp", "qwen3-4b", True),
    ("generic", "fake-model", False),
    ("generic", "fake-reasoner", True),
]
PRIVATE = {
    "ledger": {
        "priority": "keep the lights on",
        "counterparts": "industry wants more",
        "concessions_given": "none",
        "concessions_received": "none",
        "acceptable_zone": "near the middle",
        "next_move_reason": "wait and see",
    },
    "memo": "Quiet day.",
    "diary": "Calm, a little tired.",
}


def holder(body: dict[str, Any]) -> str:
    """A valid hold with every private field any condition asks for, or a valid ruling for
    the authority (with or without a schema in the request: DeepSeek's JSON mode sends
    none)."""
    schema = schema_of(body) or {}
    system = str(body["messages"][0]["content"])
    if "ruling" in schema.get("properties", {}) or '{"ruling"' in system:
        values = (schema.get("properties", {}).get("value") or {}).get("enum")
        return json.dumps({"ruling": "Split the difference.", "value": (values or [60])[0]})
    reply: dict[str, Any] = dict(PRIVATE)
    for key in list(reply):
        if schema and key not in schema.get("properties", {}):
            del reply[key]
    reply.update(action="hold", value=None, target=None, message="We hold for now.")
    return json.dumps(reply)


@pytest.fixture(scope="module", params=profile_names())
def emulated(request: pytest.FixtureRequest) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(holder, emulate=request.param, hang_s=2.0) as server:
        server.profile = request.param  # type: ignore[attr-defined]
        yield server


def expected_refusal(
    profile: str, model: str, flagged: bool, condition: str, authority: str
) -> str | None:
    resolved = plan(get_profile(profile), model, flagged)
    if condition == "native" and not resolved.supports:
        return "needs a model with a reasoning mode"
    if (condition != "native" or authority == "llm") and resolved.refusal:
        return "cannot turn reasoning off"
    return None


def is_ruling(body: dict[str, Any]) -> bool:
    return '{"ruling"' in str(body["messages"][0]["content"])


@pytest.mark.parametrize("authority", ["rule", "llm"])
@pytest.mark.parametrize("condition", CONDITIONS)
def test_every_condition_on_every_profile_runs_valid_or_refuses_at_start(
    emulated, condition, authority
):
    for profile, model, flagged in (c for c in CASES if c[0] == emulated.profile):
        family = plan(get_profile(profile), model, flagged).family
        params = {
            "policy": "llm",
            "condition": condition,
            "backend": "openai",
            "model": model,
            "base_url": emulated.base_url,
            "server": profile,
            "reasoning": flagged,
            "max_rounds": 2,
            "authority": authority,
            "timeout": 5.0,
            "max_retries": 0,
            "temperature": family.temperature if family.temperature is not None else 0.8,
        }
        refusal = expected_refusal(profile, model, flagged, condition, authority)
        if refusal is not None:
            with pytest.raises(CapabilityError, match=refusal) as err:
                NegotiationModel(**params, rng=1)
            assert "\n" not in str(err.value)
            continue
        before = len(emulated.requests)
        model_ = NegotiationModel(**params, rng=1)
        model_.run()
        moves = model_.datacollector.get_table_dataframe("moves")
        calls = model_.datacollector.get_table_dataframe("calls")
        label = f"{profile}/{model}/{condition}"
        assert moves["valid"].all(), (label, moves["error"].tolist())
        assert calls["valid"].all(), (label, calls["error"].tolist())  # the ruling too
        assert (calls["purpose"] == "authority").sum() == (authority == "llm"), label
        assert not calls["repair"].any(), label
        assert (calls["finish_reason"] == "stop").all(), label
        assert (calls["profile"] == profile).all(), label
        assert not calls["unexpected_reasoning"].any(), label
        spec = get_profile(profile)
        sent = emulated.requests[before:]
        turns = [s for s in sent if not is_ruling(s)]
        assert turns and all(s.get(spec.token_param) for s in sent), label
        decides = calls[calls["purpose"] == "decide"]
        if condition == "native":
            # the reasoning budget comes on top of the action's
            budget = SCAFFOLD_BUDGET + REASONING_BUDGET
            assert all(s[spec.token_param] == budget for s in turns), label
            if spec.reasoning_tokens:
                assert (decides["reasoning_tokens"] > 0).all(), label
        else:
            assert (decides["reasoning_tokens"] == 0).all(), label
        # the authority rules with reasoning off in every condition
        assert (calls.loc[calls["purpose"] == "authority", "reasoning_tokens"] == 0).all(), label


def test_reasoning_that_cannot_turn_off_refuses_in_one_line():
    with pytest.raises(CapabilityError) as err:
        NegotiationModel(policy="llm", backend="openai", model="gpt-5-mini", temperature=1.0)
    assert str(err.value) == (
        "condition 'none' runs with reasoning off, but model 'gpt-5-mini' on openai cannot turn "
        "reasoning off: its lowest reasoning_effort is 'minimal', which still reasons"
    )


def test_a_reasoning_model_refuses_a_temperature_it_does_not_accept():
    with pytest.raises(CapabilityError, match="accepts only temperature 1; run it with"):
        NegotiationModel(policy="llm", backend="openai", model="gpt-5.2", temperature=0.8)


def test_the_llm_authority_refuses_a_model_that_always_reasons():
    with pytest.raises(CapabilityError, match="the LLM authority rules with reasoning off"):
        NegotiationModel(
            authority="llm",
            backend="openai",
            model="deepseek-reasoner",
            condition="native",
            policy="heuristic",
        )


@pytest.mark.parametrize(
    ("base_url", "model", "expected"),
    [
        (None, "gpt-4.1", "openai"),
        (None, "deepseek-chat", "deepseek"),
        (None, "gemini-2.5-flash", "gemini"),
        (None, "some-model", "openai"),
        ("https://api.deepseek.com", "anything", "deepseek"),
        ("https://generativelanguage.googleapis.com/v1beta/openai/", "x", "gemini"),
        ("https://api.openai.com/v1", "x", "openai"),
        ("http://127.0.0.1:8000/v1", "deepseek-chat", "generic"),  # a local server
    ],
)
def test_the_profile_is_inferred_from_the_url_or_an_unambiguous_model(base_url, model, expected):
    assert infer_profile(base_url, model) == expected


def test_a_provider_profile_supplies_its_own_endpoint():
    llm = OpenAIBackend("deepseek-chat")
    assert llm.profile == "deepseek" and llm.base_url == "https://api.deepseek.com"
    assert llm.structured == "json_object"
    with pytest.raises(CapabilityError, match="does not accept structured mode 'json_schema'"):
        OpenAIBackend("deepseek-chat", structured="json_schema")


def test_the_profile_is_recorded_with_every_call_and_in_the_manifest(tmp_path):
    from parley.cli import main

    with FakeOpenAIServer(holder, emulate="vllm") as server:
        argv = ["run", "--policy", "llm", "--backend", "openai", "--server", "vllm"]
        argv += ["--model", "Qwen/Qwen3-8B", "--base-url", server.base_url, "--max-rounds", "1"]
        argv += ["--quiet", "--out", str(tmp_path / "run")]
        assert main(argv) == 0
        sent = server.requests[0]
    assert sent["chat_template_kwargs"] == {"enable_thinking": False}
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["profile"] == "vllm"
    import pandas as pd

    calls = pd.read_parquet(tmp_path / "run" / "calls.parquet")
    assert list(calls.columns) == CALL_COLUMNS
    assert (calls["profile"] == "vllm").all()


# -- the emulators refuse what the providers refuse --------------------------------------
def ask(**knobs: Any) -> Request:
    knobs.setdefault("schema", {"type": "object", "properties": {"action": {"enum": ["hold"]}}})
    return Request.of([{"role": "user", "content": "Reply in JSON."}], **knobs)


def test_deepseek_refuses_json_schema_with_its_own_text():
    with FakeOpenAIServer(holder, emulate="deepseek") as server:
        llm = OpenAIBackend("deepseek-chat", base_url=server.base_url, server="generic")
        with pytest.raises(LLMError) as err:
            llm.complete(ask())
    assert err.value.fault == "unsupported" and err.value.fault in CONFIG_FAULTS
    assert "This response_format type is unavailable now" in str(err.value)


def test_deepseek_refuses_json_mode_without_the_word_json():
    emulator = Emulator("deepseek")
    body = {
        "model": "deepseek-chat",
        "messages": [{"role": "user", "content": "Your move?"}],
        "response_format": {"type": "json_object"},
    }
    status, error = emulator.refusal(body)  # type: ignore[misc]
    assert status == 400 and "must contain the word 'json'" in error["error"]["message"]


@pytest.mark.parametrize(
    ("model", "body", "text"),
    [
        ("gpt-5-mini", {"temperature": 0.8}, "Only the default (1) value is supported"),
        ("gpt-5.1", {"reasoning_effort": "minimal"}, "'minimal' is not supported"),
        ("gpt-5-mini", {"reasoning_effort": "none"}, "'none' is not supported"),
        ("gpt-5-mini", {"max_tokens": 10}, "Use 'max_completion_tokens' instead"),
        ("gpt-4.1", {"reasoning_effort": "low"}, "'reasoning_effort' is not supported"),
    ],
)
def test_openai_refusals_quote_openai(model, body, text):
    status, error = Emulator("openai").refusal({"model": model, "messages": [], **body})  # type: ignore[misc]
    assert status == 400 and text in error["error"]["message"]


def test_an_emulated_reasoning_model_starves_a_small_cap():
    emulator = Emulator("openai")
    body = {"model": "gpt-5-mini", "messages": [], "max_completion_tokens": 256}
    done = emulator.answer(body, '{"action": "hold"}', "gpt-5-mini")
    assert done["choices"][0]["finish_reason"] == "length"
    assert done["choices"][0]["message"]["content"] == ""
    assert done["usage"]["completion_tokens_details"]["reasoning_tokens"] == 256


# -- a failure is a failure --------------------------------------------------------------
def policy_on(server: FakeOpenAIServer, condition: str = "none", **params: Any) -> Any:
    llm = make_llm(
        {
            "backend": "openai",
            "model": "fake-model",
            "base_url": server.base_url,
            "timeout": 5.0,
            "max_retries": 2,
            **params,
        }
    )
    return wrap(LLMPolicy(llm), condition)


@pytest.fixture(name="obs")
def obs_fixture() -> Any:
    model = NegotiationModel(rng=3)
    agent = model.negotiators[0]
    return agent.observe()


@pytest.mark.parametrize(("fault", "kind"), [("bad_request", "bad_request"), ("quota", "quota")])
def test_a_configuration_fault_is_raised_at_once_never_a_hold(obs, fault, kind):
    with FakeOpenAIServer(holder) as server:
        server.fail(fault, times=10)
        with pytest.raises(LLMError) as err:
            run_sync(policy_on(server).adecide(obs))
        assert len(server.requests) == 1  # never retried
    assert err.value.fault == kind and kind in CONFIG_FAULTS
    assert "\n" not in str(err.value)
    assert err.value.calls and err.value.calls[-1]["fault"] == kind


def test_an_empty_reply_cut_by_the_limit_is_repaired_with_more_room_then_fails(obs):
    with FakeOpenAIServer(holder) as server:
        server.fail("length", times=10)
        with pytest.raises(LLMError) as err:
            run_sync(policy_on(server).adecide(obs))
        first, second = server.requests
    assert err.value.fault == "truncated" and "truncated" in CONFIG_FAULTS
    assert second["max_tokens"] == first["max_tokens"] * ROOM_FACTOR
    assert [c["finish_reason"] for c in err.value.calls] == ["length", "length"]


def test_a_reply_cut_once_and_repaired_with_more_room_is_a_valid_turn(obs):
    with FakeOpenAIServer(holder) as server:
        server.fail("length", times=1)
        decision = run_sync(policy_on(server).adecide(obs))
    assert decision.valid and decision.repaired
    assert [c["finish_reason"] for c in decision.calls] == ["length", "stop"]


def test_a_run_against_a_server_that_refuses_every_call_stops_with_the_fault():
    with FakeOpenAIServer(holder) as server:
        server.fail("bad_request", times=50)
        model = NegotiationModel(
            policy="llm", backend="openai", model="fake-model", base_url=server.base_url
        )
        with pytest.raises(LLMError, match=r"HTTP 400: Invalid 'messages\[0\].content'"):
            model.step()
    assert model.outcome is None


def test_the_server_says_whether_to_retry(obs):
    with FakeOpenAIServer(holder) as server:
        server.script(Reply(fault="server_error", headers=(("x-should-retry", "false"),)))
        decision = run_sync(policy_on(server).adecide(obs))
        assert len(server.requests) == 1 and not decision.valid  # not retried: an invalid turn
    with FakeOpenAIServer(holder) as server:
        server.script(Reply(fault="bad_request", headers=(("x-should-retry", "true"),)))
        decision = run_sync(policy_on(server).adecide(obs))
        assert len(server.requests) == 2 and decision.valid  # retried as the server asked


def test_reasoning_where_none_was_asked_for_is_counted(obs):
    with FakeOpenAIServer(holder) as server:
        server.script(Reply(reasoning="I should think about this."))
        decision = run_sync(policy_on(server).adecide(obs))
    (call,) = decision.calls
    assert call["reasoning_returned"] and call["unexpected_reasoning"]


def test_a_cost_cap_on_an_unpriced_model_refuses_to_start():
    with pytest.raises(CapabilityError, match="max_cost_usd needs a price for model 'mystery'"):
        make_llm({"backend": "openai", "model": "mystery", "max_cost_usd": 1.0})
    assert make_llm({"backend": "openai", "model": "gpt-4.1", "max_cost_usd": 1.0})


def test_unexpected_reasoning_is_counted_per_run_and_shown(capsys):
    from parley.cli import main
    from parley.experiments.records import run_summary

    with FakeOpenAIServer(holder) as server:
        server.script(*(Reply(reasoning="Thinking anyway.") for _ in range(3)))
        model = NegotiationModel(
            policy="llm", backend="openai", model="fake-model", base_url=server.base_url, rng=1
        )
        model.step()
        model.loop.close()  # the run is left unfinished: free its event loop and client now
        assert run_summary(model)["unexpected_reasoning_calls"] == 3
        assert run_summary(model)["profile"] == "generic"
        server.script(Reply(reasoning="Thinking anyway."))
        argv = ["run", "--backend", "openai", "--model", "fake-model", "--quiet"]
        # 1 of 5 turns reasoned under 'none': over the validity screen's 10%, the run is
        # invalid (exit 3, parley.validity), and the note says why.
        assert main([*argv, "--base-url", server.base_url, "--max-rounds", "1"]) == 3
    out, err = capsys.readouterr()
    assert "1 of 5 LLM calls asked for reasoning off but reported reasoning" in err
    assert out.startswith("Invalid run: reasoning turns: 1 of 5 reasoned under a condition")


def test_the_embedded_path_imports_no_openai_code():
    import subprocess
    import sys

    code = (
        "import sys; from parley.model.model import NegotiationModel; "
        "NegotiationModel(policy='llm', backend='embedded'); "
        "print(sorted(m for m in sys.modules if m == 'openai' or m.startswith('openai.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_reasoning_budget_flag_sets_native_room_on_top_of_the_action():
    from parley.cli import main

    with FakeOpenAIServer(holder, emulate="openai") as server:
        argv = ["run", "--backend", "openai", "--model", "o4-mini", "--server", "openai"]
        argv += ["--base-url", server.base_url, "--temperature", "1", "--condition", "native"]
        argv += ["--reasoning-budget", "1000", "--max-rounds", "1", "--quiet"]
        assert main(argv) == 0
        sent = server.requests[0]
    assert sent["max_completion_tokens"] == SCAFFOLD_BUDGET + 1000
    assert sent["reasoning_effort"] == "medium" and "temperature" not in sent


def test_an_openai_key_is_never_sent_to_another_provider():
    assert OpenAIBackend("deepseek-chat").api_key_env == "DEEPSEEK_API_KEY"
    assert OpenAIBackend("gemini-2.5-flash").api_key_env == "GEMINI_API_KEY"
    assert OpenAIBackend("deepseek-chat", api_key_env="MY_KEY").api_key_env == "MY_KEY"
    assert OpenAIBackend("gpt-4.1").api_key_env == "OPENAI_API_KEY"
